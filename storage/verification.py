"""One-time codes and wrong-address counts, the two limits of the verify step (SPEC §3.2).

Times are unix seconds so that sliding-window counts are one indexed query."""

from __future__ import annotations

import sqlite3

import aiosqlite

from storage.db import Database


async def count_codes_since(conn: aiosqlite.Connection, club_id: int, since: float) -> list[float]:
    """Creation times of the club's codes since `since`, oldest first."""
    async with conn.execute(
        "SELECT created_at FROM verification_codes WHERE club_id = ? AND created_at > ?"
        " ORDER BY created_at",
        (club_id, since),
    ) as cursor:
        return [row[0] for row in await cursor.fetchall()]


async def insert_code(
    conn: aiosqlite.Connection,
    *,
    club_id: int,
    chat_id: int,
    email_kind: str,
    code_hash: str,
    salt: str,
    created_at: float,
    expires_at: float,
) -> int:
    # A new code replaces any code this chat still holds for the club.
    await conn.execute(
        "UPDATE verification_codes SET used_at = ? WHERE club_id = ? AND chat_id = ?"
        " AND used_at IS NULL",
        (created_at, club_id, chat_id),
    )
    cursor = await conn.execute(
        "INSERT INTO verification_codes (club_id, chat_id, email_kind, code_hash, salt,"
        " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (club_id, chat_id, email_kind, code_hash, salt, created_at, expires_at),
    )
    return cursor.lastrowid


async def delete_code(db: Database, code_id: int) -> None:
    await db.execute("DELETE FROM verification_codes WHERE id = ?", (code_id,))


async def mark_mailed(db: Database, code_id: int, at: float) -> None:
    await db.execute("UPDATE verification_codes SET mailed_at = ? WHERE id = ?", (at, code_id))


async def current_code(
    conn: aiosqlite.Connection, club_id: int, chat_id: int
) -> sqlite3.Row | None:
    async with conn.execute(
        "SELECT * FROM verification_codes WHERE club_id = ? AND chat_id = ? AND used_at IS NULL"
        " ORDER BY id DESC LIMIT 1",
        (club_id, chat_id),
    ) as cursor:
        return await cursor.fetchone()


async def add_attempt(conn: aiosqlite.Connection, code_id: int) -> None:
    await conn.execute(
        "UPDATE verification_codes SET attempts = attempts + 1 WHERE id = ?", (code_id,)
    )


async def mark_used(conn: aiosqlite.Connection, code_id: int, at: float) -> None:
    await conn.execute("UPDATE verification_codes SET used_at = ? WHERE id = ?", (at, code_id))


async def misses_since(conn_or_db, chat_id: int, since: float) -> list[float]:
    sql = "SELECT at FROM email_misses WHERE chat_id = ? AND at > ? ORDER BY at"
    if isinstance(conn_or_db, Database):
        rows = await conn_or_db.fetchall(sql, (chat_id, since))
    else:
        async with conn_or_db.execute(sql, (chat_id, since)) as cursor:
            rows = await cursor.fetchall()
    return [row[0] for row in rows]


async def add_miss(conn: aiosqlite.Connection, chat_id: int, club_id: int, at: float) -> None:
    await conn.execute(
        "INSERT INTO email_misses (chat_id, club_id, at) VALUES (?, ?, ?)", (chat_id, club_id, at)
    )


async def forget_chat(conn: aiosqlite.Connection, chat_id: int) -> None:
    """Personal data of a chat that asked to be forgotten (codes are hashes, misses are counts)."""
    await conn.execute("DELETE FROM verification_codes WHERE chat_id = ?", (chat_id,))
