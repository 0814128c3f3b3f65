"""My invoices (SPEC §3.3): the club's invoices and credit notes; one tapped comes as a PDF/A-3
with its Factur-X XML (`OF-2026-000123.pdf`), with pay buttons when the invoice is open."""

from __future__ import annotations

from telegram import InputFile, Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler

from bot import invoices
from bot.context import BotContext
from handlers.club import menu
from handlers.club.renew import own_invoice, verified_club
from handlers.club.states import MENU
from handlers.common import keyboard, lang_of, read_id, reply, settle_button
from storage import invoices as invoice_rows

LISTED = 10


async def list_invoices(update: Update, context: BotContext) -> str:
    """`menu:invoices`: number, date, amount, status of invoices and credit notes; a button each."""
    club = await verified_club(update, context)
    items = await invoices.club_documents(context.services, club.id, LISTED) if club else []
    if not items:
        return await menu.show_menu(update, context, notice="invoice/none")
    buttons = [
        [
            (
                "invoice_item",
                f"{'creditnote' if item['kind'] == 'credit_note' else 'invoice'}:{item['id']}",
                {
                    "number": item["number"],
                    "amount": item["amount"],
                    "status": item["status"],
                    "kind": item["kind"],
                },
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
        items=items,
        open_count=sum(1 for item in items if item["status"] == "open"),
    )
    return MENU


async def send_invoice(update: Update, context: BotContext) -> None:
    """`invoice:<id>`: the invoice as a PDF; pay buttons when it is open."""
    services = context.services
    invoice_id = read_id(update.callback_query.data.split(":")[1])
    found = await invoice_rows.get(services.db, invoice_id) if invoice_id else None
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
    doc = await invoices.invoice_document(services, invoice, lang)
    await _send_pdf(update, context, doc, lang, markup)


async def send_credit_note(update: Update, context: BotContext) -> None:
    """`creditnote:<id>`: the credit note as a PDF (to the club's verified contacts only)."""
    services = context.services
    note_id = read_id(update.callback_query.data.split(":")[1])
    note = await invoice_rows.get_credit_note(services.db, note_id) if note_id else None
    cancelled = await invoice_rows.get(services.db, note.invoice_id) if note else None
    if await own_invoice(update, context, cancelled) is None:
        return
    await settle_button(update, context)
    lang = lang_of(update, context)
    doc = await invoices.credit_note_document(services, note, lang)
    await _send_pdf(update, context, doc, lang)


async def _send_pdf(update: Update, context: BotContext, doc, lang: str, markup=None) -> None:
    """The document as `<number>.pdf` (rendered off the event loop), its caption in `lang`."""
    services = context.services
    pdf = await invoices.render_pdf(services.texts, doc)
    await context.bot.send_document(
        update.effective_chat.id,
        document=InputFile(pdf, filename=doc.filename),
        caption=services.texts.render(
            lang,
            "invoice/caption",
            kind=doc.kind,
            number=doc.number,
            amount=doc.ttc_cents,
            status=doc.status,
            paid_on=doc.paid.paid_on if doc.paid else None,
            due_on=doc.due_on,
            related=doc.related_number,
        ),
        parse_mode=ParseMode.HTML,
        reply_markup=markup,
    )


ANYWHERE = [
    CallbackQueryHandler(send_invoice, pattern=r"^invoice:\d+$"),
    CallbackQueryHandler(send_credit_note, pattern=r"^creditnote:\d+$"),
]

STATES = {
    MENU: [CallbackQueryHandler(list_invoices, pattern=r"^menu:invoices$")],
}
