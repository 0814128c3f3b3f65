"""The one check every staff command and button makes: is this person in OFBOT_STAFF_USER_IDS?

Anyone else gets a polite refusal in their language, and the attempt is logged (ids only)."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType

from bot.context import BotContext
from handlers.common import lang_of, reply

log = logging.getLogger(__name__)


def in_staff_place(update: Update, context: BotContext) -> bool:
    """Staff commands answer in the staff group and in private chats, nowhere else."""
    chat = update.effective_chat
    if chat is None:
        return False
    return chat.type == ChatType.PRIVATE or chat.id == context.services.settings.staff_chat_id


async def require_staff(update: Update, context: BotContext, what: str) -> bool:
    """True for staff; otherwise refuse politely, log the attempt and return False."""
    user = update.effective_user
    if context.services.is_staff(user.id if user else None):
        return True
    chat = update.effective_chat
    log.warning(
        "staff-only %s refused: user %s in chat %s",
        what,
        user.id if user else None,
        chat.id if chat else None,
    )
    if update.callback_query:
        notice = context.services.texts.render(lang_of(update, context), "staff/not_staff")
        await update.callback_query.answer(notice, show_alert=True)
    else:
        await reply(update, context, "staff/not_staff")
    return False
