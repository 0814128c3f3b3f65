"""One reminders run, from the 09:00 job, the CLI and the sandbox (one path for all).

Exactly once: a row keyed (club, period end, milestone, chat) is claimed ('pending') right before
the message goes out and marked after. Telegram has no idempotency key, so a run that dies between
the two leaves a row nobody can settle; the next run marks it 'unknown' and never sends it again
(at most once, reported to staff) rather than risk a duplicate. One run at a time (a file lock)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from bot.reminders.due import select_due
from bot.reminders.pacing import RunLock, SendPolicy
from bot.reminders.send import deliver_all
from bot.reminders.summary import Problem, Summary, report_to_staff
from bot.services import Services
from storage import contacts
from storage import reminders as rows

log = logging.getLogger(__name__)


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
        summary.complete = await deliver_all(
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


async def toggle_reminders(services: Services, club_id: int, chat_id: int) -> bool | None:
    """Turn this contact's reminders off if on, on if off; the new state, or None if no link."""
    contact = await contacts.get(services.db, club_id, chat_id)
    if contact is None:
        return None
    await contacts.set_reminders(services.db, club_id, chat_id, not contact.reminders_on)
    return not contact.reminders_on
