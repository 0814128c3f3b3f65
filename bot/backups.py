"""Backups of the bot's SQLite database: an online copy while the bot runs, a daily job with
retention, and a restore that refuses while a bot runs on the database.

A copy is taken with SQLite's online backup API (https://www.sqlite.org/backup.html), never a file
copy: a file copy of a WAL database can miss committed pages still in the `-wal` file."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from storage import sqlite_file
from storage.db import migration_files

log = logging.getLogger(__name__)

BACKUP_PREFIX = "ofbot-"
BACKUP_SUFFIX = ".sqlite3"
# Daily job: 03:30 in OFBOT_TIMEZONE, after the night's quiet hours and before the 09:00 reminders.
BACKUP_AT = dt.time(3, 30)


class BackupError(Exception):
    """A backup or restore could not be made; str() says why, in one line."""


class BotRunning(BackupError):
    """`ofbot run` holds the database's run lock."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    size: int  # bytes
    migrations: int  # the highest migration number in the copy


def run_lock_path(db_path: Path) -> Path:
    """`<db>.run.lock` next to the database file itself: symlinks resolved, so two names of one
    file (an alias linked to it, `./x` and `/abs/x`) share one lock."""
    return Path(f"{Path(db_path).resolve()}.run.lock")


def run_lock(db_path: Path) -> FileLock:
    """The exclusive lock `ofbot run` holds for as long as it runs on `db_path` (the kernel drops
    it when the process dies, kill -9 included); `ofbot db restore` takes it too."""
    return FileLock(run_lock_path(db_path), timeout=0)


def bot_is_running(db_path: Path) -> bool:
    lock = run_lock(db_path)
    try:
        lock.acquire()
    except Timeout:
        return True
    lock.release()
    return False


def _check(conn: sqlite3.Connection, what: str) -> int:
    """integrity_check must say `ok`; the file must be an ofbot database. Returns its last
    migration number."""
    try:
        problems = sqlite_file.integrity_problems(conn)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{what} is not a readable SQLite database: {exc}") from None
    if problems:
        raise BackupError(f"{what} fails PRAGMA integrity_check: {'; '.join(problems[:3])}")
    try:
        applied = sqlite_file.applied_migrations(conn)
    except sqlite3.DatabaseError:
        raise BackupError(f"{what} is not an ofbot database (no schema_migrations)") from None
    return max(applied, default=0)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _copy(source: Path, target: Path, what: str) -> int:
    """Online copy source → target (a temporary file next to it, then renamed): one backup step,
    so the copy is one consistent snapshot; in WAL mode writers go on meanwhile. The copy is
    switched to a rollback journal so the one file is the whole database."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # pages=-1: every page in one step, under one read transaction
            dst.execute("PRAGMA journal_mode = DELETE")
            migrations = _check(dst, what)
        finally:
            dst.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, target)
    _fsync_dir(target.parent)
    return migrations


def backup_database(db_path: Path, target: Path) -> BackupReport:
    """Copy the live database at `db_path` to `target` (overwritten), checked with
    `PRAGMA integrity_check`. Safe while the bot runs. Raises BackupError."""
    db_path, target = Path(db_path), Path(target)
    if not db_path.is_file():
        raise BackupError(f"{db_path}: no such database")
    if target.resolve() == db_path.resolve():
        raise BackupError("the backup file cannot be the database itself")
    try:
        migrations = _copy(db_path, target, f"the copy {target.name}")
    except sqlite3.Error as exc:
        raise BackupError(f"backup failed: {exc}") from None
    return BackupReport(target, target.stat().st_size, migrations)


def restore_database(source: Path, db_path: Path, *, now: dt.datetime | None = None) -> Path | None:
    """Replace the database at `db_path` by the backup `source`. Refuses (BotRunning) while a bot
    runs on it, and (BackupError) a file that fails integrity_check, is not an ofbot database or
    comes from a newer ofbot (migrations this code does not know). The database replaced is kept
    as `<db>.before-restore-<UTC time>` (returned), so a wrong restore can be undone."""
    # A symlinked OFBOT_DB: the file it names is replaced (and locked), not the link.
    source, db_path = Path(source), Path(db_path).resolve()
    if not source.is_file():
        raise BackupError(f"{source}: no such file")
    lock = run_lock(db_path)
    try:
        lock.acquire()
    except Timeout:
        raise BotRunning(
            f"a bot is running on {db_path} (it holds {run_lock_path(db_path).name}): "
            "stop it first (systemctl stop ofbot), then restore"
        ) from None
    try:
        try:
            conn = sqlite3.connect(source)
            try:
                last = _check(conn, str(source))
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise BackupError(f"{source} is not a readable SQLite database: {exc}") from None
        known = max((number for number, _, _ in migration_files()), default=0)
        if last > known:
            raise BackupError(
                f"{source} comes from a newer ofbot (migration {last}, this one knows {known}):"
                " upgrade ofbot first"
            )
        kept = None
        if db_path.exists():
            stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
            kept = db_path.with_name(f"{db_path.name}.before-restore-{stamp}")
            _copy(db_path, kept, f"the copy of the current database {kept.name}")
        staged = db_path.with_name(f".{db_path.name}.restoring")
        _copy(source, staged, str(source))
        for sidecar in ("-wal", "-shm", "-journal"):
            Path(f"{db_path}{sidecar}").unlink(missing_ok=True)
        os.replace(staged, db_path)
        _fsync_dir(db_path.parent)
        return kept
    finally:
        lock.release()


def backup_name(at: dt.datetime) -> str:
    return f"{BACKUP_PREFIX}{at.astimezone(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}{BACKUP_SUFFIX}"


def list_backups(directory: Path) -> list[Path]:
    """The job's backups in `directory`, oldest first (names sort by time)."""
    if not directory.is_dir():
        return []
    found = [
        p
        for p in directory.iterdir()
        if p.is_file() and p.name.startswith(BACKUP_PREFIX) and p.name.endswith(BACKUP_SUFFIX)
    ]
    return sorted(found, key=lambda p: p.name)


