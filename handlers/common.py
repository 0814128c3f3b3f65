"""Small helpers every handler shares: the user's language, rendering, keyboards, replies.

They keep handlers to "read the update, call a service, render, choose the next state"."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.context import BotContext
from bot.texts import LANGUAGES, pick_language

# (label template, callback data) or (label template, callback data, template values);
# a callback data starting with "url:" makes a URL button instead.
Button = tuple[str, str] | tuple[str, str, dict]


def lang_of(update: object, context: BotContext) -> str:
    """The language chosen with /language, else the Telegram user's, else French."""
    chosen = context.user_data.get("lang") if context.user_data is not None else None
    if chosen in LANGUAGES:
        return chosen
    user = update.effective_user if isinstance(update, Update) else None
    return pick_language(user.language_code if user else None)


def text(update: object, context: BotContext, template_name: str, /, **values: object) -> str:
    return context.services.texts.render(lang_of(update, context), template_name, **values)


def keyboard(
    lang: str, context: BotContext, rows: Sequence[Sequence[Button]]
) -> InlineKeyboardMarkup:
    texts = context.services.texts
    built = []
    for row in rows:
        buttons = []
        for button in row:
            label_name, data = button[0], button[1]
            values = button[2] if len(button) > 2 else {}
            label = texts.render(lang, f"button/{label_name}", **values)
            if data.startswith("url:"):
                buttons.append(InlineKeyboardButton(label, url=data[4:]))
            else:
                buttons.append(InlineKeyboardButton(label, callback_data=data))
        built.append(buttons)
    return InlineKeyboardMarkup(built)


async def reply(
    update: Update,
    context: BotContext,
    template_name: str,
    /,
    buttons: Sequence[Sequence[Button]] | None = None,
    **values: object,
) -> Message:
    """Answer in the chat the update came from. A pressed button is acknowledged and its keyboard
    removed, so the history reads well and old buttons cannot be pressed twice."""
    lang = lang_of(update, context)
    markup = keyboard(lang, context, buttons) if buttons else None
    sending = context.bot.send_message(
        chat_id=update.effective_chat.id,
        text=context.services.texts.render(lang, template_name, **values),
        parse_mode=ParseMode.HTML,
        reply_markup=markup,
        disable_web_page_preview=True,
    )
    if not update.callback_query:
        return await sending
    # Settling the pressed button and sending the answer do not depend on each other: one round
    # trip to Telegram instead of three in a row.
    _, message = await asyncio.gather(settle_button(update, context), sending)
    return message


async def settle_button(update: Update, context: BotContext, notice: str | None = None) -> None:
    """Answer the callback query (optionally with a short notice) and drop the pressed keyboard.

    A query can be answered once, and one update may pass through several helpers (a notice,
    then the menu): answered ids are remembered, bounded, in bot_data (not persisted)."""
    query = update.callback_query
    answered = context.bot_data.setdefault("answered_queries", deque(maxlen=1024))
    if query.id in answered:
        return
    answered.append(query.id)
    # The answer only stops the button's spinner: a failure must not abort the step.
    with contextlib.suppress(TelegramError):
        await query.answer(notice)
    if query.message and getattr(query.message, "reply_markup", None):
        # Already edited, or too old to edit: nothing to tidy.
        with contextlib.suppress(BadRequest):
            await query.edit_message_reply_markup(None)
