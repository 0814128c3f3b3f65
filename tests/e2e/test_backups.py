"""Backups (SPEC §6: `ofbot db backup FILE`, `ofbot db restore FILE`): an online copy taken while
the bot writes, restored into a fresh bot that finds every invoice, payment and conversation."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
import subprocess
import sys

import pytest

from bot import backups
from bot.runtime import Runtime
from storage import audit
from storage.db import open_database
from tests.conftest import (
    CLUB_USER_2,
    ROOT,
    Chat,
    bot_environment,
    replace_settings,
    verify,
)
from tests.e2e.test_renew_and_pay import card_link, session_id, settled, to_invoice

TABLES = (
    "clubs",
    "contacts",
    "invoices",
    "invoice_lines",
    "payments",
    "checkout_sessions",
    "stripe_events",
    "ptb_conversations",
    "ptb_user_data",
    "ptb_chat_data",
)


def rows(path, table: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return [tuple(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY 1")]
    finally:
        conn.close()


async def write_stream(db, stop: asyncio.Event, committed: list[int]) -> None:
    """Audit rows, one transaction each, as fast as the connection takes them."""
    n = 0
    while not stop.is_set():
        async with db.transaction() as conn:
            await audit.record(conn, actor="test", action="stream.write", target=str(n))
        n += 1
        committed.append(n)
        await asyncio.sleep(0)


async def test_backup_during_writes_then_restore_into_a_fresh_bot(
    chat, smtp, bot, stripe, telegram, tmp_path
):
    # A paid invoice, an open one, and a conversation left halfway through.
    await verify(chat, smtp)
    number = await to_invoice(chat)
    assert await stripe.pay(session_id(await card_link(chat)), card="4242424242424242")
    await settled(bot, stripe)
    other = Chat(telegram, bot, CLUB_USER_2)
    await verify(other, smtp, "lesailes", "contact_email")
    open_number = await to_invoice(other)  # left at "how do you want to pay?"
    db = bot.services.db

    stop, committed = asyncio.Event(), []
    writer = asyncio.create_task(write_stream(db, stop, committed))
    copies = []
    try:
        for i in range(3):
            while len(committed) < 20 * (i + 1):
                await asyncio.sleep(0.001)
            before = len(committed)
            target = tmp_path / f"copy-{i}.sqlite3"
            report = await asyncio.to_thread(backups.backup_database, db.path, target)
            copies.append((report.path, before))
    finally:
        stop.set()
        await writer
    assert len(committed) > 60
    for path, before in copies:
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        written = conn.execute(
            "SELECT count(*) FROM audit WHERE action = 'stream.write'"
        ).fetchone()[0]
        conn.close()
        assert written >= before  # everything committed before the copy began is in it
        assert not os.path.exists(f"{path}-wal")

    await bot.idle()
    await bot.runtime.stop()
    original = {table: rows(db.path, table) for table in TABLES}
    backup, _ = copies[-1]

    fresh = tmp_path / "fresh" / "ofbot.sqlite3"
    assert backups.restore_database(backup, fresh) is None  # nothing replaced
    for table in TABLES:
        assert rows(fresh, table) == original[table], table
    statuses = {
        r[0]: r[1]
        for r in map(tuple, sqlite3.connect(fresh).execute("SELECT number, status FROM invoices"))
    }
    assert statuses[number] == "paid" and statuses[open_number] != "paid"

    bot.runtime = Runtime(replace_settings(bot.runtime.settings, db=fresh))
    await bot.runtime.start()
    bot._wrap()
    replies = await other.press("Chèque")  # the payment step survived the restore
    assert open_number in replies[-1]["text"], other.transcript()
    menu = await chat.say("/menu")
    assert "Renouveler" in str(menu[-1].get("reply_markup")), chat.transcript()


async def test_restore_refuses_a_damaged_file_or_one_from_a_newer_ofbot(tmp_path):
    db_path = tmp_path / "ofbot.sqlite3"
    db = await open_database(db_path)
    await db.close()
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(backups.BackupError, match="not a readable SQLite database"):
        backups.restore_database(junk, db_path)
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(backups.BackupError, match="not an ofbot database"):
        backups.restore_database(other, db_path)
    newer = tmp_path / "newer.sqlite3"
    backups.backup_database(db_path, newer)
    conn = sqlite3.connect(newer)
    conn.execute("INSERT INTO schema_migrations (number, name) VALUES (999, '999_future.sql')")
    conn.commit()
    conn.close()
    with pytest.raises(backups.BackupError, match="newer ofbot"):
        backups.restore_database(newer, db_path)


def test_retention_keeps_the_newest_and_only_touches_its_own_files(tmp_path):
    db_path = tmp_path / "ofbot.sqlite3"
    sqlite3.connect(db_path).executescript(
        "CREATE TABLE schema_migrations (number INTEGER PRIMARY KEY, name TEXT);"
        "INSERT INTO schema_migrations VALUES (1, '001_core.sql');"
    )
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    start = dt.datetime(2026, 11, 1, 1, 30, tzinfo=dt.UTC)
    for day in range(5):
        backups.run_scheduled_backup(db_path, folder, 3, start + dt.timedelta(days=day))
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "notes.txt",
        "ofbot-20261103T013000Z.sqlite3",
        "ofbot-20261104T013000Z.sqlite3",
        "ofbot-20261105T013000Z.sqlite3",
    ]


def ofbot(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=bot_environment(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_restore_refuses_while_the_bot_runs_and_backup_does_not(bot_process, tmp_path):
    await bot_process.start()
    settings = bot_process.settings
    copy = tmp_path / "copy.sqlite3"
    made = await asyncio.to_thread(ofbot, settings, "db", "backup", str(copy))
    assert made.returncode == 0, made.stderr
    assert "integrity_check ok" in made.stdout

    refused = await asyncio.to_thread(ofbot, settings, "db", "restore", str(copy))
    assert refused.returncode == 1
    assert "a bot is running" in refused.stderr and "stop it first" in refused.stderr
    assert not list(tmp_path.glob("ofbot.sqlite3.before-restore-*"))

    second = await asyncio.to_thread(ofbot, settings, "run")  # a second bot on the same file
    assert second.returncode == 1 and "another bot is running" in second.stderr

    assert await bot_process.terminate() == 0
    done = await asyncio.to_thread(ofbot, settings, "db", "restore", str(copy))
    assert done.returncode == 0, done.stderr
    assert "restored" in done.stdout
    kept = list(settings.db.parent.glob("ofbot.sqlite3.before-restore-*"))
    assert len(kept) == 1 and str(kept[0]) in done.stdout


async def test_the_daily_job_backs_up_at_start_up_when_the_last_backup_is_old(
    settings, telegram, tmp_path
):
    folder = tmp_path / "backups"
    folder.mkdir()
    old = folder / "ofbot-20200101T000000Z.sqlite3"
    old.write_bytes(b"")
    os.utime(old, (0, 0))
    runtime = Runtime(replace_settings(settings, backup_dir=folder, backup_keep=1))
    await runtime.start()
    jobs = {job.name for job in runtime.app.job_queue.jobs()}
    try:
        async with asyncio.timeout(15):
            while len(backups.list_backups(folder)) != 1 or backups.list_backups(folder) == [old]:
                await asyncio.sleep(0.05)
    finally:
        await runtime.stop()
    (made,) = backups.list_backups(folder)
    assert made != old
    assert sqlite3.connect(made).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert "backup" in jobs


async def test_restore_through_a_symlink_to_the_running_bots_database_is_refused(
    bot_process, tmp_path
):
    await bot_process.start()
    settings = bot_process.settings
    copy = tmp_path / "copy.sqlite3"
    made = await asyncio.to_thread(ofbot, settings, "db", "backup", str(copy))
    assert made.returncode == 0, made.stderr
    alias = tmp_path / "alias.sqlite3"
    alias.symlink_to(settings.db)
    through_alias = replace_settings(settings, db=alias)
    refused = await asyncio.to_thread(ofbot, through_alias, "db", "restore", str(copy))
    assert refused.returncode == 1 and "a bot is running" in refused.stderr
    assert alias.is_symlink()
    assert await bot_process.terminate() == 0


async def test_restore_is_refused_while_the_sandbox_runs(tmp_path):
    from bot.sandbox.run import start_sandbox
    from bot.settings import Settings

    sandbox = await start_sandbox(Settings(), tmp_path / "sandbox")
    try:
        copy = tmp_path / "copy.sqlite3"
        made = await asyncio.to_thread(ofbot, sandbox.settings, "db", "backup", str(copy))
        assert made.returncode == 0, made.stderr
        refused = await asyncio.to_thread(ofbot, sandbox.settings, "db", "restore", str(copy))
        assert refused.returncode == 1 and "a bot is running" in refused.stderr
    finally:
        await sandbox.stop()
