"""The `ofbot` command line (SPEC §6): run the bot, migrate, import and show clubs, reminders,
payments reconciliation, and the offline sandbox. Settings problems end in one line naming them."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

try:
    import uvloop
except ImportError:  # Windows: asyncio's own loop
    uvloop = None

from bot.logs import configure_logging
from bot.settings import Settings, SettingsError, load_settings

log = logging.getLogger("ofbot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ofbot", description="OpenFlyers client-account bot")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the bot (long polling, or --webhook)")
    run.add_argument("--webhook", action="store_true", help="receive updates on the HTTP server")

    doctor = sub.add_parser("doctor", help="check Telegram, Stripe, mail, catalogue, database")
    doctor.add_argument(
        "--webhook",
        action="store_true",
        help="the bot runs with `ofbot run --webhook` (default: long polling)",
    )

    db = sub.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("migrate", help="apply pending schema migrations")
    backup = db.add_parser("backup", help="copy the database to FILE (safe while the bot runs)")
    backup.add_argument("file", type=Path)
    restore = db.add_parser("restore", help="replace the database by FILE (bot stopped)")
    restore.add_argument("file", type=Path)

    clubs = sub.add_parser("clubs", help="club records").add_subparsers(
        dest="action", required=True
    )
    imp = clubs.add_parser("import", help="import (upsert) club records from a CSV file")
    imp.add_argument("file", type=Path)
    show = clubs.add_parser("show", help="show one club record")
    show.add_argument("subdomain")

    rem = sub.add_parser("reminders", help="renewal reminders")
    rem = rem.add_subparsers(dest="action", required=True)
    remrun = rem.add_parser("run", help="send today's due reminders")
    remrun.add_argument("--today", type=dt.date.fromisoformat, help="YYYY-MM-DD (default: today)")
    remrun.add_argument("--dry-run", action="store_true", help="show what would be sent")

    pay = sub.add_parser("payments", help="payments").add_subparsers(dest="action", required=True)
    pay.add_parser("reconcile", help="ask Stripe about open checkout sessions")

    inv = sub.add_parser("invoices", help="invoices").add_subparsers(dest="action", required=True)
    export = inv.add_parser(
        "export", help="CSV of the invoices and credit notes issued in a date range"
    )
    export.add_argument(
        "--from", dest="date_from", type=dt.date.fromisoformat, required=True, help="YYYY-MM-DD"
    )
    export.add_argument(
        "--to", dest="date_to", type=dt.date.fromisoformat, required=True, help="YYYY-MM-DD"
    )
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")

    sandbox = sub.add_parser("sandbox", help="the whole product offline, with sample data")
    sandbox.add_argument("--port", type=int, default=0, help="web page port (default: free port)")
    sandbox.add_argument("--no-terminal", action="store_true", help="no terminal chat")
    sandbox.add_argument(
        "--keep",
        action="store_true",
        help="keep the previous sandbox database (default: sample data)",
    )
    return parser


async def _cmd_migrate(settings: Settings, args) -> int:
    from storage.db import Database

    db = await Database.open(settings.db)
    try:
        applied = await db.migrate()
    finally:
        await db.close()
    print(f"applied: {', '.join(applied)}" if applied else "database is up to date")
    return 0


def _plan_ids(settings: Settings) -> set[str]:
    from bot.catalogue import load_catalogue

    return set(load_catalogue(settings.catalogue).plans)


async def _cmd_clubs_import(settings: Settings, args) -> int:
    from bot.clubs import ClubImportError, import_clubs, read_clubs_file
    from storage.db import open_database

    plan_ids = _plan_ids(settings)
    if not args.file.is_file():
        print(f"ofbot: {args.file}: no such file", file=sys.stderr)
        return 1
    db = await open_database(settings.db)
    try:
        report = await import_clubs(db, read_clubs_file(args.file), plan_ids)
    except ClubImportError as exc:
        for line, message in exc.problems:
            print(f"{args.file}:{line}: {message}", file=sys.stderr)
        print("nothing imported", file=sys.stderr)
        return 1
    finally:
        await db.close()
    print(
        f"imported: {report.created} created, {report.updated} updated, {report.unchanged} unchanged"
    )
    return 0


async def _cmd_clubs_show(settings: Settings, args) -> int:
    from storage import clubs as club_rows
    from storage.db import open_database

    db = await open_database(settings.db)
    try:
        club = await club_rows.get_by_subdomain(db, args.subdomain.strip().lower())
    finally:
        await db.close()
    if club is None:
        print(f"ofbot: no club with subdomain {args.subdomain!r}", file=sys.stderr)
        return 1
    for key, value in club.as_record().items():
        print(f"{key}: {'' if value is None else value}")
    print(f"subscribed_resources: {club.subscribed_resources or ''}")
    return 0


async def _serve_until_signal(
    start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
) -> int:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await start()
        await stopping.wait()
        log.info("stopping")
    finally:
        await stop()
    return 0


async def _cmd_run(settings: Settings, args) -> int:
    from filelock import Timeout

    from bot.backups import run_lock
    from bot.lazy_imports import missing_libraries
    from bot.runtime import Runtime

    settings.require("OFBOT_TELEGRAM_TOKEN")
    if args.webhook:
        settings.require("OFBOT_PUBLIC_URL", "OFBOT_TELEGRAM_SECRET_TOKEN")
    if missing := missing_libraries():  # imported on first use: checked now, not at first use
        return _fail(f"not installed: {'; '.join(missing)}. Install ofbot again", 1)
    lock = run_lock(settings.db)
    try:
        lock.acquire()
    except Timeout:
        print(
            f"ofbot: another bot is running on {settings.db} (or a restore is under way)",
            file=sys.stderr,
        )
        return 1
    try:
        runtime = Runtime(settings, webhook=args.webhook)

        async def start() -> None:
            await runtime.start()
            # Start-up ran with the cyclic garbage collector off (see main): what it built lives
            # as long as the process, so it is frozen (never scanned again) and the collector
            # turned back on for what handling updates creates.
            gc.freeze()
            gc.enable()

        return await _serve_until_signal(start, runtime.stop)
    finally:
        lock.release()


# The bodies of feature commands (bot/commands/) are imported when their command runs: `ofbot run`
# does not pay for the reminders' or the doctor's imports.
async def _cmd_doctor(settings: Settings, args) -> int:
    from bot.commands.doctor import doctor

    return await doctor(settings, args)


async def _cmd_db_backup(settings: Settings, args) -> int:
    from bot.commands.db import db_backup

    return await db_backup(settings, args)


async def _cmd_db_restore(settings: Settings, args) -> int:
    from bot.commands.db import db_restore

    return await db_restore(settings, args)


async def _cmd_reminders_run(settings: Settings, args) -> int:
    from bot.commands.reminders import reminders_run

    return await reminders_run(settings, args)


async def _cmd_payments_reconcile(settings: Settings, args) -> int:
    from bot.commands.payments import payments_reconcile

    return await payments_reconcile(settings, args)


async def _cmd_invoices_export(settings: Settings, args) -> int:
    from bot.commands.invoices import invoices_export

    return await invoices_export(settings, args)


async def _cmd_sandbox(settings: Settings, args) -> int:
    from bot.sandbox.run import run_sandbox

    return await run_sandbox(settings, args)


# Every `ofbot` command: (command, action) → async fn(settings, args) → exit code. The one list;
# features never add themselves (their bodies are in bot/commands/).
COMMANDS: dict[tuple[str, str | None], Callable] = {
    ("run", None): _cmd_run,
    ("doctor", None): _cmd_doctor,
    ("db", "migrate"): _cmd_migrate,
    ("db", "backup"): _cmd_db_backup,
    ("db", "restore"): _cmd_db_restore,
    ("clubs", "import"): _cmd_clubs_import,
    ("clubs", "show"): _cmd_clubs_show,
    ("reminders", "run"): _cmd_reminders_run,
    ("payments", "reconcile"): _cmd_payments_reconcile,
    ("invoices", "export"): _cmd_invoices_export,
    ("sandbox", None): _cmd_sandbox,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"ofbot: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.secrets(), fmt=settings.log_format)
    command = COMMANDS.get((args.command, getattr(args, "action", None)))
    if command is None:
        print(f"ofbot: {args.command} is not available yet", file=sys.stderr)
        return 2
    if command is _cmd_run:
        # Start-up builds some hundred thousand objects that live as long as the process
        # (modules, the stored conversations): the cyclic collector would scan them again and
        # again while they are built (~60 ms of CPU before the first update). Turned back on
        # once the bot runs (_cmd_run), or when the command ends.
        gc.disable()
    from telegram.error import NetworkError

    from bot.catalogue import CatalogueError

    try:
        # uvloop: the event loop's own work (sockets, wake-ups from the SQLite thread) costs
        # about half of asyncio's; the bot's CPU per update is mostly such work (bench/README.md).
        with asyncio.Runner(loop_factory=uvloop.new_event_loop if uvloop else None) as runner:
            code = runner.run(command(settings, args))
        sys.stdout.flush()  # a closed pipe is found here, not at exit
        return code
    except SettingsError as exc:
        return _fail(str(exc), 2)
    except CatalogueError as exc:
        return _fail(f"setting OFBOT_CATALOGUE: {exc}", 2)
    except BrokenPipeError:
        # `ofbot … | head`: the reader left; nothing more to say, as any Unix tool does.
        # Python docs, signal — "Note on SIGPIPE": stdout goes to devnull so the exit's
        # flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by it
    except NetworkError as exc:  # telegram.error.TimedOut is one
        return _fail(f"the Telegram Bot API at {settings.telegram_api_url} failed: {exc}", 1)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}", 1)
    except KeyboardInterrupt:
        return 130
    finally:
        gc.enable()


def _fail(message: str, code: int) -> int:
    """The one line a failed command prints (SPEC §6), and its exit code."""
    print(f"ofbot: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
