"""Renewal reminders (SPEC §5): which (club, milestone, chat) are due on a day (`due`), the send
loop that delivers each exactly once at Telegram's pace (`send`, `pacing`), one run (`run`) and
what it did (`summary`). `ofbot reminders run` is in bot/commands/reminders.py."""

from bot.reminders.due import (
    LAST_MILESTONE_WINDOW,
    MILESTONES,
    Delivery,
    Selection,
    due_window,
    milestone_due,
    milestone_label,
    select_due,
)
from bot.reminders.pacing import Pacer, RunInProgress, RunLock, SendPolicy
from bot.reminders.run import run_reminders, toggle_reminders
from bot.reminders.send import RENEW_CALLBACK, plan_label, render_reminder, send_reminder
from bot.reminders.summary import PROBLEMS_SHOWN, STATUSES, Problem, Summary, report_to_staff

__all__ = [
    "LAST_MILESTONE_WINDOW",
    "MILESTONES",
    "PROBLEMS_SHOWN",
    "RENEW_CALLBACK",
    "STATUSES",
    "Delivery",
    "Pacer",
    "Problem",
    "RunInProgress",
    "RunLock",
    "Selection",
    "SendPolicy",
    "Summary",
    "due_window",
    "milestone_due",
    "milestone_label",
    "plan_label",
    "render_reminder",
    "report_to_staff",
    "run_reminders",
    "select_due",
    "send_reminder",
    "toggle_reminders",
]
