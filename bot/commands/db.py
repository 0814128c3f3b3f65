"""`ofbot db backup FILE` and `ofbot db restore FILE` (SPEC §6): the command-line faces of
bot/backups.py; a refusal is one line on stderr and exit status 1."""

from __future__ import annotations

import asyncio
import sys


async def db_backup(settings, args) -> int:
    """`ofbot db backup FILE`: an online copy, safe while the bot runs."""
    from bot.backups import BackupError, backup_database

    try:
        report = await asyncio.to_thread(backup_database, settings.db, args.file)
    except BackupError as exc:
        print(f"ofbot: {exc}", file=sys.stderr)
        return 1
    print(f"backup written: {report.path} ({report.size} bytes, integrity_check ok)")
    return 0


async def db_restore(settings, args) -> int:
    """`ofbot db restore FILE`: refused while a bot runs on the database."""
    from bot.backups import BackupError, restore_database

    try:
        kept = await asyncio.to_thread(restore_database, args.file, settings.db)
    except BackupError as exc:
        print(f"ofbot: {exc}", file=sys.stderr)
        return 1
    print(f"restored {settings.db} from {args.file}")
    if kept is not None:
        print(f"the database it replaced is kept as {kept}")
    return 0
