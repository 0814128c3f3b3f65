"""Settling a Checkout Session as Stripe reports it (webhook event, retrieve or list): paid and
for the right amount → the invoice is paid; anything else is recorded or alerted, never paid."""

from __future__ import annotations

from telegram import Bot

from bot.payments.ledger import record_payment
from bot.payments.notifications import staff_alert
from bot.services import Services
from storage import invoices as invoice_rows
from storage import payments as payment_rows


async def settle_session(
    services: Services, session: dict, *, actor: str, bot: Bot | None = None
) -> str:
    """Act on a Checkout Session as Stripe reports it (event payload, retrieve or list).

    Complete and paid → record_payment (idempotent). Returns an outcome word."""
    number = (session.get("metadata") or {}).get("invoice") or session.get("client_reference_id")
    invoice = await invoice_rows.get_by_number(services.db, number) if number else None
    if invoice is None:
        return "unknown_invoice"
    if await payment_rows.get_session(services.db, session["id"]) is not None:
        status = session["status"]
        if status == "complete" and session.get("payment_status") == "unpaid":
            status = "open"  # an async payment (SEPA…) is still on its way
        await payment_rows.set_session_status(services.db, session["id"], status)
    if session["status"] == "expired":
        return "expired"
    if session["status"] != "complete":
        return "open"
    if session.get("payment_status") not in ("paid", "no_payment_required"):
        return "pending"
    currency = (session.get("currency") or "").lower()
    if session.get("amount_total") != invoice.ttc_cents or currency != invoice.currency.lower():
        await staff_alert(
            services,
            bot,
            "pay/staff_mismatch",
            club_id=invoice.club_id,
            number=invoice.number,
            expected=invoice.ttc_cents,
            received=session.get("amount_total") or 0,
            session=session["id"],
        )
        return "amount_mismatch"
    result = await record_payment(
        services,
        invoice.id,
        "card",
        actor,
        reference=session.get("payment_intent") or session["id"],
        bot=bot,
    )
    if result.status == "cancelled":
        await staff_alert(
            services,
            bot,
            "pay/staff_cancelled_paid",
            club_id=invoice.club_id,
            number=invoice.number,
            amount=invoice.ttc_cents,
            session=session["id"],
        )
    return result.status
