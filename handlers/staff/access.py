"""The one check every staff command and button makes: is this person in OFBOT_STAFF_USER_IDS?

Anyone else gets a polite refusal in their language, and the attempt is logged (ids only)."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatID, ChatType, ParseMode

from bot.context import BotContext
from handlers.common import answer_query, lang_of, reply

log = logging.getLogger(__name__)

# Telegram's stand-in sender for a group admin who posts "anonymously" (as the group itself):
# `from` is @GroupAnonymousBot and `sender_chat` is the group (Bot API, Message.sender_chat;
# python-telegram-bot's telegram.constants.ChatID.ANONYMOUS_ADMIN).
ANONYMOUS_ADMIN_ID = ChatID.ANONYMOUS_ADMIN  # 1087968824


def is_anonymous_admin(update: Update) -> bool:
    """A message an admin sent as the group itself: nobody can tell which staff member it is."""
    message = update.effective_message
    user = update.effective_user
    chat = update.effective_chat
    if message is None or chat is None:
        return False
    if message.sender_chat is not None and message.sender_chat.id == chat.id:
        return True
    return user is not None and user.id == ANONYMOUS_ADMIN_ID


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
    if update.callback_query is None and is_anonymous_admin(update):
        await tell_anonymous_admin(update, context)
        return False
    log.warning(
        "staff-only %s refused: user %s in chat %s",
        what,
        user.id if user else None,
        chat.id if chat else None,
    )
    if update.callback_query:
        notice = context.services.texts.render_plain(lang_of(update, context), "staff/not_staff")
        await answer_query(update, notice, show_alert=True)
    else:
        await reply(update, context, "staff/not_staff")
    return False


async def tell_anonymous_admin(update: Update, context: BotContext) -> None:
    """An admin writing as the group (Telegram's "Remain anonymous"): the bot cannot tell who
    it is, so it cannot accept a staff reply or command; say so in the group, and how to fix it."""
    chat = update.effective_chat
    log.warning(
        "message from an anonymous admin in chat %s not acted on", chat.id if chat else None
    )
    await update.effective_message.reply_text(
        context.services.texts.render("fr", "staff/anonymous_admin"), parse_mode=ParseMode.HTML
    )
