"""Conversations between club chats and staff (`talks`) and the pairs of message ids that route a
staff reply back to the right chat (`relay_messages`), whatever the user's forward privacy."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace

from storage.db import Connection, Database

NOW = "strftime('%Y-%m-%dT%H:%M:%SZ','now')"


@dataclass(frozen=True)
class Talk:
    id: int
    chat_id: int | None
    user_id: int | None
    club_id: int | None
    verified: bool
    lang: str
    status: str
    header_message_id: int | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Talk:
        return cls(
            id=row["id"],
            chat_id=row["chat_id"],
            user_id=row["user_id"],
            club_id=row["club_id"],
            verified=bool(row["verified"]),
            lang=row["lang"],
            status=row["status"],
            header_message_id=row["header_message_id"],
        )


@dataclass(frozen=True)
class RelayTarget:
    """Where a staff-group message leads: the club chat, and the message there to reply to."""

    club_chat_id: int
    club_message_id: int | None
    kind: str
    talk_id: int | None
    escalation_id: int | None


async def open_talk(
    db: Database,
    *,
    chat_id: int,
    user_id: int,
    club_id: int | None,
    verified: bool,
    lang: str,
) -> tuple[Talk, bool]:
    """The chat's open conversation, or a new one; the flag is True when it was just opened."""
    async with db.transaction() as conn:
        async with conn.execute(
            "SELECT * FROM talks WHERE chat_id = ? AND status = 'open'", (chat_id,)
        ) as cursor:
            row = await cursor.fetchone()
        if row is not None and row["club_id"] == club_id and bool(row["verified"]) == verified:
            await conn.execute("UPDATE talks SET lang = ? WHERE id = ?", (lang, row["id"]))
            return replace(Talk.from_row(row), lang=lang), False
        if row is not None:  # another club, or now verified: a new conversation
            await conn.execute(
                f"UPDATE talks SET status = 'closed', closed_at = {NOW}, closed_by = ?"
                " WHERE id = ?",
                (f"chat:{chat_id}", row["id"]),
            )
        cursor = await conn.execute(
            "INSERT INTO talks (chat_id, user_id, club_id, verified, lang) VALUES (?, ?, ?, ?, ?)",
            (chat_id, user_id, club_id, int(verified), lang),
        )
        talk_id = cursor.lastrowid
        async with conn.execute("SELECT * FROM talks WHERE id = ?", (talk_id,)) as cursor:
            return Talk.from_row(await cursor.fetchone()), True


async def get_talk(db: Database, talk_id: int) -> Talk | None:
    row = await db.fetchone("SELECT * FROM talks WHERE id = ?", (talk_id,))
    return Talk.from_row(row) if row else None


async def get_talk_in(conn: Connection, talk_id: int) -> Talk | None:
    async with conn.execute("SELECT * FROM talks WHERE id = ?", (talk_id,)) as cursor:
        row = await cursor.fetchone()
    return Talk.from_row(row) if row else None


async def open_talk_of_chat(db: Database, chat_id: int) -> Talk | None:
    row = await db.fetchone("SELECT * FROM talks WHERE chat_id = ? AND status = 'open'", (chat_id,))
    return Talk.from_row(row) if row else None


async def latest_open_talk_of_club(db: Database, club_id: int) -> Talk | None:
    """The club's most recently opened conversation with a verified contact, still open (a plain
    answer in its topic); a locked-out stranger's help conversation is answered by reply only."""
    row = await db.fetchone(
        "SELECT * FROM talks WHERE club_id = ? AND status = 'open' AND chat_id IS NOT NULL"
        " AND verified = 1"
        " ORDER BY id DESC LIMIT 1",
        (club_id,),
    )
    return Talk.from_row(row) if row else None


async def count_open_talks_of_club(db: Database, club_id: int) -> int:
    return await db.fetchval(
        "SELECT count(*) FROM talks WHERE club_id = ? AND status = 'open'", (club_id,)
    )


async def set_language(conn: Connection, chat_id: int, lang: str) -> None:
    """The chat's language (/language) on its open conversation."""
    await conn.execute(
        "UPDATE talks SET lang = ? WHERE chat_id = ? AND status = 'open'", (lang, chat_id)
    )


