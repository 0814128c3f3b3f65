"""The mail outbox: mail recorded with what it announces, sent by a background task, marked sent.

Rows waiting are those neither sent nor failed; a sent row keeps no body (it held a code). A row
being sent is claimed (`claimed_at`) by one sender, so that senders working at once never pick the
same row."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from storage.db import Connection, Database


@dataclass(frozen=True)
class OutgoingMail:
    id: int
    code_id: int | None
    attempt_id: int | None
    chat_id: int | None
    lang: str
    recipient: str
    subject: str
    body: str
    message_id: str
    created_at: float
    attempts: int


def _mail(row: sqlite3.Row) -> OutgoingMail:
    return OutgoingMail(**{f: row[f] for f in OutgoingMail.__dataclass_fields__})


async def add(
    conn: Connection,
    *,
    code_id: int | None,
    chat_id: int | None,
    lang: str,
    attempt_id: int | None = None,
    recipient: str,
    subject: str,
    body: str,
    message_id: str,
    created_at: float,
) -> int:
    cursor = await conn.execute(
        "INSERT INTO mail_outbox (code_id, attempt_id, chat_id, lang, recipient, subject, body,"
        " message_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (code_id, attempt_id, chat_id, lang, recipient, subject, body, message_id, created_at),
    )
    return cursor.lastrowid


async def claim(db: Database, now: float, limit: int) -> list[OutgoingMail]:
    """Claim up to `limit` waiting rows no sender holds, oldest first, for the caller to send.
    One UPDATE in a write transaction (which SQLite runs one at a time, across processes too), so
    two senders never get the same row. The caller settles each (mark_sent, mark_failed) or
    releases it."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE mail_outbox SET claimed_at = ? WHERE id IN (SELECT id FROM mail_outbox"
            " WHERE sent_at IS NULL AND failed_at IS NULL AND claimed_at IS NULL"
            " ORDER BY id LIMIT ?) RETURNING *",
            (now, limit),
        )
        claimed = await cursor.fetchall()
    return sorted((_mail(row) for row in claimed), key=lambda mail: mail.id)


async def release(db: Database, mail_id: int) -> None:
    """A claimed row its sender could not settle: waiting again for any sender."""
    await db.execute("UPDATE mail_outbox SET claimed_at = NULL WHERE id = ?", (mail_id,))


async def release_all(db: Database) -> int:
    """Every claim (at start-up: the run that held them is gone, since only one bot runs on a
    database, bot/backups.py run_lock); returns how many rows were released."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE mail_outbox SET claimed_at = NULL"
            " WHERE claimed_at IS NOT NULL AND sent_at IS NULL AND failed_at IS NULL"
        )
        return cursor.rowcount


async def waiting_for_code(conn_or_db, code_id: int) -> bool:
    """Whether the code's mail is still waiting to be sent."""
    sql = "SELECT 1 FROM mail_outbox WHERE code_id = ? AND sent_at IS NULL AND failed_at IS NULL"
    if isinstance(conn_or_db, Database):
        return await conn_or_db.fetchone(sql, (code_id,)) is not None
    async with conn_or_db.execute(sql, (code_id,)) as cursor:
        return await cursor.fetchone() is not None


async def mark_sent(conn: Connection, mail_id: int, at: float) -> None:
    await conn.execute(
        "UPDATE mail_outbox SET sent_at = ?, body = NULL, attempts = attempts + 1 WHERE id = ?",
        (at, mail_id),
    )


async def add_attempt(db: Database, mail_id: int) -> None:
    await db.execute("UPDATE mail_outbox SET attempts = attempts + 1 WHERE id = ?", (mail_id,))


async def mark_failed(conn: Connection, mail_id: int, at: float) -> str | None:
    """Given up; returns the row's language as it is now (/language may have changed it since
    the row was claimed), None when the row is gone (/forget)."""
    async with conn.execute(
        "UPDATE mail_outbox SET failed_at = ?, body = NULL WHERE id = ? RETURNING lang",
        (at, mail_id),
    ) as cursor:
        row = await cursor.fetchone()
    return row[0] if row else None


async def set_language(conn: Connection, chat_id: int, lang: str) -> None:
    """The chat's language (/language) for what its mails not sent yet will tell it (a mail that
    cannot go out is announced in the chat; the mail itself is already written)."""
    await conn.execute(
        "UPDATE mail_outbox SET lang = ? WHERE chat_id = ? AND sent_at IS NULL"
        " AND failed_at IS NULL",
        (lang, chat_id),
    )


async def forget_chat(conn: Connection, chat_id: int) -> None:
    """A chat that asked to be forgotten: its mail rows go, sent or not (addresses, codes)."""
    await conn.execute("DELETE FROM mail_outbox WHERE chat_id = ?", (chat_id,))


async def code_is_live(db: Database, code_id: int, now: float) -> bool:
    """Whether the code a mail carries is still unused and unexpired."""
    row = await db.fetchone(
        "SELECT used_at, expires_at FROM verification_codes WHERE id = ?", (code_id,)
    )
    return row is not None and row["used_at"] is None and row["expires_at"] > now


async def mark_code_mailed(conn: Connection, code_id: int, at: float) -> None:
    await conn.execute("UPDATE verification_codes SET mailed_at = ? WHERE id = ?", (at, code_id))


async def drop_code(conn: Connection, code_id: int, attempt_id: int | None) -> None:
    """A code whose mail never left was never a code: it must not count toward any limit."""
    await conn.execute("DELETE FROM verification_codes WHERE id = ?", (code_id,))
    if attempt_id is not None:
        await conn.execute(
            "DELETE FROM verification_attempts WHERE id = ? AND kind = 'code'", (attempt_id,)
        )
