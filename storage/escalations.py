"""Queries on escalations (requests to staff) and on the refusals waiting for their reason.

Every status change is one guarded UPDATE (`… WHERE status IN (…)`): of two staff members pressing
at once, exactly one changes the row; the caller learns which from the returned row count."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass

from storage.db import Connection, Database

LIVE = ("open", "taken")
NOW = "strftime('%Y-%m-%dT%H:%M:%SZ','now')"


@dataclass(frozen=True)
class Escalation:
    id: int
    club_id: int
    chat_id: int | None
    user_id: int | None
    requester: str | None
    lang: str
    kind: str  # "password_reset" or "email_update"
    email_field: str | None  # "structure_email" or "contact_email"
    new_email: str | None
    fee: str  # "free", "due", "paid"
    invoice_id: int | None
    status: str  # "open", "taken", "done", "refused"
    taken_by: int | None
    taken_by_name: str | None
    closed_by: int | None
    closed_by_name: str | None
    refusal_reason: str | None
    card_chat_id: int | None
    card_message_id: int | None
    created_at: str
    updated_at: str
    old_email: str | None = None  # for a done e-mail change: the address it replaced

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Escalation:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    @property
    def live(self) -> bool:
        return self.status in LIVE

    def as_audit(self) -> dict:
        """What the audit trail keeps of it (no chat ids: those are the contact's)."""
        data = asdict(self)
        for key in ("chat_id", "user_id", "requester", "card_chat_id", "card_message_id"):
            data.pop(key)
        return data


async def _one(conn: Connection, sql: str, params) -> sqlite3.Row | None:
    async with conn.execute(sql, params) as cursor:
        return await cursor.fetchone()


async def insert(
    conn: Connection,
    *,
    club_id: int,
    chat_id: int,
    user_id: int,
    requester: str | None,
    lang: str,
    kind: str,
    email_field: str | None,
    new_email: str | None,
    fee: str,
    invoice_id: int | None,
) -> int | None:
    """A new live request, or None when the club already has one on that subject."""
    cursor = await conn.execute(
        "INSERT INTO escalations (club_id, chat_id, user_id, requester, lang, kind, email_field,"
        " new_email, fee, invoice_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (club_id, chat_id, user_id, requester, lang, kind, email_field, new_email, fee, invoice_id),
    )
    return cursor.lastrowid if cursor.rowcount == 1 else None


async def find_live(
    db_or_conn, club_id: int, kind: str, email_field: str | None
) -> Escalation | None:
    sql = (
        "SELECT * FROM escalations WHERE club_id = ? AND kind = ?"
        " AND coalesce(email_field, '') = ? AND status IN ('open', 'taken')"
    )
    params = (club_id, kind, email_field or "")
    if isinstance(db_or_conn, Database):
        row = await db_or_conn.fetchone(sql, params)
    else:
        row = await _one(db_or_conn, sql, params)
    return Escalation.from_row(row) if row else None


async def get(db_or_conn, escalation_id: int) -> Escalation | None:
    sql, params = "SELECT * FROM escalations WHERE id = ?", (escalation_id,)
    if isinstance(db_or_conn, Database):
        row = await db_or_conn.fetchone(sql, params)
    else:
        row = await _one(db_or_conn, sql, params)
    return Escalation.from_row(row) if row else None


async def set_language(conn: Connection, chat_id: int, lang: str) -> None:
    """The chat's language (/language) on its requests, for the updates still to come."""
    await conn.execute("UPDATE escalations SET lang = ? WHERE chat_id = ?", (lang, chat_id))


async def set_card(
    db: Database, escalation_id: int, chat_id: int, message_id: int, digest: str | None = None
) -> None:
    await db.execute(
        "UPDATE escalations SET card_chat_id = ?, card_message_id = ?, card_digest = ?"
        " WHERE id = ?",
        (chat_id, message_id, digest, escalation_id),
    )


async def card_digest(db: Database, escalation_id: int) -> str | None:
    """What the card shows now (see bot.escalations.refresh_card)."""
    return await db.fetchval("SELECT card_digest FROM escalations WHERE id = ?", (escalation_id,))


async def set_card_digest(db: Database, escalation_id: int, digest: str) -> None:
    await db.execute("UPDATE escalations SET card_digest = ? WHERE id = ?", (digest, escalation_id))


async def set_invoice(db: Database, escalation_id: int, invoice_id: int) -> None:
    await db.execute(
        "UPDATE escalations SET invoice_id = ? WHERE id = ?", (invoice_id, escalation_id)
    )


async def mark_paid(conn: Connection, escalation_id: int) -> bool:
    cursor = await conn.execute(
        f"UPDATE escalations SET fee = 'paid', updated_at = {NOW} WHERE id = ? AND fee = 'due'",
        (escalation_id,),
    )
    return cursor.rowcount == 1


async def take(conn: Connection, escalation_id: int, staff_id: int, name: str) -> bool:
    cursor = await conn.execute(
        f"UPDATE escalations SET status = 'taken', taken_by = ?, taken_by_name = ?,"
        f" updated_at = {NOW} WHERE id = ? AND status = 'open'",
        (staff_id, name, escalation_id),
    )
    return cursor.rowcount == 1


async def finish(
    conn: Connection,
    escalation_id: int,
    staff_id: int,
    name: str,
    *,
    status: str,
    reason: str | None = None,
) -> bool:
    """open/taken → done (only once the fee is not due) or refused."""
    if status not in ("done", "refused"):
        raise ValueError(status)
    fee_guard = " AND fee != 'due'" if status == "done" else ""
    cursor = await conn.execute(
        f"UPDATE escalations SET status = ?, closed_by = ?, closed_by_name = ?,"
        f" refusal_reason = ?, updated_at = {NOW}"
        f" WHERE id = ? AND status IN ('open', 'taken'){fee_guard}",
        (status, staff_id, name, reason, escalation_id),
    )
    # A request whose requester used /forget kept the personal address only until staff act.
    await conn.execute(
        "UPDATE escalations SET new_email = 'forgotten@invalid' WHERE id = ? AND chat_id IS NULL"
        " AND requester IS NULL AND new_email IS NOT NULL AND status IN ('done', 'refused')",
        (escalation_id,),
    )
    return cursor.rowcount == 1


async def set_old_email(conn: Connection, escalation_id: int, email: str) -> None:
    """Keep the address a done e-mail change replaced (the record now holds the new one)."""
    await conn.execute("UPDATE escalations SET old_email = ? WHERE id = ?", (email, escalation_id))


async def live(db: Database, limit: int = 50) -> list[Escalation]:
    rows = await db.fetchall(
        "SELECT * FROM escalations WHERE status IN ('open', 'taken') ORDER BY id LIMIT ?", (limit,)
    )
    return [Escalation.from_row(row) for row in rows]


async def without_card(db: Database, limit: int = 50) -> list[Escalation]:
    """Live requests whose staff card Telegram has not taken yet (oldest first)."""
    rows = await db.fetchall(
        "SELECT * FROM escalations WHERE status IN ('open', 'taken') AND card_message_id IS NULL"
        " ORDER BY id LIMIT ?",
        (limit,),
    )
    return [Escalation.from_row(row) for row in rows]


async def live_for_club(db: Database, club_id: int) -> list[Escalation]:
    rows = await db.fetchall(
        "SELECT * FROM escalations WHERE club_id = ? AND status IN ('open', 'taken') ORDER BY id",
        (club_id,),
    )
    return [Escalation.from_row(row) for row in rows]


async def count_by_status(db: Database) -> dict[str, int]:
    rows = await db.fetchall("SELECT status, count(*) AS n FROM escalations GROUP BY status")
    counts = {status: 0 for status in ("open", "taken", "done", "refused")}
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


async def ids_of_chat(conn: Connection, chat_id: int) -> list[int]:
    async with conn.execute("SELECT id FROM escalations WHERE chat_id = ?", (chat_id,)) as cursor:
        return [row[0] for row in await cursor.fetchall()]


async def forget_chat(conn: Connection, chat_id: int) -> int:
    """The chat asked to be forgotten: requests stay (they concern the club), without the person."""
    # The personal address a closed request asked for goes too ('forgotten@invalid': RFC 2606's
    # reserved name keeps the table's checks); a live one keeps it until staff act on it.
    await conn.execute(
        "UPDATE escalations SET new_email = 'forgotten@invalid'"
        " WHERE chat_id = ? AND new_email IS NOT NULL AND status NOT IN ('open', 'taken')",
        (chat_id,),
    )
    cursor = await conn.execute(
        "UPDATE escalations SET chat_id = NULL, user_id = NULL, requester = NULL WHERE chat_id = ?",
        (chat_id,),
    )
    return cursor.rowcount


# --- refusals waiting for their reason -------------------------------------------------------


async def set_pending_refusal(
    conn: Connection,
    *,
    staff_user_id: int,
    chat_id: int,
    escalation_id: int,
    prompt_message_id: int | None,
    at: float,
) -> None:
    await conn.execute(
        "INSERT INTO pending_refusals (staff_user_id, chat_id, escalation_id, prompt_message_id,"
        " created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (staff_user_id, chat_id) DO UPDATE SET"
        " escalation_id = excluded.escalation_id, prompt_message_id = excluded.prompt_message_id,"
        " created_at = excluded.created_at",
        (staff_user_id, chat_id, escalation_id, prompt_message_id, at),
    )


async def pending_refusal(db: Database, staff_user_id: int, chat_id: int) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT * FROM pending_refusals WHERE staff_user_id = ? AND chat_id = ?",
        (staff_user_id, chat_id),
    )


async def clear_pending_refusal(conn: Connection, staff_user_id: int, chat_id: int) -> None:
    await conn.execute(
        "DELETE FROM pending_refusals WHERE staff_user_id = ? AND chat_id = ?",
        (staff_user_id, chat_id),
    )
