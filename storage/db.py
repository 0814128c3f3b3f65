"""One SQLite connection per process, with WAL, foreign keys and serialized transactions.

`transaction()` is the only way to write: it holds an asyncio lock so concurrent handlers never
share an open transaction on the shared connection; BEGIN IMMEDIATE serialises other processes.

The connection runs on the event loop's thread (`Connection` below keeps aiosqlite's awaitable
call shapes). An indexed read there costs ~4 µs of CPU; through aiosqlite's worker thread each
call is a hand-over to the thread and back (a queue, a futex wake-up, `call_soon_threadsafe`
through the loop's self-pipe), ~40 µs of CPU — 120 µs for execute + fetchone + close — and the
bot's update path makes ~25 such calls per update (bench/README.md, issue 19). Long work never
runs here: backups and `ofbot doctor` open their own connections in a thread
(storage/sqlite_file.py, bot/backups.py), and another process's write lock is waited for on
the loop, not inside SQLite (WRITE_WAIT below)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from importlib import resources
from pathlib import Path
from typing import Any

MIGRATIONS_PACKAGE = "storage.migrations"

# Another process holding SQLite's write lock (`ofbot clubs import`, `ofbot payments reconcile`,
# a restore) makes BEGIN IMMEDIATE fail with SQLITE_BUSY. SQLite's busy handler would wait for it
# inside the call, on the event loop's thread, freezing every chat for as long as the other
# process writes; `transaction()` instead asks without waiting and sleeps on the loop between
# tries, up to WRITE_WAIT seconds (then the "database is locked" error is raised, as before).
WRITE_WAIT = 10.0
WRITE_RETRY = (0.002, 0.05)  # seconds: the first pause between tries, doubled up to the second
# Reads never wait for a writer in WAL mode; a rare SQLITE_BUSY on a read (the WAL index being
# rebuilt after a crash, a checkpoint by another process) is waited out inside the call, briefly.
READ_BUSY_MS = 200


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


class Cursor:
    """aiosqlite's cursor shape over a sqlite3 cursor, as far as storage/ uses it: `await
    fetchone()`, `await fetchall()`, `rowcount`, `lastrowid` (`async with conn.execute(…)` closes
    it: _Statement)."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()


class _Statement:
    """What `Connection.execute()` returns: awaited, the statement runs and gives its Cursor;
    `async with` runs it and closes the cursor after (aiosqlite's Result)."""

    __slots__ = ("_cursor", "_run")

    def __init__(self, run: Any) -> None:
        self._run = run
        self._cursor: Cursor | None = None

    def __await__(self):
        return self._start().__await__()

    async def _start(self) -> Cursor:
        self._cursor = Cursor(self._run())
        return self._cursor

    async def __aenter__(self) -> Cursor:
        return await self._start()

    async def __aexit__(self, *exc: object) -> None:
        if self._cursor is not None:
            self._cursor._cursor.close()


class Connection:
    """A sqlite3 connection used on the event loop's thread, with aiosqlite's awaitable shapes
    (`await conn.execute(sql, params)`, `async with conn.execute(...) as cursor`), so storage
    modules read the same whichever runs underneath. Raises sqlite3 errors as sqlite3 does."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    @property
    def row_factory(self) -> Any:
        return self._conn.row_factory

    @row_factory.setter
    def row_factory(self, factory: Any) -> None:
        self._conn.row_factory = factory

    def execute(self, sql: str, parameters: Iterable[Any] | dict = ()) -> _Statement:
        return _Statement(lambda: self._conn.execute(sql, parameters))

    def executemany(self, sql: str, parameters: Iterable[Any]) -> _Statement:
        return _Statement(lambda: self._conn.executemany(sql, parameters))

    def executescript(self, script: str) -> _Statement:
        return _Statement(lambda: self._conn.executescript(script))

    async def close(self) -> None:
        self._conn.close()


class Database:
    """The shared connection. Reads run directly; writes go through `transaction()`."""

    def __init__(self, conn: Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> Database:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = Connection(sqlite3.connect(str(path), isolation_level=None))
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {READ_BUSY_MS}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        return cls(conn, path)

    async def close(self) -> None:
        await self.conn.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception. While another process holds
        the write lock, waits on the event loop (not in SQLite's busy handler) up to WRITE_WAIT
        seconds, then raises sqlite3.OperationalError ("database is locked")."""
        async with self._lock:
            await self._begin()
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")

    async def _begin(self) -> None:
        raw = self.conn._conn
        deadline = None
        pause = WRITE_RETRY[0]
        while True:
            raw.execute("PRAGMA busy_timeout = 0")
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + WRITE_WAIT
                elif now >= deadline:
                    raise
            finally:
                raw.execute(f"PRAGMA busy_timeout = {READ_BUSY_MS}")
            await asyncio.sleep(pause)
            pause = min(pause * 2, WRITE_RETRY[1])

    async def execute(self, sql: str, params: Iterable[Any] | dict = ()) -> int:
        """One write statement in its own transaction; returns lastrowid."""
        async with self.transaction() as conn:
            cursor = await conn.execute(sql, params)
            return cursor.lastrowid

    async def fetchone(self, sql: str, params: Iterable[Any] | dict = ()) -> sqlite3.Row | None:
        cursor = self.conn._conn.execute(sql, params)
        try:
            return cursor.fetchone()
        finally:
            cursor.close()

    async def fetchall(self, sql: str, params: Iterable[Any] | dict = ()) -> list[sqlite3.Row]:
        return self.conn._conn.execute(sql, params).fetchall()

    async def fetchval(self, sql: str, params: Iterable[Any] | dict = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def migrate(self) -> list[str]:
        """Apply the migrations not applied yet, each in its own transaction; returns their names."""
        applied: list[str] = []
        # Migrations run before the bot serves (or in a command line process): waiting for
        # another process's write lock inside SQLite is fine there.
        await self.conn.execute(f"PRAGMA busy_timeout = {int(WRITE_WAIT * 1000)}")
        try:
            await self._migrate(applied)
        finally:
            await self.conn.execute(f"PRAGMA busy_timeout = {READ_BUSY_MS}")
        return applied

    async def _migrate(self, applied: list[str]) -> None:
        await self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " number INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')))"
        )
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


async def open_database(path: str | Path, migrate: bool = True) -> Database:
    db = await Database.open(path)
    if migrate:
        await db.migrate()
    return db
