"""`ofbot reminders run [--today] [--dry-run]`: one run from the command line, with a progress
bar on a terminal, a report on stdout, and Ctrl-C finishing the sends in flight."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from telegram.error import InvalidToken

from bot.reminders import RunInProgress, SendPolicy, Summary, milestone_label, run_reminders
from bot.services import Services


class ProgressBar:
    """A one-line bar on stderr, redrawn at most every percent."""

    def __init__(self, stream=sys.stderr, width: int = 40) -> None:
        self.stream = stream
        self.width = width
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = done * 100 // total if total else 100
        if percent == self.shown and done != total:
            return
        self.shown = percent
        filled = self.width * done // total if total else self.width
        bar = "█" * filled + "·" * (self.width - filled)
        self.stream.write(f"\rreminders [{bar}] {done}/{total} {percent:3d}%")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def print_report(summary: Summary, out=sys.stdout) -> None:
    if summary.dry_run:
        print(f"dry run for {summary.today.isoformat()}: nothing sent, nothing written", file=out)
        for d in summary.planned:
            print(
                f"  {d.subdomain:<24} {milestone_label(d.key.milestone):<5} "
                f"ends {d.key.period_end.isoformat()} ({d.days_left:+d} d)  "
                f"chat {d.key.chat_id}  {d.language}",
                file=out,
            )
        print(f"{len(summary.planned)} would be sent to {summary.clubs_due} due clubs", file=out)
    else:
        print(f"reminders for {summary.today.isoformat()} (run {summary.run_id})", file=out)
        print(
            f"  sent {summary.sent}, failed {summary.failed}, blocked {summary.blocked}, "
            f"unknown {summary.unknown}",
            file=out,
        )
        for label, counts in summary.milestones():
            detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            print(f"  {label}: {detail}", file=out)
        if not summary.complete:
            print("  stopped early: what was not reached stays due for the next run", file=out)
    if summary.skipped:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(summary.skipped.items()))
        print(f"  skipped: {detail}", file=out)
    for problem in summary.problems:
        print(f"  {problem.status}: {problem.line()}", file=out)
    for problem in summary.recovered:
        verb = "would be marked unknown" if summary.dry_run else "unknown"
        print(f"  {verb} (interrupted run): {problem.line()}", file=out)


def build_cli_bot(settings, policy: SendPolicy):
    """The Bot API client of `ofbot reminders run`: the app's address and a rate limiter, no
    updater (the running bot keeps polling on its own)."""
    from telegram.ext import AIORateLimiter

    from bot.notices import CommandExtBot
    from bot.telegram_http import AiohttpRequest

    api = settings.telegram_api_url
    return CommandExtBot(
        settings.telegram_token,
        base_url=f"{api}/bot",
        base_file_url=f"{api}/file/bot",
        request=AiohttpRequest(
            pool_size=policy.concurrency + 2,
            connect_timeout=10,
            read_timeout=policy.read_timeout,
            write_timeout=15,
            pool_timeout=10,
        ),
        rate_limiter=AIORateLimiter(max_retries=3),
    )


async def reminders_run(settings, args) -> int:
    from bot.catalogue import load_catalogue
    from bot.clock import Clock
    from bot.mail import Mailer
    from bot.notices import record_into
    from bot.texts import Texts
    from storage.db import open_database

    clock = Clock(settings.tz)
    today = args.today or clock.today()
    policy = SendPolicy()
    if not args.dry_run:
        settings.require("OFBOT_TELEGRAM_TOKEN")
    db = await open_database(settings.db)
    services = Services(
        settings=settings,
        db=db,
        texts=Texts(),
        clock=clock,
        mailer=Mailer(settings),
        catalogue=load_catalogue(settings.catalogue),
    )
    progress = ProgressBar() if sys.stderr.isatty() and not args.dry_run else None
    # Ctrl-C or SIGTERM: finish the sends in flight, claim no more (a second Ctrl-C is abrupt).
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stopping.is_set():
            loop.remove_signal_handler(sig)
            signal.raise_signal(sig)
            return
        print("\nofbot: stopping after the messages in flight…", file=sys.stderr)
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        if args.dry_run:
            summary = await run_reminders(services, None, today, dry_run=True)
        else:
            bot = build_cli_bot(settings, policy)
            record_into(bot, db)  # the running bot learns a reminder came below its messages
            async with bot:
                summary = await run_reminders(
                    services,
                    bot,
                    today,
                    trigger="cli",
                    policy=policy,
                    progress=progress,
                    stop=stopping.is_set,
                )
    except RunInProgress as exc:
        print(f"ofbot: {exc}", file=sys.stderr)
        return 1
    except InvalidToken:
        print("ofbot: setting OFBOT_TELEGRAM_TOKEN: refused by the Bot API", file=sys.stderr)
        return 2
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        with contextlib.suppress(Exception):
            await db.close()
    print_report(summary)
    return 1 if summary.failed or summary.unknown or not summary.complete else 0
