"""`ofbot doctor`'s checks of this machine: the libraries the bot loads on first use, the catalogue
file, the SQLite database (integrity, migrations, club records), the daily backups and the free
disk space."""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import sqlite3
import time
from pathlib import Path

from bot.doctor.checks import ERROR, OK, TIMEOUT, WARNING, Check
from bot.settings import DEFAULT_CATALOGUE
from storage import sqlite_file

# Free space under the database: below the first an error (SQLite cannot grow, backups fail),
# below the second a warning.
DISK_ERROR_BYTES = 100 * 1024 * 1024
DISK_WARNING_BYTES = 1024 * 1024 * 1024


class LocalChecks:
    """The local checks of `Doctor` (bot/doctor/__init__.py): they use its `settings` and its disk
    thresholds."""

    async def check_libraries(self) -> list[Check]:
        return await asyncio.to_thread(self._libraries)

    def _libraries(self) -> list[Check]:
        """Each library `ofbot run` imports on first use (bot/lazy_imports.py), imported now: a
        broken one (WeasyPrint without Debian's pango) fails here, not at a club's first invoice."""
        from bot.lazy_imports import LAZY_IMPORTS

        broken = []
        for name, use in LAZY_IMPORTS.items():
            try:
                importlib.import_module(name)
            except Exception as exc:  # ImportError; OSError for a missing system library
                broken.append(f"{name} for {use}: {type(exc).__name__}: {exc}")
        if broken:
            return [
                Check(
                    "libraries",
                    ERROR,
                    "; ".join(broken),
                    "install ofbot again with its dependencies (system packages: README)",
                )
            ]
        return [Check("libraries", OK, f"{', '.join(LAZY_IMPORTS)} load")]

    async def check_catalogue(self) -> list[Check]:
        from bot.catalogue import CatalogueError, load_catalogue

        path = self.settings.catalogue
        try:
            catalogue = load_catalogue(path)
        except CatalogueError as exc:
            return [
                Check("catalogue", ERROR, str(exc), "fix the TOML file named in OFBOT_CATALOGUE")
            ]
        plans = ", ".join(catalogue.plans)
        if catalogue.sample or Path(path).resolve() == DEFAULT_CATALOGUE.resolve():
            return [
                Check(
                    "catalogue",
                    WARNING,
                    f"still the shipped sample prices ({plans})",
                    "write your catalogue (prices, payee, IBAN) and set OFBOT_CATALOGUE",
                )
            ]
        return [Check("catalogue", OK, f"{path}: {len(catalogue.plans)} plan(s) ({plans})")]

    async def check_database(self) -> list[Check]:
        return await asyncio.to_thread(self._database)

    def _database(self) -> list[Check]:
        from storage.db import migration_files

        path = self.settings.db
        if not Path(path).is_file():
            return [
                Check(
                    "database",
                    WARNING,
                    f"{path} does not exist yet",
                    "`ofbot db migrate`, then `ofbot clubs import FILE.csv`",
                )
            ]
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=TIMEOUT)
        except sqlite3.Error as exc:
            return [Check("database", ERROR, f"{path} cannot be opened: {exc}")]
        try:
            try:
                problems = sqlite_file.integrity_problems(conn)
            except sqlite3.DatabaseError as exc:
                return [
                    Check(
                        "database",
                        ERROR,
                        f"{path} is not a readable SQLite database: {exc}",
                        "restore the last backup: `ofbot db restore FILE`",
                    )
                ]
            if problems:
                return [
                    Check(
                        "database",
                        ERROR,
                        f"integrity_check: {problems[0]}",
                        "stop the bot and restore the last backup: `ofbot db restore FILE`",
                    )
                ]
            try:
                applied = sqlite_file.applied_migrations(conn)
                clubs = sqlite_file.club_count(conn)
            except sqlite3.DatabaseError:
                return [
                    Check(
                        "database", WARNING, f"{path} has no ofbot schema yet", "`ofbot db migrate`"
                    )
                ]
        finally:
            conn.close()
        known = {number for number, _, _ in migration_files()}
        checks = []
        if applied - known:
            checks.append(
                Check(
                    "database",
                    ERROR,
                    f"migrations {sorted(applied - known)} come from a newer ofbot",
                    "install that version of ofbot again",
                )
            )
        elif known - applied:
            checks.append(
                Check(
                    "database",
                    WARNING,
                    f"integrity ok, {len(known - applied)} migration(s) not applied",
                    "`ofbot db migrate` (`ofbot run` also applies them at start-up)",
                )
            )
        else:
            checks.append(
                Check("database", OK, f"{path}: integrity ok, {len(known)} migrations applied")
            )
        if clubs == 0:
            checks.append(
                Check(
                    "club records",
                    WARNING,
                    "no club records",
                    "`ofbot clubs import FILE.csv`, or set OFBOT_CLUBS_SOURCE",
                )
            )
        else:
            checks.append(Check("club records", OK, f"{clubs} club(s)"))
        return checks

    async def check_backups(self) -> list[Check]:
        from bot.backups import list_backups

        folder = self.settings.backup_dir
        if folder is None:
            return [
                Check(
                    "backups",
                    WARNING,
                    "OFBOT_BACKUP_DIR is not set: no daily backup",
                    "set OFBOT_BACKUP_DIR (and copy it off-site: docs/OPERATIONS.md)",
                )
            ]
        folder = Path(folder)
        if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
            return [
                Check(
                    "backups",
                    ERROR,
                    f"{folder} is not writable by this user",
                    "give the bot's user write access to OFBOT_BACKUP_DIR",
                )
            ]
        found = list_backups(folder)
        if not found:
            return [
                Check(
                    "backups",
                    WARNING,
                    f"no backup in {folder} yet",
                    "the running bot makes one at start-up and every day at 03:30",
                )
            ]
        age = time.time() - found[-1].stat().st_mtime
        if age > 2 * 24 * 3600:
            return [
                Check(
                    "backups",
                    WARNING,
                    f"the newest backup, {found[-1].name}, is {age / 86400:.0f} days old",
                    "is the bot running? check its log for “daily backup failed”",
                )
            ]
        return [Check("backups", OK, f"{len(found)} in {folder}, the newest {found[-1].name}")]

    async def check_disk(self) -> list[Check]:
        places = {"database": Path(self.settings.db).resolve().parent}
        if self.settings.backup_dir is not None:
            places["backups"] = Path(self.settings.backup_dir).resolve()
        checks = []
        for what, folder in places.items():
            existing = folder
            while not existing.exists() and existing != existing.parent:
                existing = existing.parent
            free = shutil.disk_usage(existing).free
            text = f"{free / 1024**3:.1f} GiB free under {folder}"
            if free < self.disk_error_bytes:
                checks.append(
                    Check(
                        f"disk ({what})",
                        ERROR,
                        text,
                        "free space, or move OFBOT_DB/OFBOT_BACKUP_DIR",
                    )
                )
            elif free < self.disk_warning_bytes:
                checks.append(Check(f"disk ({what})", WARNING, text, "free some space soon"))
            else:
                checks.append(Check(f"disk ({what})", OK, text))
        return checks
