"""The "Refund" button under a staff alert about money received beyond an invoice: staff only,
one refund through Stripe whatever the number of presses (bot/payments/refunds.py)."""

from __future__ import annotations

import contextlib

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler

from bot import payments
from bot.context import BotContext
from handlers.common import answer_query, read_id
from handlers.staff.access import require_staff

STAFF_LANG = "fr"


async def on_refund(update: Update, context: BotContext) -> None:
    """refund:<over-payment id> pressed."""
    query = update.callback_query
    if not await require_staff(update, context, query.data):
        return
    overpayment_id = read_id(query.data.split(":")[1])
    services, staff = context.services, update.effective_user
    result = await payments.refund_overpayment(services, overpayment_id or 0, f"staff:{staff.id}")
    amount = result.overpayment.amount_cents if result.overpayment else 0
    text = services.texts.render(
        STAFF_LANG,
        "pay/staff_refund",
        status=result.status,
        amount=amount,
        who=staff.first_name,
        refund=result.refund_id,
        error=result.error,
    )
    await answer_query(update)
    if result.status in ("pending", "succeeded", "done"):
        with contextlib.suppress(TelegramError):  # the button is spent
            await query.edit_message_reply_markup(None)
    await query.message.reply_text(text, parse_mode="HTML")


HANDLERS = [CallbackQueryHandler(on_refund, pattern=r"^refund:\d+$")]
