"""The database: migrations applied once, constraints in the schema, persistence rows per change."""

from __future__ import annotations

import sqlite3

import pytest

from storage.db import Database, migration_files, open_database
from storage.persistence import SQLitePersistence


async def test_migrations_apply_once_and_set_pragmas(tmp_path):
    db = await open_database(tmp_path / "a.db")
    assert await db.fetchval("PRAGMA journal_mode") == "wal"
    assert await db.fetchval("PRAGMA foreign_keys") == 1
    applied = await db.fetchval("SELECT count(*) FROM schema_migrations")
    assert applied == len(migration_files())
    assert await db.migrate() == []
    await db.close()
    db = await Database.open(tmp_path / "a.db")
    assert await db.migrate() == []
    await db.close()


async def test_schema_refuses_bad_club_rows(tmp_path):
    db = await open_database(tmp_path / "a.db")
    good = ("mermoz", "Club", "a@b.fr", "c@d.fr", "business", 3, "2027-01-01")
    sql = (
        "INSERT INTO clubs (subdomain, name, structure_email, contact_email, plan,"
        " active_resources, subscription_ends) VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    await db.execute(sql, good)
    for bad in (
        good,  # duplicate subdomain
        ("Upper", *good[1:]),
        ("neg", *good[1:5], -1, good[6]),
        ("date", *good[1:6], "2027-13-45"),
    ):
        with pytest.raises(sqlite3.IntegrityError):
            await db.execute(sql, bad)
    await db.close()


async def test_transaction_rolls_back_on_error(tmp_path):
    db = await open_database(tmp_path / "a.db")
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO ptb_user_data (user_id, data) VALUES (1, '{}')")
            raise RuntimeError
    assert await db.fetchval("SELECT count(*) FROM ptb_user_data") == 0
    await db.close()


async def test_persistence_round_trip_and_delete(tmp_path):
    db = await open_database(tmp_path / "a.db")
    persistence = SQLitePersistence(db)
    await persistence.update_conversation("club", (5, 5), "verify_code")
    await persistence.update_conversation("club", (6, 6), "menu")
    await persistence.update_user_data(5, {"lang": "en", "pending_club": 3})
    await persistence.update_chat_data(5, {"x": [1, 2]})
    await db.close()

    db = await open_database(tmp_path / "a.db")
    persistence = SQLitePersistence(db)
    assert await persistence.get_conversations("club") == {(5, 5): "verify_code", (6, 6): "menu"}
    assert await persistence.get_user_data() == {5: {"lang": "en", "pending_club": 3}}
    assert await persistence.get_chat_data() == {5: {"x": [1, 2]}}
    await persistence.update_conversation("club", (5, 5), None)
    await persistence.drop_user_data(5)
    assert await persistence.get_conversations("club") == {(6, 6): "menu"}
    assert await persistence.get_user_data() == {}
    await db.close()


async def test_a_write_waits_for_another_process_lock_without_freezing_the_loop(tmp_path):
    """Another process (`ofbot clubs import`, a reconcile) holding SQLite's write lock: the bot's
    transaction waits for it on the event loop, which keeps serving other chats meanwhile, and
    then writes; SQLite's busy handler used to wait inside the call, freezing the loop."""
    import asyncio

    db = await open_database(tmp_path / "a.db")
    other = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE other_process (x INTEGER)")

    async def write() -> None:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE ours (x INTEGER)")

    writing = asyncio.create_task(write())
    ticks = 0
    for _ in range(20):  # the loop turns while the write waits for the lock
        await asyncio.sleep(0.01)
        ticks += 1
    assert not writing.done()
    assert await db.fetchval("SELECT count(*) FROM schema_migrations") > 0  # reads go on
    other.execute("COMMIT")
    await writing
    assert ticks == 20
    names = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"ours", "other_process"} <= names
    other.close()
    await db.close()


async def test_a_write_gives_up_when_the_lock_is_held_too_long(tmp_path, monkeypatch):
    """Held past WRITE_WAIT: the transaction raises SQLite's own "database is locked" error and
    nothing of it is written."""
    from storage import db as db_module

    monkeypatch.setattr(db_module, "WRITE_WAIT", 0.05)
    db = await open_database(tmp_path / "a.db")
    other = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE ours (x INTEGER)")
    other.execute("ROLLBACK")
    assert await db.fetchval("SELECT count(*) FROM sqlite_master WHERE name = 'ours'") == 0
    assert await db.fetchval("PRAGMA busy_timeout") == db_module.READ_BUSY_MS
    async with db.transaction() as conn:  # and the next write goes through
        await conn.execute("CREATE TABLE ours (x INTEGER)")
    other.close()
    await db.close()
