"""Small helpers every handler shares: the user's language, rendering, keyboards, replies, and
the rules of buttons (callback data, which message a press belongs to, answering a press).

They keep handlers to "read the update, call a service, render, choose the next state"."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import logging
from collections import OrderedDict, deque
from collections.abc import Sequence

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, NetworkError, TelegramError

from bot import notices, notify
from bot.context import BotContext
from bot.telegram_limits import MAX_TEXT, callback_data, fits_text, read_id, utf16_len
from bot.texts import LANGUAGES, pick_language, telegram_language

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
# user_data: for each recent message edited in place, the version the bot made of it (a digest of
# its text and buttons): a press under an earlier version raced the edit.
EDITED = "edited_in_place"
# bot_data (memory only, like the bot's record of each chat's latest message): per private chat,
# the id of the latest answer `reply` may edit in place (not one to `keep`).
EDITABLE = "editable_messages"
EDITABLE_KEPT = 10_000
# Buttons that carry everything they act on in their data (an invoice id, a language): they work
# under any message, old or new. "Back" is not one of them: it goes one step back from the step
# its own message showed, so under an older message it is no longer current.
SELF_CONTAINED = ("lang:", "forget:", "pay:", "invoice:", "renew:start", "talk:reply")


def thread_of(update: object) -> int | None:
    """The forum topic the update's message is in; None for General, a plain group or a private
    chat. An answer goes in the topic it was asked in: sendMessage's `message_thread_id` is for
    forum topics only (Bot API), a reply chain's thread id in a plain group is not one."""
    message = update.effective_message if isinstance(update, Update) else None
    if message is None or not message.is_topic_message:
        return None
    return message.message_thread_id


# user_data: the language of the club record (CSV column `language`) of the club this chat named.
CLUB_LANG = "club_lang"


def lang_of(update: object, context: BotContext) -> str:
    """The language chosen with /language; else the Telegram user's when it is French or English;
    else, once the chat named its club, the club record's `language`; else French (SPEC §3:
    French by default, English for English-speaking users; docs/LANGUAGES.md)."""
    user_data = context.user_data if context.user_data is not None else {}
    chosen = user_data.get("lang")
    if chosen in LANGUAGES:
        return chosen
    user = update.effective_user if isinstance(update, Update) else None
    own = telegram_language(user.language_code if user else None)
    if own is not None:
        return own
    club = user_data.get(CLUB_LANG)
    return club if club in LANGUAGES else pick_language(None)


def remember_club_language(context: BotContext, language: str | None) -> None:
    """The chat named a club: its record's language becomes the default for a person whose
    Telegram language is neither French nor English."""
    if context.user_data is None:
        return
    if language in LANGUAGES:
        context.user_data[CLUB_LANG] = language
    else:
        context.user_data.pop(CLUB_LANG, None)


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
    if query.message is None or not pressed_version_is_current(update, context):
        return False  # (or pressed under what the message said before it was edited in place)
    shown = (context.user_data.get(SHOWN) or {}).get(str(query.message.message_id))
    return shown is not None and shown == shown_state(context)


async def reply(
    update: Update,
    context: BotContext,
    template_name: str,
    /,
    buttons: Sequence[Sequence[Button]] | None = None,
    lead: str | None = None,
    keep: bool = False,
    **values: object,
) -> Message:
    """Answer in the chat the update came from. A message with buttons remembers the state it
    showed (see `button_is_current`). `lead`: text already rendered (a notice) put above the
    template's, in the same message: one message per step, not a notice and then the question.

    A pressed button's message becomes the answer, edited in place (answerCallbackQuery and
    editMessageText at once: two requests instead of the answer, the removal of the pressed
    keyboard and a new message) when that reads well: in a private chat, for the first answer
    to the press, when the pressed message is an answer of this function and still the chat's
    latest message, the press was made under the version it shows now, and the new text fits
    one message (4096). Otherwise the press is answered, the pressed keyboard removed (old
    buttons cannot be pressed twice) and the answer sent as a new message.

    `keep`: the answer holds what the person may need to read again (payment instructions,
    bank details): it is never edited away by a later press, which gets a new message."""
    lang = lang_of(update, context)
    markup = keyboard(lang, context, buttons) if buttons else None
    body = context.services.texts.render(lang, template_name, **values)
    text = f"{lead}\n\n{body}" if lead else body
    one_message = utf16_len(text) <= MAX_TEXT or fits_text(text)
    message = None
    if (
        update.callback_query
        and one_message
        and _may_edit_in_place(update, context)
        and not await notices.came_after(
            context.services, update.effective_chat.id, update.callback_query.message.message_id
        )
    ):
        message = await _edit_in_place(update, context, text, markup)
    if message is None:
        sending = context.bot.send_message(
            chat_id=update.effective_chat.id,
            text=text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            disable_web_page_preview=True,
            message_thread_id=thread_of(update),
        )
        if not update.callback_query:
            message = await sending
        else:
            # Settling the pressed button and sending the answer do not depend on each other:
            # one round trip to Telegram instead of three in a row.
            _, message = await asyncio.gather(settle_button(update, context), sending)
    if markup is not None:
        _remember_shown(update, context, message)
    elif context.user_data is not None:
        (context.user_data.get(SHOWN) or {}).pop(str(message.message_id), None)  # edited
    _remember_editable(update, context, message, keep or not one_message)
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
    must not ask again, Telegram would answer "message is not modified". A press under an earlier
    version of a message edited in place since leaves its keyboard alone: it is the new step's."""
    query = update.callback_query
    answered = _answered(context)
    if query.id in answered:
        return
    answered.append(query.id)
    await answer_query(update, notice)
    await _drop_keyboard(update, context)


