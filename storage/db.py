"""One aiosqlite connection per process, with WAL, foreign keys and serialized transactions.

`transaction()` is the only way to write: it holds an asyncio lock so concurrent handlers never
share an open transaction on the shared connection; BEGIN IMMEDIATE serialises other processes."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

MIGRATIONS_PACKAGE = "storage.migrations"


def migration_files() -> list[tuple[int, str, str]]:
    """(number, name, sql) for every `NNN_name.sql` shipped in storage/migrations, in order."""
    found = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if len(numbers) != len(set(numbers)):
        raise RuntimeError(f"two migrations share a number: {numbers}")
    return found


class Database:
    """The shared connection. Reads run directly; writes go through `transaction()`."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> Database:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA busy_timeout = 10000")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        return cls(conn, path)

    async def close(self) -> None:
        await self.conn.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""
        async with self._lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")

    async def execute(self, sql: str, params: Iterable[Any] | dict = ()) -> int:
        """One write statement in its own transaction; returns lastrowid."""
        async with self.transaction() as conn:
            cursor = await conn.execute(sql, params)
            return cursor.lastrowid

    async def fetchone(self, sql: str, params: Iterable[Any] | dict = ()) -> sqlite3.Row | None:
        async with self.conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Iterable[Any] | dict = ()) -> list[sqlite3.Row]:
        async with self.conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchval(self, sql: str, params: Iterable[Any] | dict = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def migrate(self) -> list[str]:
        """Apply the migrations not applied yet, each in its own transaction; returns their names."""
        await self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " number INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')))"
        )
        applied = []
        for number, name, sql in migration_files():
            async with self._lock:
                done = await self.fetchval(
                    "SELECT 1 FROM schema_migrations WHERE number = ?", (number,)
                )
                if done:
                    continue
                # executescript commits first, so the script carries its own BEGIN/COMMIT.
                script = (
                    f"BEGIN IMMEDIATE;\n{sql}\n;"
                    f"INSERT INTO schema_migrations (number, name) VALUES ({number}, '{name}');\n"
                    "COMMIT;"
                )
                try:
                    await self.conn.executescript(script)
                except Exception:
                    if self.conn.in_transaction:
                        await self.conn.execute("ROLLBACK")
                    raise
                applied.append(name)
        return applied


async def open_database(path: str | Path, migrate: bool = True) -> Database:
    db = await Database.open(path)
    if migrate:
        await db.migrate()
    return db
