"""The error handler: a short apology to the user, a line with a reference to staff, the traceback in the log.

The reference ties the three together without putting personal data in the staff group."""

from __future__ import annotations

import logging
import secrets

from telegram import Update
from telegram.constants import ChatType, ParseMode
from telegram.error import NetworkError, TelegramError

from bot.context import BotContext
from handlers.common import lang_of

log = logging.getLogger(__name__)


async def on_error(update: object, context: BotContext) -> None:
    """Log, apologise, alert staff; never raise from here."""
    context.services.metrics.errors.labels(where="polling" if update is None else "handler").inc()
    if update is None and isinstance(context.error, NetworkError):
        log.warning("network problem while polling: %s", context.error)
        return
    reference = secrets.token_hex(4).upper()
    log.error("error [ref %s] on update %r", reference, update, exc_info=context.error)
    services = context.services
    try:
        if isinstance(update, Update) and update.effective_chat:
            chat = update.effective_chat
            if chat.type == ChatType.PRIVATE:
                await context.bot.send_message(
                    chat.id,
                    services.texts.render(
                        lang_of(update, context), "error/apology", reference=reference
                    ),
                    parse_mode=ParseMode.HTML,
                )
        if services.settings.staff_chat_id:
            await context.bot.send_message(
                services.settings.staff_chat_id,
                services.texts.render(
                    "fr",
                    "error/staff_alert",
                    reference=reference,
                    error=type(context.error).__name__,
                ),
                parse_mode=ParseMode.HTML,
            )
    except TelegramError:
        log.exception("could not report error [ref %s]", reference)
