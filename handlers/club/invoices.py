"""My invoices (SPEC §3.3): the club's invoices with their status; one tapped comes as a document.

The document is HTML rendered from `messages/<lang>/invoice/document.j2`, with pay buttons when open."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler

from bot import invoices
from bot.context import BotContext
from handlers.club import menu
from handlers.club.renew import own_invoice, verified_club
from handlers.club.states import MENU
from handlers.common import keyboard, lang_of, reply, settle_button
from storage import invoices as invoice_rows

LISTED = 10


async def list_invoices(update: Update, context: BotContext) -> str:
    """`menu:invoices`: number, date, amount, status; a button per invoice."""
    club = await verified_club(update, context)
    items = await invoice_rows.for_club(context.services.db, club.id, limit=LISTED) if club else []
    if not items:
        await reply(update, context, "invoice/none")
        return await menu.show_menu(update, context)
    buttons = [
        [
            (
                "invoice_item",
                f"invoice:{item.id}",
                {"number": item.number, "amount": item.ttc_cents, "status": item.status},
            )
        ]
        for item in items
    ]
    buttons.append([("back", "back")])
    await reply(
        update,
        context,
        "invoice/list",
        buttons=buttons,
        items=[
            {
                "number": item.number,
                "issued": item.issued_on,
                "amount": item.ttc_cents,
                "status": item.status,
            }
            for item in items
        ],
        open_count=sum(1 for item in items if item.is_open),
    )
    return MENU


async def send_invoice(update: Update, context: BotContext) -> None:
    """`invoice:<id>`: the invoice as an HTML document; pay buttons when it is open."""
    services = context.services
    found = await invoice_rows.get(services.db, int(update.callback_query.data.split(":")[1]))
    invoice = await own_invoice(update, context, found)
    if invoice is None:
        return
    await settle_button(update, context)
    lang = lang_of(update, context)
    markup = None
    if invoice.is_open:
        markup = keyboard(
            lang,
            context,
            [
                [("pay_card", f"pay:{invoice.id}:card")],
                [
                    ("pay_transfer", f"pay:{invoice.id}:transfer"),
                    ("pay_cheque", f"pay:{invoice.id}:cheque"),
                ],
            ],
        )
    await context.bot.send_document(
        update.effective_chat.id,
        document=invoices.render_document(services, invoice, lang),
        filename=f"{invoice.number}.html",
        caption=services.texts.render(
            lang,
            "invoice/caption",
            number=invoice.number,
            amount=invoice.ttc_cents,
            status=invoice.status,
        ),
        parse_mode=ParseMode.HTML,
        reply_markup=markup,
    )


ANYWHERE = [CallbackQueryHandler(send_invoice, pattern=r"^invoice:\d+$")]

STATES = {
    MENU: [CallbackQueryHandler(list_invoices, pattern=r"^menu:invoices$")],
}
