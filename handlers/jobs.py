"""Scheduled work: the renewal reminders at 09:00 (OFBOT_TIMEZONE) on the Application's JobQueue.

The job only puts a `RemindersDue` object on the update queue; a TypeHandler runs it, so scheduled
work takes the same path as Telegram updates (one error handler, one place for concurrency)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from telegram.ext import Application, TypeHandler

from bot import reminders
from bot.context import BotContext
from storage import reminders as reminder_rows

log = logging.getLogger(__name__)

REMINDERS_AT = dt.time(9, 0)


@dataclasses.dataclass(frozen=True)
class RemindersDue:
    """A request to run the day's reminders; the day is read from services.clock when handled."""

    lock_key = ("reminders",)  # two queued runs never overlap (bot/updates.py)
    reason: str = "09:00"


async def queue_reminders(context: BotContext) -> None:
    """JobQueue callback: hand the run to the update queue."""
    await context.application.update_queue.put(RemindersDue(reason=str(context.job.data or "")))


async def run_due_reminders(update: RemindersDue, context: BotContext) -> None:
    """Run the reminders for the services clock's today, with the Application's bot."""
    services = context.services
    try:
        summary = await reminders.run_reminders(
            services,
            context.bot,
            services.clock.today(),
            trigger="job",
            # Shutting down: finish the sends in flight, leave the rest to the start-up catch-up.
            stop=lambda: not context.application.running,
        )
    except reminders.RunInProgress:
        log.warning("reminders (%s): another run is in progress; not started", update.reason)
        return
    log.info("reminders (%s): %s", update.reason, summary)


async def catch_up_reminders(app: Application) -> None:
    """Start-up hook: run the reminders now when the bot was down at 09:00 today after having
    run on an earlier day (a fresh database waits for 09:00; the daily job is bot/runtime.py's)."""
    services = app.bot_data["services"]
    now = services.clock.now()
    last = await reminder_rows.last_finished_run_date(services.db)
    if last is not None and last < now.date() and now.time() >= REMINDERS_AT:
        app.job_queue.run_once(queue_reminders, when=0, name="reminders-catch-up", data="catch-up")


def register(app: Application) -> None:
    app.add_handler(TypeHandler(RemindersDue, run_due_reminders))
