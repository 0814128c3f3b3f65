"""Paying an invoice from the club chat (any open invoice of the chat's clubs): the choice of card,
transfer or cheque, the Stripe link, the payee details and "I have sent it".
"""

from __future__ import annotations

from telegram import Update

from bot import invoices, payments
from bot.context import BotContext
from bot.telegram_limits import button_url_accepted
from handlers.club import menu
from handlers.club.states import RENEW_PAY
from handlers.common import lang_of, read_id, reply
from storage import contacts
from storage import invoices as invoice_rows
from storage.invoices import Invoice


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
        keep=True,  # the link stays at hand until it expires
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
            keep=True,  # the bank details stay readable: a later press answers below them
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
            keep=True,
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
