"""The club side: one persistent ConversationHandler built from one module per flow.

Each flow module exposes `STATES` (state → handlers); `start` gives entry points and fallbacks."""

from __future__ import annotations

import warnings

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, CallbackQueryHandler, ConversationHandler
from telegram.warnings import PTBUserWarning

from handlers.club import account, identify, invoices, menu, reminders, renew, start, talk, verify

# Flow modules in priority order; `menu` last, since it answers menu entries not built yet.
FLOWS = (identify, verify, renew, invoices, account, talk, reminders, menu)


class ClubConversation(ConversationHandler):
    """The club conversation answers in private chats only, and never to an edited message.

    A club button pressed (or forged) in the staff group, or any group, is none of its business:
    its catch-alls would answer there and strip a staff card of its keyboard. An edit is not an
    answer to the step (handlers/edits.py passes corrections on to staff)."""

    def check_update(self, update: object):
        if not isinstance(update, Update) or update.edited_message is not None:
            return None
        chat = update.effective_chat
        if chat is None or chat.type != ChatType.PRIVATE:
            return None
        return super().check_update(update)


def build_conversation() -> ConversationHandler:
    states: dict[str, list] = {}
    for flow in FLOWS:
        for state, state_handlers in flow.STATES.items():
            states.setdefault(state, []).extend(state_handlers)
    with warnings.catch_warnings():
        # Buttons are tracked per chat on purpose: old buttons get a polite "no longer active".
        warnings.filterwarnings("ignore", message=".*per_message=False", category=PTBUserWarning)
        return ClubConversation(
            entry_points=start.entry_points(),
            states=states,
            fallbacks=start.fallbacks(),
            name="club",
            persistent=True,
            allow_reentry=False,  # /start is a fallback; catch-all entry points must not re-enter
        )


def _taken_before_club(update: object, app: Application) -> bool:
    """A press one of the handlers registered before the club conversation takes (a staff
    button, e.g. /club's "revoke" in a staff member's private chat): not a club button."""
    for handler in app.handlers.get(0, []):
        if isinstance(handler, ClubConversation):
            return False
        if handler.check_update(update):
            return True
    return False


async def guard_buttons(update: Update, context) -> None:
    """Before every handler: a club button under a message that is no longer current does
    nothing but say so (handlers/club/start.check_button)."""
    if not _taken_before_club(update, context.application):
        await start.check_button(update, context)


def register(app: Application) -> None:
    app.add_handler(CallbackQueryHandler(guard_buttons), group=-1)
    app.add_handler(build_conversation())
    # Club buttons pressed outside private chats: answered (the spinner stops), nothing done.
    app.add_handler(CallbackQueryHandler(start.button_elsewhere))
