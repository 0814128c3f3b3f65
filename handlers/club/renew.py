"""Renewal (SPEC §3.4): count, plan, quote, invoice, then card, transfer or cheque.

`renew:start` opens the count step from any step (reminder buttons use it); `pay:<invoice id>` opens
the payment choice of any open invoice of the chat's clubs (fee invoices of issue 4 too)."""

from __future__ import annotations

import hashlib

from telegram import Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot import club_records, invoices, payments, verification
from bot.catalogue import QuoteError, minimum_resources
from bot.context import BotContext
from bot.invoices import InvoiceError, Issued, line_label, percent, plan_label
from bot.telegram_limits import button_url_accepted
from handlers.club import menu
from handlers.club.states import IDENTIFY, MENU, RENEW_CONFIRM, RENEW_COUNT, RENEW_PAY, RENEW_PLAN
from handlers.common import callback_data, lang_of, read_id, reply, settle_button
from storage import clubs as club_rows
from storage import contacts
from storage import invoices as invoice_rows
from storage.clubs import Club
from storage.invoices import Invoice

TEXT = filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND
DRAFT = "draft_renewal"  # {"club_id", "plan", "count"}: JSON only
STEPS_ABOVE_MINIMUM = (1, 2, 5)


async def verified_club(update: Update, context: BotContext) -> Club | None:
    club_id = await verification.verified_club_id(
        context.services, update.effective_chat.id, context.user_data.get("club_id")
    )
    if not club_id:
        return None
    context.user_data["club_id"] = club_id
    return await club_rows.get(context.services.db, club_id)


async def _not_verified(update: Update, context: BotContext) -> str:
    await reply(update, context, "start/not_verified")
    return IDENTIFY


# --- count ------------------------------------------------------------------------------------


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


async def ask_count(update: Update, context: BotContext, club: Club) -> str:
    services = context.services
    draft = context.user_data[DRAFT]
    maximum = services.catalogue.max_resources
    minimum = minimum_resources(services.catalogue, draft["plan"], club.active_resources)
    live = await invoice_rows.live_renewal(services.db, club.id, club.subscription_ends)
    ahead = await invoices.paid_ahead(services, club)
    buttons = [[("count_min", callback_data("renew", "count", minimum), {"count": minimum})]]
    more = [minimum + step for step in STEPS_ABOVE_MINIMUM if minimum + step <= maximum]
    if more:
        buttons.append([("count", callback_data("renew", "count", n), {"count": n}) for n in more])
    buttons.append([("count_other", "renew:other")])
    if live is not None and live.is_open:
        buttons.insert(0, [("pay_invoice", callback_data("pay", live.id), {"number": live.number})])
    buttons.append([("back", "back")])
    synced = club_records.synced_local(club, services.settings.tz)
    await reply(
        update,
        context,
        "renew/count",
        buttons=buttons,
        synced_on=synced.date() if synced else None,
        synced_time=synced.strftime("%H:%M") if synced else None,
        club=club.name,
        plan=plan_label(services, draft["plan"], lang_of(update, context)),
        ends=club.subscription_ends,
        lapsed=club.subscription_ends < services.clock.today(),
        active=club.active_resources,
        minimum=minimum,
        open_number=live.number if live is not None and live.is_open else None,
        paid_number=ahead.invoice.number if ahead else None,
        next_start=ahead.next_start if ahead else None,
        next_end=ahead.next_end if ahead else None,
    )
    return RENEW_COUNT


async def _draft_club(update: Update, context: BotContext) -> Club | None:
    """The club of the renewal under way, if this chat still speaks for it."""
    draft = context.user_data.get(DRAFT)
    club = await verified_club(update, context)
    if not draft or club is None or club.id != draft.get("club_id"):
        return None
    return club


async def _refuse_count(update: Update, context: BotContext, club: Club, error: QuoteError) -> str:
    services = context.services
    plan_id = context.user_data[DRAFT]["plan"]
    minimum = minimum_resources(services.catalogue, plan_id, club.active_resources)
    # Held back by the activated count: the club can say it deactivated some (re-read below).
    by_activated = error.reason == "below_minimum" and club.active_resources >= minimum
    if by_activated:
        context.user_data[DRAFT]["refused_active"] = club.active_resources
    await reply(
        update,
        context,
        f"renew/count_{error.reason}",
        # Every step has a way back (SPEC §3): "Back" leaves the count step for the menu.
        buttons=([[("deactivated", "renew:deactivated")]] if by_activated else [])
        + [[("back", "back")]],
        minimum=minimum,
        maximum=services.catalogue.max_resources,
        active=club.active_resources,
        plan=plan_label(services, plan_id, lang_of(update, context)),
    )
    return RENEW_COUNT


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


