"""What each step of a renewal shows the club contact — the count, the plan, the quote, the invoice
issued — and the draft renewal (club, plan, count) the steps work on; handlers/club/renew.py answers.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from telegram import Update

from bot import club_records, invoices, payments, verification
from bot.catalogue import QuoteError, minimum_resources
from bot.context import BotContext
from bot.invoices import Issued, line_label, plan_label
from bot.texts import format_percent
from handlers.club import menu
from handlers.club.pay import _pay_buttons
from handlers.club.states import IDENTIFY, RENEW_CONFIRM, RENEW_COUNT, RENEW_PAY, RENEW_PLAN
from handlers.common import callback_data, lang_of, reply
from storage import clubs as club_rows
from storage import invoices as invoice_rows
from storage.clubs import Club

# {"club_id", "plan", "count", "quoted": invoices.quote_terms of the quote last shown}: JSON only
DRAFT = "draft_renewal"
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


async def _draft_club(update: Update, context: BotContext) -> Club | None:
    """The club of the renewal under way, if this chat still speaks for it."""
    draft = context.user_data.get(DRAFT)
    club = await verified_club(update, context)
    if not draft or club is None or club.id != draft.get("club_id"):
        return None
    return club


async def _beyond_maximum(update: Update, context: BotContext, club: Club) -> str:
    """More resources activated than the catalogue's maximum: no count can be invoiced, so no
    count is offered (a "600 (minimum)" button then « type a number between 600 and 500 » was a
    dead end). Staff handle it; deactivating resources and saying so re-reads the count."""
    context.user_data[DRAFT]["refused_active"] = club.active_resources
    await reply(
        update,
        context,
        "renew/count_beyond_maximum",
        buttons=[[("deactivated", "renew:deactivated")], [("back", "back")]],
        active=club.active_resources,
        maximum=context.services.catalogue.max_resources,
    )
    return RENEW_COUNT


async def ask_count(update: Update, context: BotContext, club: Club) -> str:
    services = context.services
    draft = context.user_data[DRAFT]
    maximum = services.catalogue.max_resources
    minimum = minimum_resources(services.catalogue, draft["plan"], club.active_resources)
    if minimum > maximum:
        return await _beyond_maximum(update, context, club)
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


async def _refuse_count(update: Update, context: BotContext, club: Club, error: QuoteError) -> str:
    services = context.services
    plan_id = context.user_data[DRAFT]["plan"]
    minimum = minimum_resources(services.catalogue, plan_id, club.active_resources)
    if minimum > services.catalogue.max_resources:
        return await _beyond_maximum(update, context, club)
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


async def show_quote(
    update: Update, context: BotContext, club: Club, *, was: dict | None = None
) -> str:
    """The quote of the draft; `was`: the terms of the quote the person had been shown, when
    it changed before they confirmed it (said above the new one)."""
    services = context.services
    lang = lang_of(update, context)
    draft = context.user_data[DRAFT]
    quote = invoices.renewal_quote(services, club, plan_id=draft["plan"], resources=draft["count"])
    draft["quoted"] = invoices.quote_terms(club, quote)
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
        percent=format_percent(quote.vat_rate_bp, lang),
        regime=str(quote.vat_regime),
        ttc=quote.ttc_cents,
        start=quote.period_start,
        end=quote.period_end,
        plan=plan_label(services, quote.plan_id, lang),
        resources=quote.resources,
        sample=services.catalogue.sample,
        changed=was is not None,
        was_start=dt.date.fromisoformat(was["start"]) if was else None,
        was_end=dt.date.fromisoformat(was["end"]) if was else None,
        was_ttc=was["ttc"] if was else None,
    )
    return RENEW_CONFIRM


def _plan_change(services) -> bool:
    catalogue = services.catalogue
    return catalogue.plan_change_allowed and len(catalogue.plans) > 1


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
        if await invoices.payment_on_its_way(services, invoice.id):
            # The club's bank is paying it: replacing it would cancel what is being paid.
            context.user_data.pop(DRAFT, None)
            await reply(
                update,
                context,
                "renew/replace_pending",
                buttons=[[("back", "back")]],
                number=invoice.number,
                amount=invoice.ttc_cents,
            )
            return RENEW_CONFIRM
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
