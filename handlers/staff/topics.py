"""What Telegram tells the bot about the staff forum: a topic closed or reopened by staff (service
messages, which reach a bot whatever its privacy mode), and a change of the bot's own rights there.

Both only update what bot/staff_topics.py knows; nothing is sent."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ChatMemberHandler, MessageHandler, filters

from bot import staff_topics
from bot.context import BotContext


async def on_topic_closed_or_reopened(update: Update, context: BotContext) -> None:
    """`forum_topic_closed` / `forum_topic_reopened` in the staff group: a club's topic closed by
    staff is reopened on the club's next event."""
    message = update.effective_message
    if message.chat_id != context.services.settings.staff_chat_id:
        return
    await staff_topics.note_topic_state(
        context.services,
        message.chat_id,
        message.message_thread_id,
        closed=message.forum_topic_closed is not None,
    )


async def on_my_rights(update: Update, context: BotContext) -> None:
    """`my_chat_member` for the staff group: the bot's status or rights changed there, so a
    remembered refusal to manage topics is asked again at the next event."""
    change = update.my_chat_member
    if change.chat.id != context.services.settings.staff_chat_id:
        return
    staff_topics.rights_changed(context.services, change.chat.id, change.new_chat_member)


HANDLERS = [
    MessageHandler(
        filters.StatusUpdate.FORUM_TOPIC_CLOSED | filters.StatusUpdate.FORUM_TOPIC_REOPENED,
        on_topic_closed_or_reopened,
    ),
    ChatMemberHandler(on_my_rights, ChatMemberHandler.MY_CHAT_MEMBER),
]
