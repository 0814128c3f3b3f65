"""One-time codes, and the append-only log every limit of the verify step is counted on
(SPEC §3.2). Times are unix seconds so that sliding-window counts are one indexed query."""

from __future__ import annotations

import sqlite3

from storage.db import Connection, Database


async def insert_code(
    conn: Connection,
    *,
    club_id: int,
    chat_id: int,
    email_kind: str,
    code_hash: str,
    salt: str,
    created_at: float,
    expires_at: float,
    link_hash: str | None = None,
) -> int:
    # A new code replaces any code this chat still holds for the club. The links of replaced
    # codes stay valid until they expire: the chat that asked cannot take back what was mailed.
    await conn.execute(
        "UPDATE verification_codes SET used_at = ? WHERE club_id = ? AND chat_id = ?"
        " AND used_at IS NULL",
        (created_at, club_id, chat_id),
    )
    cursor = await conn.execute(
        "INSERT INTO verification_codes (club_id, chat_id, email_kind, code_hash, salt,"
        " created_at, expires_at, link_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (club_id, chat_id, email_kind, code_hash, salt, created_at, expires_at, link_hash),
    )
    return cursor.lastrowid


async def delete_code(db: Database, code_id: int) -> None:
    await db.execute("DELETE FROM verification_codes WHERE id = ?", (code_id,))


async def mark_mailed(db: Database, code_id: int, at: float) -> None:
    await db.execute("UPDATE verification_codes SET mailed_at = ? WHERE id = ?", (at, code_id))


async def current_code(conn: Connection, club_id: int, chat_id: int) -> sqlite3.Row | None:
    async with conn.execute(
        "SELECT * FROM verification_codes WHERE club_id = ? AND chat_id = ? AND used_at IS NULL"
        " ORDER BY id DESC LIMIT 1",
        (club_id, chat_id),
    ) as cursor:
        return await cursor.fetchone()


async def add_attempt(conn: Connection, code_id: int) -> None:
    await conn.execute(
        "UPDATE verification_codes SET attempts = attempts + 1 WHERE id = ?", (code_id,)
    )


async def mark_used(conn: Connection, code_id: int, at: float) -> None:
    """The code, and the link mailed with it, are spent."""
    await conn.execute(
        "UPDATE verification_codes SET used_at = ?, link_hash = NULL WHERE id = ?", (at, code_id)
    )


async def live_link(conn: Connection, link_hash: str, now: float) -> sqlite3.Row | None:
    """The code row whose mailed link has this hash, if it is unexpired and unused."""
    async with conn.execute(
        "SELECT * FROM verification_codes WHERE link_hash = ? AND expires_at > ?",
        (link_hash, now),
    ) as cursor:
        return await cursor.fetchone()


async def use_link(conn: Connection, code_id: int, at: float) -> bool:
    """Spend a link (and its code); False when another tap spent it first."""
    cursor = await conn.execute(
        "UPDATE verification_codes SET used_at = COALESCE(used_at, ?), link_hash = NULL"
        " WHERE id = ? AND link_hash IS NOT NULL",
        (at, code_id),
    )
    return cursor.rowcount == 1


async def add_attempt_record(
    conn: Connection,
    *,
    club_id: int | None,
    chat_key: str,
    kind: str,
    at: float,
    email_kind: str | None = None,
) -> int:
    """Append one counted event (kind: code, guess, miss, help, link); returns its id."""
    cursor = await conn.execute(
        "INSERT INTO verification_attempts (club_id, chat_key, kind, email_kind, at)"
        " VALUES (?, ?, ?, ?, ?)",
        (club_id, chat_key, kind, email_kind, at),
    )
    return cursor.lastrowid


async def withdraw_attempt_record(db: Database, record_id: int) -> None:
    """A code whose mail our server could not send was never a code: not a user action."""
    await db.execute(
        "DELETE FROM verification_attempts WHERE id = ? AND kind = 'code'", (record_id,)
    )


async def purge_attempts(conn: Connection, before: float) -> None:
    await conn.execute("DELETE FROM verification_attempts WHERE at < ?", (before,))


async def attempts_since(
    conn_or_db,
    kind: str,
    since: float,
    *,
    club_id: int | None = None,
    chat_key: str | None = None,
    email_kind: str | None = None,
) -> list[float]:
    """Times of the `kind` events since `since`, oldest first, narrowed by the given keys."""
    sql = "SELECT at FROM verification_attempts WHERE kind = ? AND at > ?"
    params: list = [kind, since]
    for column, value in (("club_id", club_id), ("chat_key", chat_key), ("email_kind", email_kind)):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
    sql += " ORDER BY at"
    if isinstance(conn_or_db, Database):
        rows = await conn_or_db.fetchall(sql, params)
    else:
        async with conn_or_db.execute(sql, params) as cursor:
            rows = await cursor.fetchall()
    return [row[0] for row in rows]


async def forget_chat(conn: Connection, chat_id: int, now: float) -> None:
    """Personal data of a chat that asked to be forgotten (codes are hashes, misses are counts).

    A code whose mailed link is still live loses its chat (0: no Telegram chat has that id)
    instead of going: a stranger's `/forget` must not void the link the club's contact holds."""
    await conn.execute(
        "UPDATE verification_codes SET chat_id = 0 WHERE chat_id = ? AND link_hash IS NOT NULL"
        " AND expires_at > ?",
        (chat_id, now),
    )
    await conn.execute("DELETE FROM verification_codes WHERE chat_id = ?", (chat_id,))
