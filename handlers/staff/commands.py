"""Staff commands (SPEC §4): /club SUBDOMAIN, /paid INVOICE transfer|cheque, /pending, /stats,
/help (in the staff group), and the daily summary when it falls due. They answer in the staff
group (in the topic they were asked in; /pending and /stats in General) and in private chats.

Each checks OFBOT_STAFF_USER_IDS first; anyone else is refused politely and nothing changes."""

from __future__ import annotations

import datetime as dt
import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler, CommandHandler, TypeHandler, filters

from bot import contacts, notify, staff
from bot.context import BotContext
from bot.staff import StaffSummaryDue
from handlers.common import answer_query, keyboard, lang_of, read_id, thread_of
from handlers.staff.access import in_staff_place, require_staff

log = logging.getLogger(__name__)
STAFF_LANG = "fr"


async def _allowed(update: Update, context: BotContext, command: str) -> bool:
    return in_staff_place(update, context) and await require_staff(update, context, command)


async def _answer(
    update: Update, context: BotContext, text: str, markup=None, *, general: bool = False
) -> None:
    """Staff answers are in French (the staff group's language), in the chat that asked, in the
    forum topic it was asked in; `general`: the whole group's views (/pending, /stats) stay in
    the General topic (issue 18), wherever they were asked."""
    await context.bot.send_message(
        update.effective_chat.id,
        text,
        parse_mode=ParseMode.HTML,
        disable_web_page_preview=True,
        reply_markup=markup,
        message_thread_id=None if general else thread_of(update),
    )


async def help_command(update: Update, context: BotContext) -> None:
    """/help in the staff group (General or a club's topic): the staff commands and how to answer
    a club, in the asker's language (/help in a private chat is the club conversation's)."""
    chat = update.effective_chat
    if chat is None or chat.id != context.services.settings.staff_chat_id:
        return
    if not await require_staff(update, context, "/help"):
        return
    forum = bool(getattr(chat, "is_forum", False)) or thread_of(update) is not None
    text = context.services.texts.render(lang_of(update, context), "staff/help", forum=forum)
    await _answer(update, context, text)


async def club_command(update: Update, context: BotContext) -> None:
    """/club SUBDOMAIN: the record, verified contacts, open invoices, live requests."""
    if not await _allowed(update, context, "/club"):
        return
    render = context.services.texts.render
    if len(context.args) != 1:
        await _answer(update, context, render(STAFF_LANG, "staff/usage", command="club"))
        return
    club, suggestions = await staff.find_club(context.services, context.args[0])
    if club is None:
        text = render(
            STAFF_LANG, "staff/club_unknown", typed=context.args[0][:64], suggestions=suggestions
        )
        await _answer(update, context, text)
        return
    view = await staff.club_view(context.services, club)
    text = render(
        STAFF_LANG,
        "staff/club",
        club=view["club"],
        subscribed=view["subscribed"],
        contacts=view["contacts"],
        contact_lines=view["contact_lines"],
        invoices=view["invoices"],
        escalations=view["escalations"],
        lapsed=view["lapsed"],
        credit_notes=view["credit_notes"],
    )
    buttons = [
        [("contact_revoke", f"contact:revoke:{club.id}:{c['chat_id']}", {"name": c["name"]})]
        for c in view["contact_lines"]
    ]
    markup = keyboard(STAFF_LANG, context, buttons) if buttons else None
    await _answer(update, context, text, markup)


async def on_revoke(update: Update, context: BotContext) -> None:
    """`contact:revoke:<club id>:<chat id>` under /club: the contact no longer speaks for the
    club, and its chat is told."""
    query = update.callback_query
    if not await require_staff(update, context, query.data):
        return
    _, _, raw_club, raw_chat = query.data.split(":")
    club_id, chat_id = read_id(raw_club), read_id(raw_chat)
    services = context.services
    render = services.texts.render_plain  # a button's notice: shown as sent, never parsed
    if club_id is None or chat_id is None:
        await answer_query(update, render(STAFF_LANG, "staff/contact_revoked", ok=False))
        return
    actor = f"staff:{update.effective_user.id}"
    ok = await contacts.revoke_contact(services, club_id, chat_id, actor)
    await answer_query(update, render(STAFF_LANG, "staff/contact_revoked", ok=ok))
    if ok:
        log.info("a contact of club %s revoked by staff %s", club_id, update.effective_user.id)
        await contacts.tell_revoked(services, context.bot)


