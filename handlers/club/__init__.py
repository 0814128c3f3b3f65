"""The club side: one persistent ConversationHandler built from one module per flow.

Each flow module exposes `STATES` (state → handlers); `start` gives entry points and fallbacks."""

from __future__ import annotations

import warnings

from telegram.ext import Application, ConversationHandler
from telegram.warnings import PTBUserWarning

from handlers.club import account, identify, invoices, menu, reminders, renew, start, talk, verify

# Flow modules in priority order; `menu` last, since it answers menu entries not built yet.
FLOWS = (identify, verify, renew, invoices, account, talk, reminders, menu)


def build_conversation() -> ConversationHandler:
    states: dict[str, list] = {}
    for flow in FLOWS:
        for state, state_handlers in flow.STATES.items():
            states.setdefault(state, []).extend(state_handlers)
    with warnings.catch_warnings():
        # Buttons are tracked per chat on purpose: old buttons get a polite "no longer active".
        warnings.filterwarnings("ignore", message=".*per_message=False", category=PTBUserWarning)
        return ConversationHandler(
            entry_points=start.entry_points(),
            states=states,
            fallbacks=start.fallbacks(),
            name="club",
            persistent=True,
            allow_reentry=False,  # /start is a fallback; catch-all entry points must not re-enter
        )


def register(app: Application) -> None:
    app.add_handler(build_conversation())