# --- plan -------------------------------------------------------------------------------------


async def ask_plan(update: Update, context: BotContext, club: Club) -> str:
    services = context.services
    lang = lang_of(update, context)
    draft = context.user_data[DRAFT]
    options = []
    for plan_id, plan in services.catalogue.plans.items():
        try:
            quote = invoices.renewal_quote(
                services, club, plan_id=plan_id, resources=draft["count"]
            )
            ttc = quote.ttc_cents
        except QuoteError:
            ttc = None
        options.append(
            {
                "id": plan_id,
                "label": plan.label(lang),
                "ttc": ttc,
                "minimum": minimum_resources(services.catalogue, plan_id, club.active_resources),
                "current": plan_id == draft["plan"],
            }
        )
    buttons = [
        [
            (
                "plan_keep",
                callback_data("renew", "plan", plan_key(draft["plan"])),
                {"plan": plan_label(services, draft["plan"], lang)},
            )
        ]
    ]
    others = [o for o in options if not o["current"]]
    for start in range(0, len(others), 2):
        buttons.append(
            [
                (
                    "plan_pick",
                    callback_data("renew", "plan", plan_key(o["id"])),
                    {"plan": o["label"]},
                )
                for o in others[start : start + 2]
            ]
        )
    buttons.append([("back", "back")])
    await reply(
        update, context, "renew/plan", buttons=buttons, count=draft["count"], options=options
    )
    return RENEW_PLAN


def plan_key(plan_id: str) -> str:
    """A plan's short id for callback data: a catalogue's plan id may be longer than a button
    can carry (64 bytes in all)."""
    return hashlib.blake2s(plan_id.encode(), digest_size=5).hexdigest()


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


# --- quote and invoice ------------------------------------------------------------------------


async def show_quote(update: Update, context: BotContext, club: Club) -> str:
    services = context.services
    lang = lang_of(update, context)
    draft = context.user_data[DRAFT]
    quote = invoices.renewal_quote(services, club, plan_id=draft["plan"], resources=draft["count"])
    lines = [
        {
            "label": line_label(services, line, quote, lang),
            "quantity": line.quantity,
            "unit": line.unit_cents,
            "total": line.total_cents,
        }
        for line in invoices.lines_of(quote)
    ]
    await reply(
        update,
        context,
        "renew/quote",
        buttons=[
            [("renew_confirm", "renew:confirm")],
            *([[("change_plan", "renew:plans")]] if _plan_change(services) else []),
            [("change_count", "renew:recount")],
            [("back", "back")],
        ],
        club=club.name,
        lines=lines,
        ht=quote.ht_cents,
        vat=quote.vat_cents,
        percent=percent(quote.vat_rate_bp),
        regime=str(quote.vat_regime),
        ttc=quote.ttc_cents,
        start=quote.period_start,
        end=quote.period_end,
        plan=plan_label(services, quote.plan_id, lang),
        resources=quote.resources,
        sample=services.catalogue.sample,
    )
    return RENEW_CONFIRM


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


def _plan_change(services) -> bool:
    catalogue = services.catalogue
    return catalogue.plan_change_allowed and len(catalogue.plans) > 1


async def on_confirm(update: Update, context: BotContext) -> str:
    """Confirm → the invoice, once per period whoever confirms and however often."""
    club = await _draft_club(update, context)
    draft = context.user_data.get(DRAFT) or {}
    if club is None or "count" not in draft:
        return await start_renewal(update, context)
    return await _issue(update, context, club, replace=None)


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
    actor = f"chat:{update.effective_chat.id}"
    try:
        if replace is None:
            issued = await invoices.issue_renewal(
                services,
                club_id=club.id,
                plan_id=draft["plan"],
                resources=draft["count"],
                actor=actor,
            )
        else:
            issued = await invoices.replace_renewal(
                services,
                club_id=club.id,
                invoice_id=replace,
                plan_id=draft["plan"],
                resources=draft["count"],
                actor=actor,
            )
    except QuoteError as error:
        return await _refuse_count(update, context, club, error)
    except InvoiceError as error:
        if error.reason == "not_open" and replace is not None:
            old = await invoice_rows.get(services.db, replace)
            await reply(update, context, "renew/replace_failed", number=old.number if old else "?")
            context.user_data.pop(DRAFT, None)
            return await menu.show_menu(update, context)
        await reply(update, context, "renew/stale")
        return await start_renewal(update, context)
    return await _after_issue(update, context, issued)