async def paid_command(update: Update, context: BotContext) -> None:
    """/paid INVOICE transfer|cheque: a payment received by hand, recorded once."""
    if not await _allowed(update, context, "/paid"):
        return
    render = context.services.texts.render
    method = staff.read_method(context.args[1]) if len(context.args) == 2 else None
    if method is None:
        await _answer(update, context, render(STAFF_LANG, "staff/usage", command="paid"))
        return
    typed = context.args[0][:40]
    result = await staff.record_manual_payment(
        context.services, context.bot, typed, method, update.effective_user.id
    )
    invoice, payment = result.invoice, result.payment
    if result.status == "already_paid" and payment is None and invoice is not None:
        payment = await staff.existing_payment(context.services, invoice.id)
    text = render(
        STAFF_LANG,
        "staff/paid",
        outcome=result.status,
        method=method,
        typed=typed,
        number=invoice.number if invoice else None,
        amount=invoice.ttc_cents if invoice else None,
        paid_method=payment.method if payment else None,
        paid_actor=payment.actor if payment else None,
        paid_by=await notify.staff_name(context.services, context.bot, payment.actor)
        if payment
        else None,
    )
    await _answer(update, context, text)


async def pending_command(update: Update, context: BotContext) -> None:
    """/pending: live requests and unpaid invoices."""
    if not await _allowed(update, context, "/pending"):
        return
    view = await staff.pending_view(context.services)
    text = context.services.texts.render(
        STAFF_LANG,
        "staff/pending",
        escalations=view["escalations"],
        escalations_total=view["escalations_total"],
        invoices=view["invoices"],
        invoices_total=view["invoices_total"],
        open_amount=view["open_amount"],
    )
    await _answer(update, context, text, general=True)


async def stats_command(update: Update, context: BotContext) -> None:
    """/stats: the figures."""
    if not await _allowed(update, context, "/stats"):
        return
    view = await staff.stats_view(context.services)
    text = context.services.texts.render(
        STAFF_LANG,
        "staff/stats",
        clubs=view["clubs"],
        contacts=view["contacts"],
        invoices=view["invoices"],
        escalations=view["escalations"],
        talks=view["talks"],
        reminders=view["reminders"],
        today=view["today"],
    )
    await _answer(update, context, text, general=True)


async def on_summary_due(update: StaffSummaryDue, context: BotContext) -> None:
    """The daily summary job fired: post the day's figures to the staff group."""
    services = context.services
    if not services.settings.staff_chat_id:
        return
    view = await staff.daily_summary(services, dt.date.fromisoformat(update.day))
    text = services.texts.render(
        STAFF_LANG,
        "staff/daily_summary",
        day=view["day"],
        reminders=view["reminders"],
        renewals=view["renewals"],
        open_invoices=view["open_invoices"],
        escalations_open=view["escalations_open"],
        escalations_taken=view["escalations_taken"],
        talks=view["talks"],
    )
    await context.bot.send_message(services.settings.staff_chat_id, text, parse_mode=ParseMode.HTML)


NEW = filters.UpdateType.MESSAGE  # an edited command is not run a second time

HANDLERS = [
    CommandHandler("club", club_command, filters=NEW),
    CommandHandler("paid", paid_command, filters=NEW),
    CommandHandler("pending", pending_command, filters=NEW),
    CommandHandler("stats", stats_command, filters=NEW),
    # Groups only: in private chats /help is the club conversation's (handlers/club/start.py).
    CommandHandler("help", help_command, filters=NEW & filters.ChatType.GROUPS),
    CallbackQueryHandler(on_revoke, pattern=r"^contact:revoke:\d+:-?\d+$"),
    TypeHandler(StaffSummaryDue, on_summary_due),
]
