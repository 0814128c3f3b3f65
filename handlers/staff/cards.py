"""Buttons on the staff group's cards (SPEC §4): take, done, refuse (with a reason), and closing
a conversation with a club. Each decision edits the card in place and tells the club.

The database decides who wins when two staff press at once; the loser is told why in a notice."""

from __future__ import annotations

import contextlib
import logging

from telegram import ForceReply, Message, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated
from telegram.ext import CallbackQueryHandler

from bot import contacts, escalations, payments, relay, staff_topics
from bot.context import BotContext
from bot.escalations import PendingRefusal
from bot.telegram_limits import shortened
from handlers.common import answer_query, read_id
from handlers.staff.access import require_staff

log = logging.getLogger(__name__)
STAFF_LANG = escalations.STAFF_LANG
# A reason longer than this is cut, ending with "…" so the club sees it was cut.
MAX_REASON = 500


def _notice(context: BotContext, why: str, **values) -> str:
    """A staff notice: plain text (a button's notice is shown as sent, HTML is not parsed)."""
    return context.services.texts.render_plain(
        STAFF_LANG, "staff/notice", why=why, id=values.get("id"), name=values.get("name")
    )


async def on_card_button(update: Update, context: BotContext) -> None:
    """esc:take|done|refuse:<id> pressed on a card."""
    query = update.callback_query
    if not await require_staff(update, context, query.data):
        return
    _, action, raw_id = query.data.split(":")
    escalation_id = read_id(raw_id)
    if escalation_id is None:
        await answer_query(update, _notice(context, "unknown"))
        return
    services, staff = context.services, update.effective_user
    if action == "refuse":
        await _ask_reason(update, context, escalation_id)
        return
    if action == "take":
        decision = await escalations.take(services, escalation_id, staff.id, staff.first_name)
        done_word, event = "taken_ok", "taken"
    else:
        decision = await escalations.complete(services, escalation_id, staff.id, staff.first_name)
        done_word, event = "done_ok", "done"
    if not decision.ok:
        name = decision.escalation.taken_by_name if decision.escalation else None
        await answer_query(update, _notice(context, decision.why, id=escalation_id, name=name))
        if decision.escalation is not None:  # the card may show an older state: bring it up to date
            await escalations.refresh_card(services, context.bot, escalation_id)
        return
    await answer_query(update, _notice(context, done_word, id=escalation_id))
    log.info("escalation %s %s by staff %s", escalation_id, event, staff.id)
    await escalations.refresh_card(services, context.bot, escalation_id)
    await escalations.tell_club(services, context.bot, decision.escalation, event)
    if event == "done":  # an address changed: the contacts verified through it are revoked
        await contacts.tell_revoked(services, context.bot)


async def _ask_reason(update: Update, context: BotContext, escalation_id: int) -> None:
    """Refuse: the staff member's reply to the prompt is the reason.

    With privacy mode on (Telegram's default for bots in groups) the bot receives only commands,
    replies to its own messages and mentions: a reason typed as a plain group message never
    arrives. So the prompt mentions the staff member, and its ForceReply(selective=True) opens a
    reply to the prompt in that member's app only (selective targets the users mentioned in the
    text; the card it answers is the bot's own and targets nobody)."""
    query, services, staff = update.callback_query, context.services, update.effective_user
    escalation = await escalations.get_escalation(services, escalation_id)
    if escalation is None or not escalation.live:
        await answer_query(update, _notice(context, "closed" if escalation else "unknown"))
        return
    prompt = await context.bot.send_message(
        update.effective_chat.id,
        services.texts.render(
            STAFF_LANG,
            "staff/refusal_prompt",
            id=escalation_id,
            name=staff.first_name,
            user_id=staff.id,
        ),
        parse_mode=ParseMode.HTML,
        reply_parameters=ReplyParameters(
            query.message.message_id, allow_sending_without_reply=True
        ),
        reply_markup=ForceReply(selective=True, input_field_placeholder=_placeholder(context)),
    )
    await escalations.ask_refusal_reason(
        services, escalation_id, staff.id, update.effective_chat.id, prompt.message_id
    )
    await answer_query(update, _notice(context, "refuse_asked"))


