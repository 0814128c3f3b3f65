"""Messages staff write in the staff group: a reply to a relayed club message (or to a card, or
to a conversation's first message), or plain writing in a club's forum topic while a conversation
is open, is copied back to that club chat; after "refuse", the staff member's next message is the
reason; /close as a reply (or in the club's topic) closes the conversation.

Routing uses the stored pairs of message ids, so it works whatever the club's forward privacy."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import CommandHandler, MessageHandler, filters

from bot import escalations, relay, staff_group
from bot.context import BotContext
from handlers.staff import cards
from handlers.staff.access import (
    in_staff_place,
    is_anonymous_admin,
    require_staff,
    tell_anonymous_admin,
)

log = logging.getLogger(__name__)
STAFF_LANG = "fr"


def _in_staff_group(update: Update, context: BotContext) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.id == context.services.settings.staff_chat_id


async def on_group_message(update: Update, context: BotContext) -> None:
    """Any non-command message in a group: only the staff group's staff messages matter."""
    if not _in_staff_group(update, context):
        return
    services, message, user = context.services, update.effective_message, update.effective_user
    replied = message.reply_to_message
    target = (
        await relay.target_of(services, message.chat_id, replied.message_id) if replied else None
    )
    if is_anonymous_admin(update):
        if replied is not None and replied.from_user and replied.from_user.id == context.bot.id:
            await tell_anonymous_admin(update, context)
        return
    if user is None or not services.is_staff(user.id):
        if target is not None:
            log.warning(
                "reply by non-staff user %s in the staff group not relayed", user and user.id
            )
        return
    pending = await escalations.pending_refusal(services, user.id, message.chat_id)
    if pending is not None and (target is None or target.escalation_id == pending.escalation_id):
        await cards.on_reason(update, context, pending)
        return
    if target is None and message.is_topic_message and relay.is_relayable(message):
        # Plain writing in a club's topic answers the club's open conversation.
        target = await relay.topic_target(services, message.chat_id, message.message_thread_id)
    if target is None:
        return  # staff talking among themselves
    delivered = await relay.relay_to_club(services, context.bot, target, message)
    if delivered is None:
        await message.reply_text(
            services.texts.render(STAFF_LANG, "staff/relay_failed"), parse_mode=ParseMode.HTML
        )


async def on_migrated(update: Update, context: BotContext) -> None:
    """Telegram's service message: a group became a supergroup (sent in both chats). The staff
    group is followed to its new id (bot/staff_group.py)."""
    message = update.effective_message
    if message.migrate_to_chat_id:
        old, new = message.chat_id, message.migrate_to_chat_id
    else:
        old, new = message.migrate_from_chat_id, message.chat_id
    await staff_group.follow_migration(context.services, old, new)


async def on_close(update: Update, context: BotContext) -> None:
    """/close, as a reply to a message of a conversation: close it and tell the club."""
    if not in_staff_place(update, context):
        return
    if not await require_staff(update, context, "/close"):
        return
    services, message = context.services, update.effective_message
    replied = message.reply_to_message
    target = (
        await relay.target_of(services, message.chat_id, replied.message_id) if replied else None
    )
    if (target is None or target.talk_id is None) and message.is_topic_message:
        target = await relay.topic_target(services, message.chat_id, message.message_thread_id)
    if target is None or target.talk_id is None:
        await message.reply_text(
            services.texts.render(STAFF_LANG, "staff/close_usage"), parse_mode=ParseMode.HTML
        )
        return
    closed = await cards.close_talk(context, target.talk_id, update.effective_user)
    if not closed:
        await message.reply_text(
            services.texts.render(
                STAFF_LANG, "staff/notice", why="talk_already_closed", id=None, name=None
            ),
            parse_mode=ParseMode.HTML,
        )


# New messages only: an edit is never a second reply nor a reason (handlers/edits.py).
HANDLERS = [
    MessageHandler(filters.StatusUpdate.MIGRATE, on_migrated),
    CommandHandler("close", on_close, filters=filters.UpdateType.MESSAGE),
    MessageHandler(
        filters.UpdateType.MESSAGE & filters.ChatType.GROUPS & ~filters.COMMAND, on_group_message
    ),
]
