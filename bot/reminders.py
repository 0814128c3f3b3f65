"""Renewal reminders (SPEC §5): which (club, milestone, chat) are due on a day, and the send loop
that delivers each exactly once at Telegram's pace; also `ofbot reminders run [--today] [--dry-run]`.

Exactly once: a row keyed (club, period end, milestone, chat) is claimed ('pending') right before
the message goes out and marked after. Telegram has no idempotency key, so a run that dies between
the two leaves a row nobody can settle; the next run marks it 'unknown' and never sends it again
(at most once, reported to staff) rather than risk a duplicate. One run at a time (a file lock)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import signal
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.services import Services
from storage import contacts
from storage import reminders as rows
from storage.reminders import Key

log = logging.getLogger(__name__)

# Days before the end date; -7 is "lapsed a week ago".
MILESTONES = (30, 15, 7, 1, 0, -7)
# The lapsed reminder stays due for a week, as each earlier one stays due until the next.
LAST_MILESTONE_WINDOW = 7
RENEW_CALLBACK = "renew:start"  # opens the renewal flow at the count step (handlers/club/renew)
STATUSES = ("sent", "blocked", "failed", "unknown")
# Staff see this many problem lines; the rest are counted.
PROBLEMS_SHOWN = 20


def milestone_label(milestone: int) -> str:
    return f"J+{-milestone}" if milestone < 0 else f"J-{milestone}"


def milestone_due(ends: dt.date, today: dt.date) -> int | None:
    """The latest milestone whose date is on or before `today`, while it is still the latest: after
    days of downtime only that one is due, never a burst of stale ones. None when none is."""
    days_left = (ends - today).days
    if days_left > MILESTONES[0] or days_left <= MILESTONES[-1] - LAST_MILESTONE_WINDOW:
        return None
    return min(m for m in MILESTONES if m >= days_left)


def due_window(today: dt.date) -> tuple[dt.date, dt.date]:
    """First and last end dates for which some milestone is due on `today`."""
    first = today + dt.timedelta(days=MILESTONES[-1] - LAST_MILESTONE_WINDOW + 1)
    return first, today + dt.timedelta(days=MILESTONES[0])


@dataclasses.dataclass(frozen=True)
class SendPolicy:
    """How fast and how hard the send loop tries. Defaults suit Telegram's documented limits."""

    rate: float = 29.0  # messages/s overall: just under Telegram's ~30 so jitter never trips it
    chat_interval: float = 1.0  # seconds between two messages to one chat
    concurrency: int = 8  # sends in flight: enough for Telegram's round trip at `rate`
    max_attempts: int = 3  # errors Telegram answered (5xx) or connections never made
    max_rate_waits: int = 10  # 429s waited out here, beyond the rate limiter's own retries
    backoff: float = 1.0  # seconds, times the attempt number
    read_timeout: float = 20.0


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One reminder to send: its key and what the message says."""

    key: Key
    subdomain: str
    club_name: str
    plan: str
    resources: int
    language: str
    days_left: int


@dataclasses.dataclass
class Selection:
    deliveries: list[Delivery]
    clubs_due: int
    skipped: Counter  # reason → recipients not sent to


@dataclasses.dataclass
class Problem:
    subdomain: str
    milestone: int
    chat_id: int
    status: str
    error: str

    def line(self) -> str:
        return (
            f"{self.subdomain} {milestone_label(self.milestone)} chat {self.chat_id}: {self.error}"
        )


@dataclasses.dataclass
class Summary:
    """What a run did; `str()` is the one-line form (sandbox page, logs)."""

    today: dt.date
    dry_run: bool = False
    run_id: int | None = None
    clubs_due: int = 0
    due: int = 0
    counts: Counter = dataclasses.field(default_factory=Counter)  # status → n
    skipped: Counter = dataclasses.field(default_factory=Counter)  # reason → n
    by_milestone: dict[int, Counter] = dataclasses.field(default_factory=dict)
    problems: list[Problem] = dataclasses.field(default_factory=list)
    recovered: list[Problem] = dataclasses.field(default_factory=list)  # pending → unknown
    planned: list[Delivery] = dataclasses.field(default_factory=list)  # dry run
    complete: bool = True  # False when stopped before every delivery was tried

    @property
    def sent(self) -> int:
        return self.counts["sent"]

    @property
    def failed(self) -> int:
        return self.counts["failed"]

    @property
    def blocked(self) -> int:
        return self.counts["blocked"]

    @property
    def unknown(self) -> int:
        return self.counts["unknown"]

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def add(self, delivery: Delivery, status: str, error: str | None = None) -> None:
        self.counts[status] += 1
        self.by_milestone.setdefault(delivery.key.milestone, Counter())[status] += 1
        if status != "sent":
            self.problems.append(
                Problem(
                    delivery.subdomain,
                    delivery.key.milestone,
                    delivery.key.chat_id,
                    status,
                    error or status,
                )
            )

    def milestones(self) -> list[tuple[str, dict[str, int]]]:
        """(label, status → n) in calendar order, for the templates."""
        return [
            (milestone_label(m), dict(self.by_milestone[m]))
            for m in MILESTONES
            if m in self.by_milestone
        ]

    def worth_reporting(self) -> bool:
        return bool(self.due or self.recovered)

    def as_dict(self) -> dict:
        return {
            "today": self.today.isoformat(),
            "dry_run": self.dry_run,
            "clubs_due": self.clubs_due,
            "due": self.due,
            **{status: self.counts[status] for status in STATUSES},
            "skipped": dict(self.skipped),
            "by_milestone": {milestone_label(m): dict(c) for m, c in self.by_milestone.items()},
            "problems": [p.line() for p in self.problems],
            "recovered": [p.line() for p in self.recovered],
            "complete": self.complete,
        }

    def __str__(self) -> str:
        if self.dry_run:
            head = f"{self.today.isoformat()} dry run: {len(self.planned)} would be sent"
        else:
            head = (
                f"{self.today.isoformat()}: sent {self.sent}, skipped {self.skipped_total}, "
                f"failed {self.failed}, blocked {self.blocked}, unknown {self.unknown}"
            )
        parts = [head]
        if self.by_milestone:
            parts.append(
                ", ".join(
                    f"{label} {counts.get('sent', 0)}/{sum(counts.values())}"
                    for label, counts in self.milestones()
                )
            )
        if self.recovered:
            parts.append(f"{len(self.recovered)} left unsettled by an interrupted run")
        if not self.complete:
            parts.append("stopped early: the rest stays due")
        return " — ".join(parts)


class RunInProgress(Exception):
    """Another reminders run holds the lock (the 09:00 job, an operator, the sandbox)."""

    def __init__(self) -> None:
        super().__init__("another reminders run is in progress")


# -- selection -------------------------------------------------------------------------------


async def select_due(services: Services, today: dt.date) -> Selection:
    """Every (club, milestone, chat) due on `today` and not handled yet, most urgent first."""
    first, last = due_window(today)
    found = await rows.candidates(services.db, first, last)
    done = await rows.existing(services.db, first, last)
    handled_milestones: dict[tuple[int, dt.date, int], set[int]] = {}
    for key, status in done.items():
        if status != "failed":
            handled_milestones.setdefault((key.club_id, key.period_end, key.chat_id), set()).add(
                key.milestone
            )
    deliveries: list[Delivery] = []
    skipped: Counter = Counter()
    clubs: set[int] = set()
    for c in found:
        # A paid renewal moves subscription_ends a year on (record_payment), so the club's current
        # end date is the period: a renewed club falls out of the window by itself.
        milestone = milestone_due(c.subscription_ends, today)
        if milestone is None:
            continue
        if c.renewed:
            skipped["renewed"] += 1
            continue
        clubs.add(c.club_id)
        if c.chat_id is None:
            skipped["no_contact"] += 1
            continue
        if not c.active:
            skipped["inactive"] += 1
            continue
        if not c.reminders_on:
            skipped["reminders_off"] += 1
            continue
        handled = handled_milestones.get((c.club_id, c.subscription_ends, c.chat_id), set())
        if milestone in handled:
            skipped["already_handled"] += 1
            continue
        if any(m < milestone for m in handled):
            # The clock went back (--today in the past): a later milestone went out already.
            skipped["superseded"] += 1
            continue
        deliveries.append(
            Delivery(
                key=Key(c.club_id, c.subscription_ends, milestone, c.chat_id),
                subdomain=c.subdomain,
                club_name=c.name,
                plan=c.plan,
                resources=c.active_resources,
                language=c.language or "fr",
                days_left=(c.subscription_ends - today).days,
            )
        )
    return Selection(deliveries=deliveries, clubs_due=len(clubs), skipped=skipped)


# -- rendering -------------------------------------------------------------------------------


def plan_label(services: Services, plan_id: str, lang: str) -> str:
    plan = services.catalogue.plans.get(plan_id) if services.catalogue else None
    return plan.label(lang) if plan else plan_id


def render_reminder(services: Services, delivery: Delivery) -> tuple[str, InlineKeyboardMarkup]:
    lang = delivery.language
    text = services.texts.render(
        lang,
        "reminders/reminder",
        club=delivery.club_name,
        plan=plan_label(services, delivery.plan, lang),
        ends=delivery.key.period_end,
        days=delivery.days_left,
        resources=delivery.resources,
    )
    label = services.texts.render(lang, "button/renew_now")
    button = InlineKeyboardButton(label, callback_data=RENEW_CALLBACK)
    return text, InlineKeyboardMarkup([[button]])


# -- the send loop ---------------------------------------------------------------------------


class Pacer:
    """Hands out send slots `1/rate` seconds apart, with no burst.

    Uses the event loop's monotonic time: pacing is about real seconds, not the business clock."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_slot = 0.0

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self.next_slot)
        self.next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