async def set_header(db: Database, talk_id: int, message_id: int) -> None:
    await db.execute("UPDATE talks SET header_message_id = ? WHERE id = ?", (message_id, talk_id))


async def close_talk(conn: Connection, talk_id: int, closed_by: str) -> bool:
    """open → closed, once; False when it was already closed."""
    cursor = await conn.execute(
        f"UPDATE talks SET status = 'closed', closed_at = {NOW}, closed_by = ?"
        " WHERE id = ? AND status = 'open'",
        (closed_by, talk_id),
    )
    return cursor.rowcount == 1


async def count_open_talks(db: Database) -> int:
    return await db.fetchval("SELECT count(*) FROM talks WHERE status = 'open'")


async def add_pair(
    db: Database,
    *,
    staff_chat_id: int,
    staff_message_id: int,
    club_chat_id: int,
    club_message_id: int | None,
    kind: str,
    talk_id: int | None = None,
    escalation_id: int | None = None,
) -> None:
    await db.execute(
        "INSERT INTO relay_messages (staff_chat_id, staff_message_id, club_chat_id,"
        " club_message_id, kind, talk_id, escalation_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (staff_chat_id, staff_message_id) DO NOTHING",
        (
            staff_chat_id,
            staff_message_id,
            club_chat_id,
            club_message_id,
            kind,
            talk_id,
            escalation_id,
        ),
    )


async def target_of(db: Database, staff_chat_id: int, staff_message_id: int) -> RelayTarget | None:
    row = await db.fetchone(
        "SELECT * FROM relay_messages WHERE staff_chat_id = ? AND staff_message_id = ?",
        (staff_chat_id, staff_message_id),
    )
    if row is None:
        return None
    return RelayTarget(
        club_chat_id=row["club_chat_id"],
        club_message_id=row["club_message_id"],
        kind=row["kind"],
        talk_id=row["talk_id"],
        escalation_id=row["escalation_id"],
    )


async def staff_message_for(db: Database, club_chat_id: int, club_message_id: int) -> int | None:
    """The staff-group message standing for a club chat message (to thread the club's replies)."""
    return await db.fetchval(
        "SELECT staff_message_id FROM relay_messages WHERE club_chat_id = ?"
        " AND club_message_id = ? ORDER BY created_at DESC LIMIT 1",
        (club_chat_id, club_message_id),
    )


async def forget_chat(conn: Connection, chat_id: int) -> dict[str, int]:
    """Remove the chat's relayed-message pairs and detach its conversations from it."""
    async with conn.execute(
        "SELECT count(*) FROM relay_messages WHERE club_chat_id = ? AND kind IN ('club', 'staff')",
        (chat_id,),
    ) as cursor:
        pairs = (await cursor.fetchone())[0]  # the messages exchanged (not headers and cards)
    await conn.execute("DELETE FROM relay_messages WHERE club_chat_id = ?", (chat_id,))
    await conn.execute(
        f"UPDATE talks SET status = 'closed', closed_at = coalesce(closed_at, {NOW}),"
        " closed_by = coalesce(closed_by, 'chat:forgotten') WHERE chat_id = ?",
        (chat_id,),
    )
    await conn.execute(
        "UPDATE talks SET closed_by = 'chat:forgotten' WHERE closed_by = ?", (f"chat:{chat_id}",)
    )
    cursor = await conn.execute(
        "UPDATE talks SET chat_id = NULL, user_id = NULL WHERE chat_id = ?", (chat_id,)
    )
    return {"messages": pairs, "talks": cursor.rowcount}


async def staff_copies_of_chat(conn: Connection, chat_id: int) -> list[tuple[int, int, str]]:
    """(staff chat id, message id, kind) of the staff group's messages that carry the chat's
    words or name: its relayed messages and the headers of its conversations."""
    async with conn.execute(
        "SELECT staff_chat_id, staff_message_id, kind FROM relay_messages"
        " WHERE club_chat_id = ? AND kind IN ('club', 'header') ORDER BY staff_message_id",
        (chat_id,),
    ) as cursor:
        return [tuple(row) for row in await cursor.fetchall()]
