"""Small helpers every handler shares: the user's language, rendering, keyboards, replies, and
the rules of buttons (callback data, which message a press belongs to, answering a press).

They keep handlers to "read the update, call a service, render, choose the next state"."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections import deque
from collections.abc import Sequence

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, TelegramError

from bot import notify
from bot.context import BotContext
from bot.telegram_limits import callback_data, read_id
from bot.texts import LANGUAGES, pick_language

log = logging.getLogger(__name__)

__all__ = ["callback_data", "read_id"]  # built and read here by handlers

Button = notify.Button  # (label template, callback data[, template values]); "url:…" is a link

# user_data: the state a club button acts on (the club, and what is being typed or chosen), and
# for each recent message with buttons, that state as the message showed it.
SHOWN = "shown_keyboards"
SHOWN_KEPT = 24
# chat_data: messages whose keyboard the bot removed (so it never asks Telegram to remove it twice,
# which Telegram refuses with "message is not modified").
MARKUP_REMOVED = "markup_removed"
MARKUP_REMOVED_KEPT = 32
# Buttons that carry everything they act on in their data (an invoice id, a language): they work
# under any message, old or new. "Back" is not one of them: it goes one step back from the step
# its own message showed, so under an older message it is no longer current.
SELF_CONTAINED = ("lang:", "forget:", "pay:", "invoice:", "renew:start", "talk:reply")


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
    """Labels from `button/…` templates (plain text: Telegram shows labels as sent), callback
    data checked against Telegram's limit: the notifier's builder, for a handler's context."""
    return notify.keyboard(context.services, lang, rows)


def shown_state(context: BotContext) -> dict:
    """What a club button acts on: the chat's club and whatever is being typed or chosen
    (user_data keys `club_id`, `pending…`, `draft…`, the ones /cancel drops)."""
    # A copy: drafts are dicts changed in place, and the remembered state must not follow them.
    return copy.deepcopy(
        {
            key: value
            for key, value in context.user_data.items()
            if key == "club_id" or key.startswith(("pending", "draft"))
        }
    )


def _remember_shown(update: Update, context: BotContext, message: Message) -> None:
    if update.effective_chat is None or update.effective_chat.type != ChatType.PRIVATE:
        return
    shown = context.user_data.setdefault(SHOWN, {})
    shown[str(message.message_id)] = shown_state(context)
    for old in sorted(shown, key=int)[:-SHOWN_KEPT]:
        del shown[old]


def button_is_current(update: Update, context: BotContext) -> bool:
    """True when the pressed button's message showed the state the chat is in now (or the
    button carries all it acts on). A quote left on screen, then a second quote: "confirm"
    under the first must not issue the second."""
    query = update.callback_query
    if (query.data or "").startswith(SELF_CONTAINED):
        return True
    if query.message is None:
        return False
    shown = (context.user_data.get(SHOWN) or {}).get(str(query.message.message_id))
    return shown is not None and shown == shown_state(context)


async def reply(
    update: Update,
    context: BotContext,
    template_name: str,
    /,
    buttons: Sequence[Sequence[Button]] | None = None,
    lead: str | None = None,
    **values: object,
) -> Message:
    """Answer in the chat the update came from. A pressed button is acknowledged and its keyboard
    removed, so the history reads well and old buttons cannot be pressed twice. A message with
    buttons remembers the state it showed (see `button_is_current`). `lead`: text already
    rendered (a notice) put above the template's, in the same message: one message per step,
    not a notice and then the question."""
    lang = lang_of(update, context)
    markup = keyboard(lang, context, buttons) if buttons else None
    body = context.services.texts.render(lang, template_name, **values)
    sending = context.bot.send_message(
        chat_id=update.effective_chat.id,
        text=f"{lead}\n\n{body}" if lead else body,
        parse_mode=ParseMode.HTML,
        reply_markup=markup,
        disable_web_page_preview=True,
    )
    if not update.callback_query:
        message = await sending
    else:
        # Settling the pressed button and sending the answer do not depend on each other: one
        # round trip to Telegram instead of three in a row.
        _, message = await asyncio.gather(settle_button(update, context), sending)
    if markup is not None:
        _remember_shown(update, context, message)
    return message


async def answer_query(update: Update, notice: str | None = None, show_alert: bool = False) -> None:
    """Answer a callback query; a refused answer (too old, already answered) is logged, never
    raised: it only stops the button's spinner and must not abort the action it acknowledges."""
    try:
        await update.callback_query.answer(notice, show_alert=show_alert)
    except TelegramError as exc:
        log.info("callback query not answered (%s); the action goes on", exc)


async def settle_button(update: Update, context: BotContext, notice: str | None = None) -> None:
    """Answer the callback query (optionally with a short plain-text notice) and drop the pressed
    keyboard.

    A query can be answered once, and one update may pass through several helpers (a notice,
    then the menu): answered ids are remembered, bounded, in bot_data (not persisted). A keyboard
    is removed once: a second press of the same message (sent before the first was handled)
    must not ask again, Telegram would answer "message is not modified"."""
    query = update.callback_query
    answered = context.bot_data.setdefault("answered_queries", deque(maxlen=1024))
    if query.id in answered:
        return
    answered.append(query.id)
    await answer_query(update, notice)
    message = query.message
    if message is None or not getattr(message, "reply_markup", None):
        return
    if context.user_data is not None:
        (context.user_data.get(SHOWN) or {}).pop(str(message.message_id), None)
    removed = (
        context.chat_data.setdefault(MARKUP_REMOVED, []) if context.chat_data is not None else []
    )
    if message.message_id in removed:
        return
    removed.append(message.message_id)
    del removed[:-MARKUP_REMOVED_KEPT]
    # Too old to edit (48 h for others' messages in groups), or deleted: nothing to tidy.
    with contextlib.suppress(BadRequest):
        await query.edit_message_reply_markup(None)
