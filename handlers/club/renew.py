"""Renewal (SPEC §3.4): count, plan, quote, invoice, then card, transfer or cheque.

`renew:start` opens the count step from any step (reminder buttons use it); `pay:<invoice id>` opens
the payment choice of any open invoice of the chat's clubs (fee invoices of issue 4 too)."""

from __future__ import annotations

import datetime as dt

from telegram import Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot import club_records, invoices, verification
from bot.catalogue import QuoteError, minimum_resources
from bot.context import BotContext
from bot.invoices import InvoiceError, plan_label
from handlers.club import menu
from handlers.club.pay import (  # noqa: F401  (start.py and invoices.py take them from here)
    on_pay,
    on_start_payload,
    own_invoice,
)
from handlers.club.renew_steps import (
    DRAFT,
    _after_issue,
    _draft_club,
    _not_verified,
    _plan_change,
    _refuse_count,
    ask_count,
    ask_plan,
    plan_key,
    show_quote,
    verified_club,
)
from handlers.club.states import MENU, RENEW_CONFIRM, RENEW_COUNT, RENEW_PAY, RENEW_PLAN
from handlers.common import lang_of, read_id, reply, settle_button
from storage import contacts
from storage import invoices as invoice_rows
from storage.clubs import Club

TEXT = filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND


async def start_renewal(update: Update, context: BotContext) -> str | None:
    """`menu:renew` or `renew:start[:<club id>]`: the count step, from any step of the
    conversation. A reminder's button names its club: it renews that one, if this chat is still
    one of its verified contacts, whichever club the chat looked at last."""
    data = update.callback_query.data if update.callback_query else ""
    named = read_id(data.removeprefix("renew:start:")) if data.startswith("renew:start:") else None
    if named is not None:
        if await contacts.get(context.services.db, named, update.effective_chat.id) is None:
            chat_id = update.effective_chat.id
            if not await verification.verified_club_id(context.services, chat_id, None):
                return await _not_verified(update, context)
            # A verified chat pressing another club's button: said so, state left as it was.
            await reply(update, context, "renew/other_club")
            return None
        context.user_data["club_id"] = named
    club = await verified_club(update, context)
    if club is None:
        return await _not_verified(update, context)
    context.user_data[DRAFT] = {"club_id": club.id, "plan": club.plan}
    return await ask_count(update, context, club)


async def on_count_button(update: Update, context: BotContext) -> str:
    """A count button (`renew:count:<n>`)."""
    return await choose_count(update, context, int(update.callback_query.data.split(":")[2]))


async def on_count_text(update: Update, context: BotContext) -> str:
    """A count typed in the count step: digits only, within the catalogue's bounds."""
    club = await _draft_club(update, context)
    if club is None:
        return await start_renewal(update, context)
    try:
        count = invoices.read_count(
            update.effective_message.text, context.services.catalogue.max_resources
        )
    except QuoteError as error:
        return await _refuse_count(update, context, club, error)
    return await choose_count(update, context, count)


async def on_deactivated(update: Update, context: BotContext) -> str:
    """ "I have deactivated resources": the record read again; the count step with the new
    minimum, or (unchanged) what the record says and that staff can refresh it."""
    club = await _draft_club(update, context)
    if club is None:
        return await start_renewal(update, context)
    services = context.services
    seen = context.user_data[DRAFT].get("refused_active", club.active_resources)
    found = await club_records.recount_resources(services, club, seen, context.bot)
    if found.changed:
        await reply(
            update,
            context,
            "renew/recount_changed",
            active=found.club.active_resources,
            before=seen,
        )
    else:
        synced = club_records.synced_local(found.club, services.settings.tz)
        await reply(
            update,
            context,
            "renew/recount_unchanged",
            active=found.club.active_resources,
            synced_on=synced.date() if synced else None,
            synced_time=synced.strftime("%H:%M") if synced else None,
            staff_told=found.staff_told,
        )
    return await ask_count(update, context, found.club)


async def on_other(update: Update, context: BotContext) -> str:
    club = await _draft_club(update, context)
    if club is None:
        return await start_renewal(update, context)
    services = context.services
    await reply(
        update,
        context,
        "renew/type_count",
        buttons=[[("back", "renew:recount")]],
        minimum=minimum_resources(
            services.catalogue, context.user_data[DRAFT]["plan"], club.active_resources
        ),
        maximum=services.catalogue.max_resources,
    )
    return RENEW_COUNT