async def _after_issue(update: Update, context: BotContext, issued: Issued) -> str:
    services = context.services
    lang = lang_of(update, context)
    invoice = issued.invoice
    draft = context.user_data[DRAFT]
    if issued.replaced is not None:
        await payments.expire_links(services, issued.replaced.id)
        await payments.tell_staff_replaced(services, context.bot, issued.replaced, invoice)
    if invoice.status == "paid":
        context.user_data.pop(DRAFT, None)
        return await menu.show_menu(
            update, context, notice="renew/already_paid", notice_values={"number": invoice.number}
        )
    if not issued.created and not invoices.same_terms(
        invoice, plan_id=draft["plan"], resources=draft["count"]
    ):
        club = await club_rows.get(services.db, invoice.club_id)
        quote = invoices.renewal_quote(
            services, club, plan_id=draft["plan"], resources=draft["count"]
        )
        # A transfer or cheque the club said it sent for the open invoice: warn before replacing.
        announced = await payments.announced_payment(services, invoice)
        await reply(
            update,
            context,
            "renew/replace",
            buttons=[
                [("replace_invoice", f"renew:replace:{invoice.id}", {"number": invoice.number})],
                [("pay_invoice", f"pay:{invoice.id}", {"number": invoice.number})],
                [("back", "back")],
            ],
            number=invoice.number,
            old_plan=plan_label(services, invoice.plan, lang),
            old_resources=invoice.resources,
            old_amount=invoice.ttc_cents,
            new_plan=plan_label(services, draft["plan"], lang),
            new_resources=draft["count"],
            new_amount=quote.ttc_cents,
            announced=announced["method"] if announced else None,
            announced_on=announced["on"] if announced else None,
        )
        return RENEW_CONFIRM
    context.user_data.pop(DRAFT, None)
    await reply(
        update,
        context,
        "renew/issued",
        buttons=_pay_buttons(invoice),
        existing=not issued.created,
        number=invoice.number,
        amount=invoice.ttc_cents,
        replaced=issued.replaced.number if issued.replaced else None,
    )
    return RENEW_PAY


# --- paying an invoice (any open invoice of the chat's clubs) ---------------------------------


def _pay_buttons(invoice: Invoice) -> list:
    return [
        [("pay_card", f"pay:{invoice.id}:card")],
        [
            ("pay_transfer", f"pay:{invoice.id}:transfer"),
            ("pay_cheque", f"pay:{invoice.id}:cheque"),
        ],
        [("back", "back")],
    ]


async def own_invoice(
    update: Update, context: BotContext, invoice: Invoice | None
) -> Invoice | None:
    """The invoice if this chat is a verified contact of its club; else says so and None."""
    if invoice is not None:
        link = await contacts.get(context.services.db, invoice.club_id, update.effective_chat.id)
        if link is not None:
            context.user_data["club_id"] = invoice.club_id
            return invoice
    await reply(update, context, "invoice/not_yours")
    return None


async def _payable(update: Update, context: BotContext, invoice: Invoice | None) -> Invoice | None:
    invoice = await own_invoice(update, context, invoice)
    if invoice is not None and not invoice.is_open:
        await reply(update, context, "pay/not_open", number=invoice.number, status=invoice.status)
        return None
    return invoice


async def show_pay_choice(update: Update, context: BotContext, invoice: Invoice) -> str:
    await reply(
        update,
        context,
        "pay/choose",
        buttons=_pay_buttons(invoice),
        number=invoice.number,
        amount=invoice.ttc_cents,
    )
    return RENEW_PAY


async def on_pay(update: Update, context: BotContext) -> str | None:
    """`pay:<id>[:card|:transfer|:cheque|:sent:<method>]`, from any step."""
    parts = update.callback_query.data.split(":")
    invoice_id = read_id(parts[1])
    found = await invoice_rows.get(context.services.db, invoice_id) if invoice_id else None
    invoice = await _payable(update, context, found)
    if invoice is None:
        return None  # said why; the step does not change
    action = parts[2] if len(parts) > 2 else ""
    if action == "card":
        return await pay_by_card(update, context, invoice)
    if action in ("transfer", "cheque"):
        return await pay_by_hand(update, context, invoice, action)
    if action == "sent" and len(parts) > 3 and parts[3] in ("transfer", "cheque"):
        return await announce_sent(update, context, invoice, parts[3])
    return await show_pay_choice(update, context, invoice)