def _placeholder(context: BotContext) -> str:
    return context.services.texts.render_plain(STAFF_LANG, "staff/reason_placeholder")[:64]


async def on_reason(update: Update, context: BotContext, pending: PendingRefusal) -> None:
    """The reason typed after "refuse": the request is refused and the club told why."""
    services, staff, message = context.services, update.effective_user, update.effective_message
    if not message.text:
        await message.reply_text(
            services.texts.render(STAFF_LANG, "staff/reason_needed", id=pending.escalation_id),
            parse_mode=ParseMode.HTML,
        )
        return
    decision = await escalations.refuse(
        services,
        pending.escalation_id,
        staff.id,
        staff.first_name,
        shortened(message.text.strip(), MAX_REASON),
        chat_id=message.chat_id,
    )
    if not decision.ok:
        await _say_notice(context, message, decision.why, pending.escalation_id)
        return
    log.info("escalation %s refused by staff %s", pending.escalation_id, staff.id)
    if decision.escalation.invoice_id is not None:  # its fee invoice was cancelled: no card link
        await payments.expire_links(services, decision.escalation.invoice_id)
    await escalations.refresh_card(services, context.bot, pending.escalation_id)
    await escalations.tell_club(services, context.bot, decision.escalation, "refused")
    await _say_notice(context, message, "refused_ok", pending.escalation_id)


async def _say_notice(context: BotContext, message: Message, why: str, escalation_id: int) -> None:
    text = context.services.texts.render(
        STAFF_LANG, "staff/notice", why=why, id=escalation_id, name=None
    )
    await message.reply_text(text, parse_mode=ParseMode.HTML)


async def on_talk_close(update: Update, context: BotContext) -> None:
    """talk:close:<id> pressed under a conversation's first message."""
    query = update.callback_query
    if not await require_staff(update, context, query.data):
        return
    talk_id = read_id(query.data.rsplit(":", 1)[1])
    closed = talk_id is not None and await close_talk(context, talk_id, update.effective_user)
    await answer_query(update, _notice(context, "talk_closed" if closed else "talk_already_closed"))


async def close_talk(context: BotContext, talk_id: int, staff) -> bool:
    """Close the conversation once: a line in the staff group, a message to the club."""
    services = context.services
    talk = await relay.close_talk(services, talk_id, f"staff:{staff.id}")
    if talk is None:
        return False
    log.info("talk %s closed by staff %s", talk_id, staff.id)
    if talk.header_message_id and services.settings.staff_chat_id:
        # The close button goes with the conversation (unless the header is gone with a group
        # Telegram migrated).
        with contextlib.suppress(BadRequest, ChatMigrated):
            await context.bot.edit_message_reply_markup(
                services.settings.staff_chat_id, talk.header_message_id, reply_markup=None
            )
        # In the club's topic when the group has topics: the topic says the conversation closed.
        await staff_topics.send_text(
            services,
            context.bot,
            talk.club_id,
            services.texts.render(
                STAFF_LANG, "staff/talk_closed", id=talk.id, name=staff.first_name
            ),
            parse_mode=ParseMode.HTML,
            reply_parameters=ReplyParameters(
                talk.header_message_id, allow_sending_without_reply=True
            ),
        )
    await relay.tell_club_closed(services, context.bot, talk)
    await staff_topics.sync_name(services, context.bot, talk.club_id)
    return True


HANDLERS = [
    CallbackQueryHandler(on_card_button, pattern=r"^esc:(take|done|refuse):\d+$"),
    CallbackQueryHandler(on_talk_close, pattern=r"^talk:close:\d+$"),
]