async def choose_count(update: Update, context: BotContext, count: int) -> str:
    club = await _draft_club(update, context)
    if club is None:
        return await start_renewal(update, context)
    draft = context.user_data[DRAFT]
    try:
        invoices.renewal_quote(context.services, club, plan_id=draft["plan"], resources=count)
    except QuoteError as error:
        return await _refuse_count(update, context, club, error)
    draft["count"] = count
    return await show_quote(update, context, club)


async def on_plan(update: Update, context: BotContext) -> str:
    """A plan button (`renew:plan:<id>`)."""
    club = await _draft_club(update, context)
    if club is None:
        return await start_renewal(update, context)
    services = context.services
    key = update.callback_query.data.split(":", 2)[2]
    plan_id = next((p for p in services.catalogue.plans if plan_key(p) == key), None)
    if plan_id is None:
        return await ask_plan(update, context, club)
    if plan_id != club.plan and not _plan_change(services):
        # Only offered when the catalogue allows a change: a forged press changes nothing.
        lang = lang_of(update, context)
        await settle_button(
            update, context, services.texts.render_plain(lang, "start/stale_button")
        )
        return await show_quote(update, context, club)
    draft = context.user_data[DRAFT]
    draft["plan"] = plan_id
    try:
        invoices.renewal_quote(services, club, plan_id=plan_id, resources=draft["count"])
    except QuoteError as error:
        if error.reason != "below_minimum":
            return await _refuse_count(update, context, club, error)
        await reply(
            update,
            context,
            "renew/plan_needs_more",
            plan=plan_label(services, plan_id, lang_of(update, context)),
            minimum=error.minimum,
        )
        return await ask_count(update, context, club)
    return await show_quote(update, context, club)


async def on_recount(update: Update, context: BotContext) -> str:
    """From the quote back to the count (the chosen plan is kept)."""
    club = await _draft_club(update, context)
    if club is None:
        return await start_renewal(update, context)
    return await ask_count(update, context, club)


async def on_plans(update: Update, context: BotContext) -> str:
    """From the quote to the plan choice (when the catalogue allows a change)."""
    club = await _draft_club(update, context)
    draft = context.user_data.get(DRAFT) or {}
    if club is None or "count" not in draft:
        return await start_renewal(update, context)
    if not _plan_change(context.services):
        return await show_quote(update, context, club)
    return await ask_plan(update, context, club)


async def back_to_menu(update: Update, context: BotContext) -> str:
    """ "Back" from the count step or the payment choice: the menu (an invoice stays issued)."""
    context.user_data.pop(DRAFT, None)
    return await menu.show_menu(update, context)


async def back_to_quote(update: Update, context: BotContext) -> str:
    """ "Back" from the plan choice: the quote it was opened from."""
    club = await _draft_club(update, context)
    if club is None or "count" not in (context.user_data.get(DRAFT) or {}):
        return await start_renewal(update, context)
    return await show_quote(update, context, club)


async def on_confirm(update: Update, context: BotContext) -> str:
    """Confirm → the invoice, once per period whoever confirms and however often."""
    club = await _draft_club(update, context)
    draft = context.user_data.get(DRAFT) or {}
    if club is None or "count" not in draft:
        return await start_renewal(update, context)
    return await _issue(update, context, club, replace=None)


async def _requote(update: Update, context: BotContext, club: Club) -> str | None:
    """Before issuing: the quote made again from the record as it is now. When its terms are not
    those of the quote the person confirmed (the period was paid meanwhile by another contact or
    a transfer, a lapsed subscription's start moved to today, the record's country or prices
    changed), the new quote is shown to confirm instead, and nothing is issued."""
    draft = context.user_data[DRAFT]
    try:
        quote = invoices.renewal_quote(
            context.services, club, plan_id=draft["plan"], resources=draft["count"]
        )
    except QuoteError as error:
        return await _refuse_count(update, context, club, error)
    quoted = draft.get("quoted")
    if quoted == invoices.quote_terms(club, quote):
        return None
    # A draft saved before quotes kept their terms: shown again, without saying it changed.
    return await show_quote(update, context, club, was=quoted)


