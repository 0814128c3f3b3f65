"""`ofbot sandbox`: the whole product on one machine with no token and no network — fake
Telegram, Stripe and SMTP servers, the sample clubs, the real bot, and a chat in the terminal."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import datetime as dt
import io
import secrets
import signal
import sys
from pathlib import Path

from filelock import FileLock, Timeout

from bot.backups import BotRunning, run_lock
from bot.clock import Clock
from bot.runtime import Runtime, load_catalogue
from bot.settings import Settings

SANDBOX_TOKEN = "123456789:SANDBOX-not-a-real-token-000000000"
STAFF_CHAT = -1001000000001
CLUB_CONTACT = 1001
SECOND_CONTACT = 1002
STAFF = (9001, 9002)
SANDBOX_IDS = "telegram-ids.json"  # in the data directory: the fake Telegram's next ids
SAMPLE_CLUBS = Path(__file__).resolve().parent.parent / "data" / "clubs.csv"
# clubs.csv gives each subscription's end as seen on this day; the sandbox moves every end date by
# the days since, so the sample clubs are as near their renewal (and the README's walkthrough
# works the same) whatever day the sandbox starts.
SAMPLE_DATES_AS_OF = dt.date(2026, 11, 30)


def sample_clubs_csv(today: dt.date) -> str:
    """The sample clubs as CSV text, end dates moved from SAMPLE_DATES_AS_OF to `today`."""
    from bot.clubs import read_clubs_file

    rows = list(csv.DictReader(io.StringIO(read_clubs_file(SAMPLE_CLUBS))))
    shift = today - SAMPLE_DATES_AS_OF
    for row in rows:
        row["subscription_ends"] = (
            dt.date.fromisoformat(row["subscription_ends"]) + shift
        ).isoformat()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@dataclasses.dataclass
class Sandbox:
    """Everything `ofbot sandbox` started, so the terminal and the web page can reach it."""

    settings: Settings
    runtime: Runtime
    telegram: object
    telegram_server: object
    smtp: object
    stripe: object | None
    stripe_server: object | None

    # The sandbox page's address for Stripe's return links (t.me is unreachable offline); kept here
    # so a fresh bot after "reset" gets it too.
    checkout_return_url: str | None = None
    # The database's run lock (bot.backups.run_lock), as `ofbot run` holds it: `ofbot db restore`
    # refuses to replace the database under the sandbox's bot.
    lock: FileLock | None = None

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    def return_to(self, page_url: str) -> None:
        """Checkout's success and cancel links lead back to the sandbox page at `page_url`."""
        self.checkout_return_url = page_url.rstrip("/") + "/?start={payload}"
        self.runtime.services.checkout_return_url = self.checkout_return_url

    async def run_reminders(self) -> str:
        """Run today's reminders now (as the 09:00 job would), using the sandbox's clock."""
        from bot import reminders

        summary = await reminders.run_reminders(
            self.runtime.services, self.runtime.app.bot, self.clock.today()
        )
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(summary.skipped.items())) or "none"
        return (
            f"reminders for {summary.today.isoformat()}: sent {summary.sent}, "
            f"failed {summary.failed}, blocked {summary.blocked}; skipped: {skipped}"
        )

    async def stop(self) -> None:
        await self.runtime.stop()
        if self.stripe is not None:
            await self.stripe.close()
            await self.stripe_server.stop()
        await self.telegram.close()
        await self.telegram_server.stop()
        self.smtp.stop()
        if self.lock is not None:
            self.lock.release()


async def seed(settings: Settings) -> None:
    from bot.clubs import import_clubs
    from storage.db import open_database

    db = await open_database(settings.db)
    try:
        if not await db.fetchval("SELECT count(*) FROM clubs"):
            today = Clock(settings.tz).today()
            await import_clubs(
                db, sample_clubs_csv(today), set(load_catalogue(settings).plans), "sandbox"
            )
    finally:
        await db.close()


