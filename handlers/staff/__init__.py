"""The staff side: commands and buttons for OpenFlyers staff in the staff group (SPEC §4).

Every handler here checks OFBOT_STAFF_USER_IDS before acting."""

from __future__ import annotations

from telegram.ext import Application


def register(app: Application) -> None:
    """Staff handlers come in with the escalations capability."""