async def on_replace(update: Update, context: BotContext) -> str:
    """`renew:replace:<id>`: cancel the open invoice of the period and issue the new quote.

    The id comes from the client: it must name a renewal invoice of the chat's club, or nothing
    happens and nothing about it is said (a forged press could name any invoice)."""
    club = await _draft_club(update, context)
    draft = context.user_data.get(DRAFT) or {}
    if club is None or "count" not in draft:
        return await start_renewal(update, context)
    replace = read_id(update.callback_query.data.split(":")[2])
    old = await invoice_rows.get(context.services.db, replace) if replace else None
    if old is None or old.club_id != club.id or old.kind != "renewal":
        lang = lang_of(update, context)
        notice = context.services.texts.render_plain(lang, "start/stale_button")
        await settle_button(update, context, notice)
        return RENEW_CONFIRM
    return await _issue(update, context, club, replace=old.id)


async def _issue(update: Update, context: BotContext, club: Club, replace: int | None) -> str:
    services = context.services
    draft = context.user_data[DRAFT]
    requoted = await _requote(update, context, club)
    if requoted is not None:
        return requoted
    actor = f"chat:{update.effective_chat.id}"
    # The end the confirmed quote extends, checked again in the issuing transaction.
    renews_end = dt.date.fromisoformat(draft["quoted"]["renews_end"])
    try:
        if replace is None:
            issued = await invoices.issue_renewal(
                services,
                club_id=club.id,
                plan_id=draft["plan"],
                resources=draft["count"],
                actor=actor,
                renews_end=renews_end,
            )
        else:
            issued = await invoices.replace_renewal(
                services,
                club_id=club.id,
                invoice_id=replace,
                plan_id=draft["plan"],
                resources=draft["count"],
                actor=actor,
                renews_end=renews_end,
            )
    except QuoteError as error:
        return await _refuse_count(update, context, club, error)
    except InvoiceError as error:
        if error.reason == "payment_pending" and replace is not None:
            old = await invoice_rows.get(services.db, replace)
            await reply(
                update, context, "renew/replace_pending", number=old.number, amount=old.ttc_cents
            )
            context.user_data.pop(DRAFT, None)
            return await menu.show_menu(update, context)
        if error.reason == "not_open" and replace is not None:
            old = await invoice_rows.get(services.db, replace)
            await reply(update, context, "renew/replace_failed", number=old.number if old else "?")
            context.user_data.pop(DRAFT, None)
            return await menu.show_menu(update, context)
        if error.reason == "stale":
            # The record moved between the check above and the issuing transaction.
            fresh = await _draft_club(update, context)
            if fresh is not None:
                return await show_quote(update, context, fresh, was=draft.get("quoted"))
        await reply(update, context, "renew/stale")
        return await start_renewal(update, context)
    return await _after_issue(update, context, issued)


# Reachable from every step and as entry points (start.py adds them): reminders' "Renew now"
# and fee invoices' "Pay" buttons work whatever the conversation was doing.
ANYWHERE = [
    CallbackQueryHandler(start_renewal, pattern=r"^renew:start(?::\d+)?$"),
    CallbackQueryHandler(on_pay, pattern=r"^pay:\d+(?::[a-z]+)*$"),
]

STATES = {
    MENU: [CallbackQueryHandler(start_renewal, pattern=r"^menu:renew$")],
    # "Back" is one step back: count → menu, plan → quote, quote → count, payment → menu.
    RENEW_COUNT: [
        CallbackQueryHandler(on_count_button, pattern=r"^renew:count:\d{1,6}$"),
        CallbackQueryHandler(on_other, pattern=r"^renew:other$"),
        CallbackQueryHandler(on_deactivated, pattern=r"^renew:deactivated$"),
        CallbackQueryHandler(on_recount, pattern=r"^renew:recount$"),
        CallbackQueryHandler(back_to_menu, pattern=r"^back$"),
        MessageHandler(TEXT, on_count_text),
    ],
    RENEW_PLAN: [
        CallbackQueryHandler(on_plan, pattern=r"^renew:plan:[0-9a-f]{10}$"),
        CallbackQueryHandler(back_to_quote, pattern=r"^back$"),
    ],
    RENEW_CONFIRM: [
        CallbackQueryHandler(on_confirm, pattern=r"^renew:confirm$"),
        CallbackQueryHandler(on_plans, pattern=r"^renew:plans$"),
        CallbackQueryHandler(on_replace, pattern=r"^renew:replace:\d+$"),
        CallbackQueryHandler(on_recount, pattern=r"^renew:recount$"),
        CallbackQueryHandler(on_recount, pattern=r"^back$"),
    ],
    RENEW_PAY: [CallbackQueryHandler(back_to_menu, pattern=r"^back$")],
}