async def _drop_keyboard(update: Update, context: BotContext) -> None:
    query = update.callback_query
    message = query.message
    if message is None or not getattr(message, "reply_markup", None):
        return
    if not pressed_version_is_current(update, context):
        return  # the press raced an edit in place: the keyboard shown now is the new step's
    if context.user_data is not None:
        (context.user_data.get(SHOWN) or {}).pop(str(message.message_id), None)
    removed = (
        context.chat_data.setdefault(MARKUP_REMOVED, []) if context.chat_data is not None else []
    )
    if message.message_id in removed:
        return
    removed.append(message.message_id)
    del removed[:-MARKUP_REMOVED_KEPT]
    # Link buttons stay: a card payment link is what its message is for, and pressing "another
    # way to pay" under it must not take the link away. Only the buttons that act go.
    links = [
        [button for button in row if button.url and not button.callback_data]
        for row in message.reply_markup.inline_keyboard
    ]
    links = [row for row in links if row]
    # Too old to edit (48 h for others' messages in groups), or deleted: nothing to tidy.
    with contextlib.suppress(BadRequest):
        await query.edit_message_reply_markup(InlineKeyboardMarkup(links) if links else None)


def _answered(context: BotContext) -> deque:
    return context.bot_data.setdefault("answered_queries", deque(maxlen=1024))


def _version(message: Message) -> str:
    """A digest of what a message shows: its text (as Telegram parsed it) and its buttons."""
    markup = getattr(message, "reply_markup", None)
    rows = markup.inline_keyboard if markup is not None else ()
    parts = [getattr(message, "text", None) or ""]
    parts += [f"{b.text}\x1e{b.callback_data or b.url or ''}" for row in rows for b in row]
    return hashlib.blake2s("\x1f".join(parts).encode(), digest_size=8).hexdigest()


def pressed_version_is_current(update: Update, context: BotContext) -> bool:
    """False when the pressed message was edited in place after the press was made: Telegram
    puts the message as the person saw it in the callback query."""
    message = update.callback_query.message
    made = (context.user_data.get(EDITED) or {}) if context.user_data is not None else {}
    version = made.get(str(message.message_id)) if message is not None else None
    return version is None or version == _version(message)


def _remember_editable(update: Update, context: BotContext, message: Message, keep: bool) -> None:
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        return
    editable = context.bot_data.setdefault(EDITABLE, OrderedDict())
    if keep:
        editable.pop(chat.id, None)
        return
    editable[chat.id] = message.message_id
    editable.move_to_end(chat.id)
    if len(editable) > EDITABLE_KEPT:
        editable.popitem(last=False)


def _may_edit_in_place(update: Update, context: BotContext) -> bool:
    query = update.callback_query
    message = query.message
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE or not isinstance(message, Message):
        return False
    if message.text is None or query.id in _answered(context):
        return False  # a document's caption is no text; a second answer to one press: new
    if (context.bot_data.get(EDITABLE) or {}).get(chat.id) != message.message_id:
        return False  # not an answer of `reply`, or one to keep
    latest = getattr(context.bot, "latest_message_id", None)
    if latest is None or latest(chat.id) != message.message_id:
        return False  # something came after it: the answer goes below
    return pressed_version_is_current(update, context)


async def _edit_in_place(
    update: Update, context: BotContext, text: str, markup: InlineKeyboardMarkup | None
) -> Message | None:
    """Answer the press and edit its message into `text`, both at once; None when Telegram
    refuses the edit (a 400), or surely did not make it (a 5xx, no connection): the keyboard is
    then removed and the caller sends the answer as a new message. Among the refusals,
    Telegram's 400 "message is not modified" (the answer says exactly what the message says,
    e.g. "a new code was sent"): edited, nothing would show that the press was answered. An
    edit perhaps made (a timeout) raises, as a send does."""
    query = update.callback_query
    _answered(context).append(query.id)

    async def edit() -> Message | None:
        try:
            edited = await query.edit_message_text(
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                disable_web_page_preview=True,
            )
        except BadRequest as error:
            log.info("pressed message not edited (%s): answered below it", error.message)
            return None
        except NetworkError as error:
            if not notify.surely_not_delivered(error):
                raise  # perhaps edited (a timeout): the error handler says so
            log.info("pressed message not edited (%s): answered below it", error.message)
            return None
        return edited if isinstance(edited, Message) else None

    _, edited = await asyncio.gather(answer_query(update), edit())
    if edited is None:
        await _drop_keyboard(update, context)
        return None
    if context.user_data is not None:
        made = context.user_data.setdefault(EDITED, {})
        made[str(edited.message_id)] = _version(edited)
        for old in sorted(made, key=int)[:-SHOWN_KEPT]:
            del made[old]
    return edited