async def pay_by_card(update: Update, context: BotContext, invoice: Invoice) -> str:
    services = context.services
    lang = lang_of(update, context)
    try:
        link = await payments.card_link(services, invoice, lang, bot=context.bot)
    except payments.PaymentUnavailable as error:
        if error.reason == "pending":  # a delayed payment is on its way: no second link
            await reply(
                update, context, "pay/card_pending", number=invoice.number, amount=invoice.ttc_cents
            )
            return await menu.show_menu(update, context)
        # Trying the card again only helps when Stripe was unreachable, not when it refused.
        retry = [[("pay_card", f"pay:{invoice.id}:card")]] if error.reason == "stripe_error" else []
        await reply(
            update,
            context,
            "pay/card_unavailable",
            buttons=[
                *retry,
                [
                    ("pay_transfer", f"pay:{invoice.id}:transfer"),
                    ("pay_cheque", f"pay:{invoice.id}:cheque"),
                ],
                [("back", "back")],
            ],
            reason=error.reason,
        )
        return RENEW_PAY
    if link.paid:
        return await menu.show_menu(
            update,
            context,
            notice="pay/not_open",
            notice_values={"number": invoice.number, "status": "paid"},
        )
    # A link Telegram would refuse in a button (a host without a dot) is given in the text.
    as_button = button_url_accepted(link.url)
    await reply(
        update,
        context,
        "pay/card_link",
        buttons=[
            *(
                [[("pay_link", f"url:{link.url}", {"amount": invoice.ttc_cents})]]
                if as_button
                else []
            ),
            [("pay_other_method", f"pay:{invoice.id}")],
            [("back", "back")],
        ],
        link=None if as_button else link.url,
        reused=link.reused,
        number=invoice.number,
        amount=invoice.ttc_cents,
        until_date=link.expires_at.date(),
        until_time=link.expires_at.strftime("%H:%M"),
    )
    return RENEW_PAY


async def pay_by_hand(update: Update, context: BotContext, invoice: Invoice, method: str) -> str:
    """Transfer or cheque instructions from the payee details stored on the invoice."""
    sent = "sent_transfer" if method == "transfer" else "sent_cheque"
    buttons = [
        [(sent, f"pay:{invoice.id}:sent:{method}")],
        [("pay_other_method", f"pay:{invoice.id}")],
        [("back", "back")],
    ]
    if method == "transfer":
        transfer = invoice.payee["transfer"]
        await reply(
            update,
            context,
            "pay/transfer",
            buttons=buttons,
            number=invoice.number,
            amount=invoice.ttc_cents,
            holder=transfer["holder"],
            iban=transfer["iban"],
            bic=transfer["bic"],
        )
    else:
        cheque = invoice.payee["cheque"]
        await reply(
            update,
            context,
            "pay/cheque",
            buttons=buttons,
            number=invoice.number,
            amount=invoice.ttc_cents,
            payee=cheque["payee"],
            address=cheque["address"],
        )
    return RENEW_PAY


async def announce_sent(update: Update, context: BotContext, invoice: Invoice, method: str) -> str:
    """ "I have sent it": one line to staff, with the /paid command to use on arrival."""
    await payments.announce_sent_by_hand(
        context.services, context.bot, invoice, method, update.effective_user.full_name
    )
    return await menu.show_menu(
        update, context, notice="pay/sent_thanks", notice_values={"method": method}
    )


async def on_start_payload(update: Update, context: BotContext, payload: str) -> str | None:
    """`/start paid_<number>` (back from Stripe's page) or `/start pay_<number>` (cancelled there)."""
    kind, _, number = payload.partition("_")
    found = await invoices.find_invoice(context.services, number)
    invoice = await own_invoice(update, context, found)
    if invoice is None:
        return await menu.show_menu(update, context)  # or the identify step when not verified
    if kind == "paid" or not invoice.is_open:
        return await menu.show_menu(
            update,
            context,
            notice="pay/returned",
            notice_values={"number": invoice.number, "status": invoice.status},
        )
    return await show_pay_choice(update, context, invoice)


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
