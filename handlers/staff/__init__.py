"""The staff side: commands and buttons for OpenFlyers staff in the staff group (SPEC §4).

Every handler here checks OFBOT_STAFF_USER_IDS before acting."""

from __future__ import annotations

from telegram.ext import Application

from handlers.staff import cards, commands, refunds, relay, topics


def register(app: Application) -> None:
    """Cards' and refunds' buttons, commands (/club /paid /pending /stats /close), the forum's
    topics closed or reopened and the bot's rights, then staff group messages (replies routed back
    to clubs, refusal reasons); all before the club conversation."""
    for handler in (
        *cards.HANDLERS,
        *refunds.HANDLERS,
        *commands.HANDLERS,
        *topics.HANDLERS,
        *relay.HANDLERS,
    ):
        app.add_handler(handler)
