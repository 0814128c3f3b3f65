"""Starts and stops the whole bot in one asyncio process: database, Application, HTTP server,
and Telegram updates by long polling or webhook. Used by `ofbot run`, the sandbox and the tests."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import Update
from telegram.ext import Application

from bot import backups, club_records, contacts, escalations, payments, staff
from bot.app import build_application
from bot.clock import Clock
from bot.command_menu import cancel_command_menu, publish_command_menu
from bot.http import SERVER_LIMITS, build_http_app
from bot.mail import Mailer
from bot.metrics import Metrics
from bot.outbox import MailOutbox
from bot.sandbox.serve import RunningServer, start_server
from bot.services import Services
from bot.settings import Settings
from bot.staff_group import apply_stored_migrations
from bot.texts import Texts
from handlers import jobs
from storage.db import Database, open_database

log = logging.getLogger(__name__)

# Work to do once the Application runs, in this order; each is an `async def hook(app)`.
STARTUP_HOOKS: list[Callable[[Application], Awaitable[None]]] = [
    publish_command_menu,  # Telegram's command menu, set in the background
    payments.replay_on_startup,  # Stripe events stored but not processed, receipts not sent
    escalations.post_missing_cards_on_startup,  # request cards Telegram could not take before
    jobs.catch_up_reminders,  # today's reminders now, when the bot was down at 09:00
    backups.catch_up_backup,  # a backup now, when the last one is more than a day old
]


@dataclass(frozen=True)
class Job:
    """Scheduled work on the Application's JobQueue: `daily` at a time of OFBOT_TIMEZONE, or
    `every` so many seconds (the first run after `first`); only when `wanted(services)`."""

    name: str
    callback: Callable[..., Awaitable[None]]
    daily: dt.time | None = None
    every: float | None = None
    first: float | None = None
    data: str | None = None
    wanted: Callable[[Services], bool] = lambda services: True


# Every scheduled job. A job only puts an update on the queue or runs a service.
JOBS: list[Job] = [
    # The staff group's summary at 18:00.
    Job(
        "staff-summary",
        staff.summary_job,
        daily=staff.SUMMARY_TIME,
        wanted=lambda s: bool(s.settings.staff_chat_id),
    ),
    # Renewal reminders at 09:00.
    Job("reminders", jobs.queue_reminders, daily=jobs.REMINDERS_AT, data="09:00"),
    # Ask Stripe again: a missed webhook still ends in a paid invoice, unsent receipts go out.
    Job(
        "reconcile",
        payments.reconcile_job,
        every=payments.RECONCILE_INTERVAL,
        first=payments.RECONCILE_FIRST,
        wanted=lambda s: s.stripe is not None,
    ),
    # Request cards Telegram could not take when the request was recorded are posted.
    Job(
        "escalation-cards",
        escalations.post_missing_cards_job,
        every=escalations.CARD_RETRY_INTERVAL,
        first=escalations.CARD_RETRY_FIRST,
        wanted=lambda s: bool(s.settings.staff_chat_id),
    ),
    # The daily backup into OFBOT_BACKUP_DIR, keeping OFBOT_BACKUP_KEEP.
    Job(
        "backup",
        backups.backup_job,
        daily=backups.BACKUP_AT,
        wanted=lambda s: s.settings.backup_dir is not None,
    ),
    # OFBOT_CLUBS_SOURCE imported again every hour (and a second after start-up).
    Job(
        "clubs-source",
        club_records.clubs_source_job,
        every=club_records.SYNC_EVERY,
        first=1,
        wanted=lambda s: bool(s.settings.clubs_source),
    ),
    # Chats whose verified address changed (an import, the admin endpoint) are told.
    Job(
        "revocation-notices",
        contacts.revocation_notices_job,
        every=contacts.NOTICE_INTERVAL,
        first=1.0,
    ),
]
# The Stripe events the bot acts on are one table too: bot/payments/events.py (STRIPE_EVENTS);
# the HTTP routes are in bot/http.py, the Telegram handlers in handlers/__init__.py.


def schedule_jobs(app: Application) -> None:
    services: Services = app.bot_data["services"]
    if app.job_queue is None:
        log.info("no job queue: nothing scheduled")
        return
    for job in JOBS:
        if not job.wanted(services):
            log.info("job %s not scheduled (not configured)", job.name)
            continue
        if job.daily is not None:
            at = job.daily.replace(tzinfo=services.settings.tz)
            app.job_queue.run_daily(job.callback, time=at, name=job.name, data=job.data)
        else:
            app.job_queue.run_repeating(
                job.callback, interval=job.every, first=job.first, name=job.name, data=job.data
            )


def log_privacy_mode(me) -> None:
    """One line saying what the bot sees in groups (getMe's can_read_all_group_messages)."""
    if me.can_read_all_group_messages:
        log.info("privacy mode off: the bot sees every message in its groups")
    else:
        log.info(
            "privacy mode on: in groups the bot sees only commands, replies to its own messages "
            "and mentions, except where it is an administrator (a staff forum: it sees all); "
            "staff answer clubs and give refusal reasons by replying to the bot"
        )


def load_catalogue(settings: Settings):
    from bot.catalogue import load_catalogue as load

    return load(settings.catalogue)


class Runtime:
    """One running bot. `start()` returns once updates flow; `stop()` undoes it in reverse."""

    def __init__(self, settings: Settings, *, webhook: bool = False, clock: Clock | None = None):
        self.settings = settings
        self.webhook = webhook
        self.clock = clock or Clock(settings.tz)
        self.db: Database | None = None
        self.app: Application | None = None
        self.http: RunningServer | None = None

    @property
    def services(self) -> Services:
        return self.app.bot_data["services"]

    async def start(self) -> None:
        s = self.settings
        catalogue = load_catalogue(s)
        self.db = await open_database(s.db)
        metrics = Metrics(enabled=bool(s.metrics_token))  # read only through GET /metrics
        services = Services(
            metrics=metrics,
            settings=s,
            db=self.db,
            texts=Texts(),
            clock=self.clock,
            mailer=Mailer(s, metrics=metrics),
            catalogue=catalogue,
        )
        if s.stripe_secret_key:
            services.stripe, services.extra["stripe_http"] = payments.make_stripe_client(s)
        await apply_stored_migrations(services)
        self.app = build_application(services, polling=not self.webhook)
        await self.app.initialize()
        services.bot_username = self.app.bot.username
        log_privacy_mode(self.app.bot.bot)
        await self.app.start()
        # Mail goes out in the background (rows a previous run left first).
        services.outbox = MailOutbox(services, bot=self.app.bot)
        services.outbox.start()
        # Updates a flooding chat left in the inbox at the last stop come before new ones.
        replayed = await self.app.replay_inbox(await self.app.bot.inbox.pending())
        if replayed:
            log.info(
                "%s update(s) from the inbox queued again (those handled before are skipped)",
                replayed,
            )
        self.http = await start_server(
            build_http_app(self.app, webhook=self.webhook),
            s.http_host,
            s.http_port,
            **SERVER_LIMITS,
        )
        log.info("HTTP server on %s", self.http.url)
        if self.webhook:
            await self.app.bot.set_webhook(
                url=f"{s.public_url}/telegram/webhook",
                secret_token=s.telegram_secret_token,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            await self.app.updater.start_polling(
                poll_interval=0, timeout=30, allowed_updates=Update.ALL_TYPES
            )
        schedule_jobs(self.app)
        for hook in STARTUP_HOOKS:
            await hook(self.app)
        log.info(
            "bot @%s running (%s)", services.bot_username, "webhook" if self.webhook else "polling"
        )

    async def stop(self) -> None:
        if self.app is not None:
            cancel_command_menu(self.services)  # Application.stop() would wait for it
            if self.app.updater and self.app.updater.running:
                await self.app.updater.stop()
            if self.app.running:
                await self.app.stop()
            if self.services.outbox is not None:
                await self.services.outbox.stop()
        if self.http is not None:
            await self.http.stop()
            self.http = None
        if self.app is not None:
            stripe_http = self.services.extra.pop("stripe_http", None)
            if stripe_http is not None:
                await stripe_http.close_async()
            await self.app.shutdown()
            # After a failed initialize() (Bot API unreachable) PTB's shutdown() leaves the Bot
            # API sessions open; closing them again is harmless.
            for request in getattr(self.app, "bot_api_requests", ()):
                await request.shutdown()
            self.app = None
        if self.db is not None:
            await self.db.close()
            self.db = None