def _surely_not_delivered(exc: NetworkError) -> bool:
    """True when Telegram cannot have carried the request out: it answered with an error (no
    httpx exception behind it), or the connection was never made. A read timeout or a dropped
    connection leaves it unknown."""
    origin = exc.__cause__ or exc.__context__
    if origin is None:
        return True
    return isinstance(origin, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _seconds(value: int | float | dt.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


async def send_reminder(
    bot, chat_id: int, text: str, markup: InlineKeyboardMarkup, policy: SendPolicy, pacer: Pacer
) -> tuple[str, int | None, str | None, int]:
    """(status, message id, error, attempts). The caller has taken the first pace slot."""
    attempts = 0
    rate_waits = 0
    extra = {"rate_limit_args": policy.max_rate_waits} if getattr(bot, "rate_limiter", None) else {}
    while True:
        if attempts or rate_waits:
            await pacer.wait()
        attempts += 1
        try:
            message = await bot.send_message(
                chat_id=chat_id,
                text=text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                read_timeout=policy.read_timeout,
                **extra,
            )
            return "sent", message.message_id, None, attempts
        except RetryAfter as exc:
            # The rate limiter already waited its retries out; keep waiting, a bounded number.
            attempts -= 1
            if rate_waits >= policy.max_rate_waits:
                return "failed", None, f"429 Too Many Requests after {rate_waits} waits", attempts
            rate_waits += 1
            await asyncio.sleep(_seconds(exc.retry_after) + 0.1)
        except Forbidden as exc:
            return "blocked", None, exc.message, attempts
        except BadRequest as exc:
            return "failed", None, exc.message, attempts
        except InvalidToken:
            raise
        except NetworkError as exc:  # includes TimedOut
            if not _surely_not_delivered(exc):
                kind = "timeout" if isinstance(exc, TimedOut) else "network error"
                return "unknown", None, f"{kind}, may have been delivered: {exc.message}", attempts
            if attempts >= policy.max_attempts:
                return "failed", None, exc.message, attempts
            await asyncio.sleep(policy.backoff * attempts)
        except TelegramError as exc:
            if attempts >= policy.max_attempts:
                return "failed", None, exc.message, attempts
            await asyncio.sleep(policy.backoff * attempts)


async def _deliver_all(
    services: Services,
    bot,
    deliveries: list[Delivery],
    *,
    run_id: int,
    today: dt.date,
    policy: SendPolicy,
    summary: Summary,
    progress: Callable[[int, int], None] | None,
    stop: Callable[[], bool] | None,
) -> bool:
    """One worker per chat at a time (so one chat's messages are `chat_interval` apart).
    True when every delivery was tried; False when `stop()` turned true first."""
    by_chat: dict[int, list[Delivery]] = {}
    for delivery in deliveries:
        by_chat.setdefault(delivery.key.chat_id, []).append(delivery)
    queue: asyncio.Queue[list[Delivery]] = asyncio.Queue()
    for group in by_chat.values():
        queue.put_nowait(group)
    pacer = Pacer(policy.rate)
    loop = asyncio.get_running_loop()
    done = 0
    total = len(deliveries)

    def advance() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    async def deliver(delivery: Delivery) -> str:
        text, markup = render_reminder(services, delivery)
        await pacer.wait()
        claimed = await rows.claim(
            services.db, delivery.key, run_id=run_id, run_date=today, language=delivery.language
        )
        if not claimed:
            summary.skipped["already_handled"] += 1
            return "skipped"
        try:
            status, message_id, error, attempts = await send_reminder(
                bot, delivery.key.chat_id, text, markup, policy, pacer
            )
        except InvalidToken:
            # Refused before anything was sent; the whole run stops (every send would fail).
            await rows.finish(services.db, delivery.key, "failed", attempts=1, error="bad token")
            raise
        await rows.finish(
            services.db,
            delivery.key,
            status,
            attempts=attempts,
            message_id=message_id,
            error=error,
        )
        if status == "blocked":
            await contacts.set_active(services.db, delivery.key.chat_id, False)
        if status != "sent":
            log.warning(
                "reminder %s %s to chat %s: %s %s",
                delivery.subdomain,
                milestone_label(delivery.key.milestone),
                delivery.key.chat_id,
                status,
                error,
            )
        summary.add(delivery, status, error)
        return status

    stopped = False

    async def worker() -> None:
        nonlocal stopped
        while not queue.empty():
            group = queue.get_nowait()
            last_sent: float | None = None
            for index, delivery in enumerate(group):
                if stop is not None and stop():
                    # Shutting down: claim nothing more; what is left stays due for the next run.
                    stopped = True
                    summary.skipped["not_reached"] += len(group) - index
                    break
                if last_sent is not None:
                    await asyncio.sleep(max(0.0, last_sent + policy.chat_interval - loop.time()))
                status = await deliver(delivery)
                advance()
                last_sent = loop.time()
                if status == "blocked":
                    # The chat blocked the bot: its other clubs' reminders would fail the same way.
                    summary.skipped["inactive"] += len(group) - index - 1
                    for _ in group[index + 1 :]:
                        advance()
                    break

    try:
        async with asyncio.TaskGroup() as tasks:
            for _ in range(min(policy.concurrency, len(by_chat))):
                tasks.create_task(worker())
    except ExceptionGroup as group:
        raise group.exceptions[0] from None
    while not queue.empty():
        summary.skipped["not_reached"] += len(queue.get_nowait())
    return not stopped


class RunLock:
    """One run at a time per database, across processes: an exclusive `flock` on a file next to
    the database, released by the kernel when a process dies (kill -9 included)."""

    def __init__(self, db_path: Path) -> None:
        self.path = None if str(db_path) == ":memory:" else Path(f"{db_path}.reminders.lock")
        self.fd: int | None = None

    def acquire(self) -> None:
        if self.path is None:
            return
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunInProgress() from None
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


async def run_reminders(
    services: Services,
    bot,
    today: dt.date,
    dry_run: bool = False,
    *,
    trigger: str = "job",
    policy: SendPolicy | None = None,
    progress: Callable[[int, int], None] | None = None,
    report: bool = True,
    stop: Callable[[], bool] | None = None,
) -> Summary:
    """The day's reminders, from the 09:00 job, the CLI and the sandbox (one path for all).

    `dry_run` selects and returns what would be sent, and writes and sends nothing. `report`
    posts the summary to the staff group when there was something to do. `stop` (the bot shutting
    down, Ctrl-C): checked before each claim; a run stopped early is not recorded as finished,
    so the bot's start-up catch-up runs it again. Raises RunInProgress."""
    policy = policy or SendPolicy()
    summary = Summary(today=today, dry_run=dry_run)
    if dry_run:
        selection = await select_due(services, today)
        summary.clubs_due, summary.due = selection.clubs_due, len(selection.deliveries)
        summary.skipped.update(selection.skipped)
        summary.planned = selection.deliveries
        summary.recovered = [
            _problem(row) for row in await rows.rows(services.db, status="pending")
        ]
        return summary
    lock = RunLock(services.db.path)
    lock.acquire()
    try:
        summary.recovered = [_problem(row) for row in await rows.recover_pending(services.db)]
        summary.run_id = await rows.start_run(services.db, today, trigger)
        selection = await select_due(services, today)
        summary.clubs_due, summary.due = selection.clubs_due, len(selection.deliveries)
        summary.skipped.update(selection.skipped)
        log.info("reminders for %s: %d due to %d clubs", today, summary.due, summary.clubs_due)
        summary.complete = await _deliver_all(
            services,
            bot,
            selection.deliveries,
            run_id=summary.run_id,
            today=today,
            policy=policy,
            summary=summary,
            progress=progress,
            stop=stop,
        )
        await rows.finish_run(
            services.db, summary.run_id, summary.as_dict(), complete=summary.complete
        )
    finally:
        lock.release()
    log.info("reminders done: %s", summary)
    if report and summary.worth_reporting():
        await report_to_staff(services, bot, summary)
    return summary


def _problem(row: rows.Row) -> Problem:
    return Problem(
        row.subdomain, row.key.milestone, row.key.chat_id, "unknown", "the run ended while sending"
    )


async def report_to_staff(services: Services, bot, summary: Summary) -> None:
    """The run's summary in the staff group; a failure here is logged, never raised."""
    chat_id = services.settings.staff_chat_id
    if not chat_id:
        return
    problems = summary.problems + summary.recovered
    text = services.texts.render(
        "fr",
        "reminders/staff_summary",
        today=summary.today,
        sent=summary.sent,
        skipped=dict(summary.skipped),
        failed=summary.failed,
        blocked=summary.blocked,
        unknown=summary.unknown,
        recovered=len(summary.recovered),
        milestones=summary.milestones(),
        problems=[p.line() for p in problems[:PROBLEMS_SHOWN]],
        more=max(0, len(problems) - PROBLEMS_SHOWN),
    )
    try:
        await bot.send_message(chat_id=chat_id, text=text, parse_mode=ParseMode.HTML)
    except TelegramError:
        log.exception("could not post the reminders summary to the staff group")


async def toggle_reminders(services: Services, club_id: int, chat_id: int) -> bool | None:
    """Turn this contact's reminders off if on, on if off; the new state, or None if no link."""
    contact = await contacts.get(services.db, club_id, chat_id)
    if contact is None:
        return None
    await contacts.set_reminders(services.db, club_id, chat_id, not contact.reminders_on)
    return not contact.reminders_on


# -- `ofbot reminders run` -------------------------------------------------------------------


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


def _print_report(summary: Summary, out=sys.stdout) -> None:
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
    from telegram.ext import AIORateLimiter, ExtBot

    from bot.telegram_http import AiohttpRequest

    api = settings.telegram_api_url
    return ExtBot(
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


async def _cmd_reminders_run(settings, args) -> int:
    from bot.clock import Clock
    from bot.mail import Mailer
    from bot.runtime import load_catalogue
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
        catalogue=load_catalogue(settings),
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
    _print_report(summary)
    return 1 if summary.failed or summary.unknown or not summary.complete else 0


def _register() -> None:
    from bot.cli import register_command

    register_command("reminders", "run", _cmd_reminders_run)


_register()