def prune_backups(directory: Path, keep: int) -> list[Path]:
    """Delete the job's oldest backups beyond the newest `keep`; never touches other files."""
    backups = list_backups(directory)
    removed = backups[: max(0, len(backups) - keep)]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def run_scheduled_backup(db_path: Path, directory: Path, keep: int, at: dt.datetime) -> Path:
    """One run of the daily job: a new dated backup in `directory`, then retention."""
    report = backup_database(db_path, Path(directory) / backup_name(at))
    removed = prune_backups(Path(directory), keep)
    log.info(
        "backup %s written (%d bytes); %d old backup(s) removed",
        report.path.name,
        report.size,
        len(removed),
    )
    return report.path


async def backup_job(context) -> None:
    """JobQueue callback: the daily backup, in a thread (the copy is synchronous SQLite work)."""
    services = context.application.bot_data["services"]
    s = services.settings
    try:
        await asyncio.to_thread(
            run_scheduled_backup, s.db, s.backup_dir, s.backup_keep, services.clock.now()
        )
    except (BackupError, OSError) as exc:
        log.error("daily backup failed: %s", exc)
        services.metrics.errors.labels(where="backup").inc()


async def catch_up_backup(app) -> None:
    """Start-up hook: with OFBOT_BACKUP_DIR set, a backup right away when the newest one is more
    than a day old (the bot was down at 03:30, or this is its first start)."""
    services = app.bot_data["services"]
    s = services.settings
    if s.backup_dir is None or app.job_queue is None:
        return
    backups = list_backups(s.backup_dir)
    newest = backups[-1].stat().st_mtime if backups else None
    if newest is None or services.clock.now().timestamp() - newest > 24 * 3600:
        app.job_queue.run_once(backup_job, when=1, name="backup-catch-up")
