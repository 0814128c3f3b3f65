"""Verified contacts: the Telegram chats that proved they read one of a club's registered addresses.

A chat may be the contact of several clubs; `active` drops to 0 when the chat blocks the bot."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from storage.db import Connection, Database


@dataclass(frozen=True)
class Contact:
    club_id: int
    chat_id: int
    user_id: int
    display_name: str | None
    language: str
    email_kind: str
    reminders_on: bool
    active: bool
    verified_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Contact:
        return cls(
            club_id=row["club_id"],
            chat_id=row["chat_id"],
            user_id=row["user_id"],
            display_name=row["display_name"],
            language=row["language"],
            email_kind=row["email_kind"],
            reminders_on=bool(row["reminders_on"]),
            active=bool(row["active"]),
            verified_at=row["verified_at"],
        )


async def upsert(
    conn: Connection,
    *,
    club_id: int,
    chat_id: int,
    user_id: int,
    display_name: str | None,
    language: str,
    email_kind: str,
    verified_at: str,
) -> None:
    await conn.execute(
        "INSERT INTO contacts (club_id, chat_id, user_id, display_name, language, email_kind,"
        " verified_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (club_id, chat_id) DO UPDATE SET user_id = excluded.user_id,"
        " display_name = excluded.display_name, language = excluded.language,"
        " email_kind = excluded.email_kind, verified_at = excluded.verified_at, active = 1",
        (club_id, chat_id, user_id, display_name, language, email_kind, verified_at),
    )


async def get(db: Database, club_id: int, chat_id: int) -> Contact | None:
    row = await db.fetchone(
        "SELECT * FROM contacts WHERE club_id = ? AND chat_id = ?", (club_id, chat_id)
    )
    return Contact.from_row(row) if row else None


async def for_chat(db: Database, chat_id: int) -> list[Contact]:
    rows = await db.fetchall(
        "SELECT * FROM contacts WHERE chat_id = ? ORDER BY verified_at DESC", (chat_id,)
    )
    return [Contact.from_row(row) for row in rows]


async def for_club(db: Database, club_id: int, *, active_only: bool = True) -> list[Contact]:
    sql = "SELECT * FROM contacts WHERE club_id = ?" + (" AND active = 1" if active_only else "")
    rows = await db.fetchall(sql + " ORDER BY verified_at", (club_id,))
    return [Contact.from_row(row) for row in rows]


async def set_language(conn: Connection, chat_id: int, language: str) -> None:
    """The chat's language (/language) on its contact links and on the revocation notices it
    has not been told yet."""
    await conn.execute("UPDATE contacts SET language = ? WHERE chat_id = ?", (language, chat_id))
    await conn.execute(
        "UPDATE contact_revocations SET language = ? WHERE chat_id = ? AND told_at IS NULL",
        (language, chat_id),
    )


async def language_of_chat(db: Database, chat_id: int) -> str | None:
    """The chat's language as its contact links hold it now (/language sets it on all of them);
    None when the chat is no club's contact."""
    return await db.fetchval(
        "SELECT language FROM contacts WHERE chat_id = ? ORDER BY verified_at DESC LIMIT 1",
        (chat_id,),
    )


async def set_reminders(db: Database, club_id: int, chat_id: int, on: bool) -> None:
    await db.execute(
        "UPDATE contacts SET reminders_on = ? WHERE club_id = ? AND chat_id = ?",
        (int(on), club_id, chat_id),
    )


async def set_active(db: Database, chat_id: int, active: bool) -> None:
    await db.execute("UPDATE contacts SET active = ? WHERE chat_id = ?", (int(active), chat_id))


async def delete_for_chat(conn: Connection, chat_id: int) -> list[Contact]:
    """Remove every link of this chat, inside the caller's transaction; returns what was removed."""
    async with conn.execute("SELECT * FROM contacts WHERE chat_id = ?", (chat_id,)) as cursor:
        removed = [Contact.from_row(row) for row in await cursor.fetchall()]
    await conn.execute("DELETE FROM contacts WHERE chat_id = ?", (chat_id,))
    return removed


# --- revocations (migration 013: the triggers revoke on an address change) -------------------


@dataclass(frozen=True)
class Revocation:
    id: int
    club_id: int
    chat_id: int
    language: str
    email_kind: str
    reason: str


async def revoke(conn: Connection, club_id: int, chat_id: int) -> Contact | None:
    """Staff revoke one contact: the link goes, a notice for the chat stays until told."""
    async with conn.execute(
        "DELETE FROM contacts WHERE club_id = ? AND chat_id = ? RETURNING *", (club_id, chat_id)
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return None
    contact = Contact.from_row(row)
    await conn.execute(
        "INSERT INTO contact_revocations (club_id, chat_id, language, email_kind, reason)"
        " VALUES (?, ?, ?, ?, 'staff')",
        (club_id, chat_id, contact.language, contact.email_kind),
    )
    return contact


async def untold_revocations(db: Database, limit: int = 100) -> list[Revocation]:
    rows = await db.fetchall(
        "SELECT id, club_id, chat_id, language, email_kind, reason FROM contact_revocations"
        " WHERE told_at IS NULL ORDER BY id LIMIT ?",
        (limit,),
    )
    return [Revocation(*tuple(row)) for row in rows]


async def mark_told(db: Database, revocation_id: int) -> None:
    """Told (or unreachable for good): the chat id is not kept any longer."""
    await db.execute(
        "UPDATE contact_revocations SET told_at = strftime('%Y-%m-%dT%H:%M:%SZ','now'),"
        " chat_id = NULL WHERE id = ?",
        (revocation_id,),
    )


async def forget_revocations(conn: Connection, chat_id: int) -> None:
    await conn.execute("DELETE FROM contact_revocations WHERE chat_id = ?", (chat_id,))
