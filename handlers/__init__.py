"""Telegram handlers grouped by who speaks: `club/` for club contacts, `staff/` for OpenFlyers staff.

`register(app)` is the one visible list of everything the bot answers to."""

from __future__ import annotations

from telegram.ext import Application

from handlers import club, edits, errors, jobs, staff, stripe


def register(app: Application) -> None:
    """Order matters: staff commands first (they answer in the staff group), then the club side.
    Edited messages are settled before anything else (group -1): they are never answers."""
    for handler in edits.HANDLERS:
        app.add_handler(handler, group=-1)
    staff.register(app)
    stripe.register(app)  # Stripe events (custom updates), never Telegram ones
    jobs.register(app)  # scheduled work (custom updates): the reminders
    club.register(app)
    app.add_error_handler(errors.on_error)
