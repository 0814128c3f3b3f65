"""Edited messages (Telegram's `edited_message`): never an answer to a step or a command again.

In a conversation with staff, an edit reaches the other side once, marked as a correction and
threaded under the copy it corrects; everything else edited is left alone."""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, MessageHandler, filters

from bot import relay
from bot.context import BotContext

log = logging.getLogger(__name__)


async def on_edited(update: Update, context: BotContext) -> None:
    """Pass a correction on when the edited message was relayed; then stop: no other handler
    (conversation steps, commands) ever sees an edit. The club conversation and the staff
    handlers refuse edits on their own as well (handlers.club.ClubConversation, filters)."""
    message = update.edited_message
    services = context.services
    if message is not None and message.from_user is not None:
        if message.chat.type == ChatType.PRIVATE:
            talk = await relay.current_talk(services, message.chat_id)
            if talk is not None and relay.is_relayable(message):
                with contextlib.suppress(relay.RelayUnavailable):
                    await relay.relay_to_staff(services, context.bot, talk, message, edited=True)
        elif message.chat_id == services.settings.staff_chat_id and services.is_staff(
            message.from_user.id
        ):
            await relay.relay_edit_to_club(services, context.bot, message)
    raise ApplicationHandlerStop


HANDLERS = [MessageHandler(filters.UpdateType.EDITED, on_edited)]