async def start_sandbox(base: Settings, data_dir: Path, *, reset: bool = False) -> Sandbox:
    """Start the stand-ins and a bot on `data_dir`/ofbot.sqlite3, holding its run lock.

    Raises BotRunning when another bot (a sandbox, `ofbot run`) holds that lock."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = run_lock(data_dir / "ofbot.sqlite3")
    try:
        lock.acquire()
    except Timeout:
        raise BotRunning(f"another bot is running on {data_dir / 'ofbot.sqlite3'}") from None
    try:
        return await _start_sandbox(base, data_dir, lock, reset=reset)
    except BaseException:
        lock.release()
        raise


async def _start_sandbox(base: Settings, data_dir: Path, lock: FileLock, *, reset: bool) -> Sandbox:
    from bot.sandbox.smtp import start_smtp
    from bot.sandbox.telegram import start_fake_telegram

    if reset:
        # The stand-ins keep their chats in memory: a fresh start begins from the sample data.
        for stale in data_dir.glob("ofbot.sqlite3*"):
            if not stale.name.endswith(".run.lock"):
                stale.unlink()
    # The fake Telegram's ids go on from the last run's (kept even by a reset: Telegram never
    # gives a bot an update id or a chat a message id again), so a kept database's saved update
    # ids and message ids never meet a new update or message with the same id.
    telegram, telegram_server = await start_fake_telegram(
        token=SANDBOX_TOKEN, ids_path=data_dir / SANDBOX_IDS
    )
    telegram.add_user(CLUB_CONTACT, "Jeanne (club)", language_code="fr", username="jeanne")
    telegram.add_user(SECOND_CONTACT, "John (club)", language_code="en", username="john")
    telegram.add_user(STAFF[0], "Alice (staff)", language_code="fr", username="alice")
    telegram.add_user(STAFF[1], "Bruno (staff)", language_code="fr", username="bruno")
    # A forum supergroup, as issue 18 recommends: each club gets its own topic.
    telegram.add_group(STAFF_CHAT, "OpenFlyers staff", members=list(STAFF), forum=True)
    # …where the bot must be an administrator with "Manage topics" (Bot API, createForumTopic).
    telegram.set_bot_member(STAFF_CHAT, "administrator", announce=False, can_manage_topics=True)
    smtp = await start_smtp()
    stripe = stripe_server = None
    stripe_url = base.stripe_api_url
    try:
        from bot.sandbox.stripe import start_fake_stripe
    except ImportError:
        start_fake_stripe = None
    if start_fake_stripe is not None:
        stripe, stripe_server = await start_fake_stripe(
            api_key="sk_test_sandbox", webhook_secret="whsec_sandbox"
        )
        stripe_url = stripe_server.url
    settings = dataclasses.replace(
        base,
        telegram_token=SANDBOX_TOKEN,
        telegram_api_url=telegram_server.url,
        db=data_dir / "ofbot.sqlite3",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_user=None,
        smtp_password=None,
        stripe_secret_key="sk_test_sandbox",
        stripe_webhook_secret="whsec_sandbox",
        stripe_api_url=stripe_url,
        staff_chat_id=STAFF_CHAT,
        staff_user_ids=frozenset(STAFF),
        http_port=0,
        telegram_secret_token=secrets.token_urlsafe(32),
    )
    await seed(settings)
    runtime = Runtime(settings, clock=Clock(settings.tz))
    await runtime.start()
    if stripe is not None:
        stripe.webhook_url = runtime.http.url + "/stripe/webhook"
    return Sandbox(
        settings, runtime, telegram, telegram_server, smtp, stripe, stripe_server, lock=lock
    )


async def run_sandbox(base: Settings, args) -> int:
    from bot.logs import configure_logging

    data_dir = Path(".sandbox")
    data_dir.mkdir(exist_ok=True)
    configure_logging([], path=data_dir / "ofbot.log")
    try:
        sandbox = await start_sandbox(base, data_dir, reset=not getattr(args, "keep", False))
    except BotRunning as exc:
        print(f"ofbot: {exc}", file=sys.stderr)
        return 1
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    tasks = []
    web = None
    with contextlib.suppress(ImportError):
        from bot.sandbox.web import start_web

        web = await start_web(sandbox, port=getattr(args, "port", 0))
        sandbox.return_to(web.url)
    print(f"OpenFlyers bot sandbox running (log: {data_dir / 'ofbot.log'}).")
    print(f"Bot HTTP server: {sandbox.runtime.http.url}")
    if web is not None:
        print(f"Open the sandbox page: {web.url}/")
    if not getattr(args, "no_terminal", False) and sys.stdin.isatty():
        from bot.sandbox.terminal import TerminalChat

        terminal = TerminalChat(sandbox, on_quit=stopping.set)
        tasks.append(asyncio.create_task(terminal.run()))
    else:
        print("Press Ctrl+C to stop.")
    try:
        await stopping.wait()
    finally:
        for task in tasks:
            task.cancel()
        if web is not None:
            await web.stop()
        await sandbox.stop()
    return 0


def advance_clock(sandbox: Sandbox, days: int) -> dt.date:
    """Move the date forward for the bot and for every stand-in: Stripe checks a session's
    `expires_at` and settles debits on its own clock, Telegram dates its messages; a bot a day
    ahead of them would be refused or misread (`:date +20`, "Move" on the sandbox page)."""
    seconds = days * 86400
    sandbox.clock.advance(dt.timedelta(days=days))
    if sandbox.stripe is not None:
        sandbox.stripe.advance_clock(seconds)
    if hasattr(sandbox.telegram, "date_offset"):
        sandbox.telegram.date_offset += seconds
    return sandbox.clock.today()


def align_clocks(sandbox: Sandbox) -> None:
    """After a reset (the bot's clock back to today): the stand-ins' clocks back to today too."""
    offset = sandbox.clock.offset.total_seconds()
    if sandbox.stripe is not None:
        sandbox.stripe.advance_clock(offset - sandbox.stripe._offset)
    if hasattr(sandbox.telegram, "date_offset"):
        sandbox.telegram.date_offset = offset
