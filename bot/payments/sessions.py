"""Settling a Checkout Session as Stripe reports it (webhook event, retrieve or list): paid, for
the right invoice and amount → the invoice is paid; paid for anything else → recorded as money to
refund and staff alerted; completed with a delayed method → pending, the club told; its debit
failed (the event, or its PaymentIntent seen back at `requires_payment_method`) → failed, the club
told once that it may pay again."""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot

from bot.payments.keys import METADATA_KEY, charges_the_invoice, invoice_of_session
from bot.payments.ledger import record_payment
from bot.payments.notifications import (
    alert_overpayment,
    tell_payment_failed,
    tell_payment_pending,
)
from bot.payments.stripe_api import as_dict
from bot.services import Services
from storage import payments as payment_rows
from storage.invoices import Invoice

log = logging.getLogger(__name__)

PAID = ("paid", "no_payment_required")
# A PaymentIntent whose payment attempt failed goes back to `requires_payment_method` (Stripe,
# "How PaymentIntents work": processing → requires_payment_method when a bank debit fails); a
# canceled one will take no money either. The Checkout Session itself stays `complete`/`unpaid`.
DEBIT_FAILED = ("requires_payment_method", "canceled")
# How long asking Stripe about a pending debit's PaymentIntent may take.
INTENT_WAIT = 10.0


async def settle_session(
    services: Services, session: dict, *, actor: str, bot: Bot | None = None
) -> str:
    """Act on a Checkout Session as Stripe reports it. Returns an outcome word: paid,
    already_paid (this same money, seen before), open, pending, expired, unknown_invoice,
    amount_mismatch, cancelled or overpaid (the last three, and a paid unknown_invoice, are
    recorded in `overpayments` and staff are alerted with what to refund)."""
    invoice = await invoice_of_session(services, session)
    stored = await payment_rows.get_session(services.db, session.get("id") or "")
    status = session.get("status")
    paid = session.get("payment_status") in PAID
    if stored is not None:
        if status == "complete" and not paid:
            if stored.status == "open":
                await payment_rows.set_session_status(services.db, stored.id, "pending")
                await tell_payment_pending(services, bot, invoice)
            elif stored.status == "pending" and await _debit_failed(services, session):
                # Its async_payment_failed event never came (a webhook missed for days): the
                # session would stay "pending" and no card link would ever be given again.
                return await record_debit_failed(services, bot, session, invoice)
        elif status in ("open", "complete", "expired"):
            await payment_rows.set_session_status(services.db, stored.id, status)
    if status == "expired":
        return "expired"
    if status != "complete":
        return "open"
    if not paid:
        return "pending"
    if invoice is None:
        metadata = session.get("metadata") or {}
        if METADATA_KEY in metadata or "invoice" in metadata:
            # Made by this bot for an invoice it cannot prove (a restored database, a reset
            # sandbox): the money is not applied to whatever invoice now has that number.
            await _overpaid(services, bot, session, None, "not_ours")
        return "unknown_invoice"
    if not charges_the_invoice(session, invoice):
        await _overpaid(services, bot, session, invoice, "amount_mismatch")
        return "amount_mismatch"
    reference = session.get("payment_intent") or session["id"]
    result = await record_payment(services, invoice.id, "card", actor, reference=reference, bot=bot)
    if result.status == "cancelled":
        await _overpaid(services, bot, session, invoice, "cancelled")
    elif result.status == "already_paid" and result.payment.reference not in (
        reference,
        session["id"],
    ):
        # Paid by hand, or through another session: this money is a second payment.
        await _overpaid(services, bot, session, invoice, "already_paid")
        return "overpaid"
    return result.status


async def _overpaid(
    services: Services, bot: Bot | None, session: dict, invoice: Invoice | None, reason: str
) -> None:
    overpayment = await payment_rows.record_overpayment(
        services.db,
        session_id=session["id"],
        invoice_id=invoice.id if invoice else None,
        payment_intent=session.get("payment_intent"),
        amount_cents=int(session.get("amount_total") or 0),
        currency=(session.get("currency") or "eur").lower(),
        reason=reason,
        at=services.clock.now().isoformat(timespec="seconds"),
    )
    await alert_overpayment(services, bot, overpayment)


async def record_debit_failed(
    services: Services, bot: Bot | None, session: dict, invoice: Invoice | None
) -> str:
    """A delayed payment (SEPA Direct Debit…) of `session` failed: the stored session becomes
    `failed` (no longer blocking a new link) and the club of its provable invoice is told, once,
    that it may pay again (the event and the reconcile job may both see it). "payment_failed"."""
    stored = await payment_rows.get_session(services.db, session.get("id") or "")
    if stored is not None and not await payment_rows.mark_session_failed(services.db, stored.id):
        return "payment_failed"  # recorded (and told) already
    await tell_payment_failed(services, bot, invoice)
    return "payment_failed"


async def _debit_failed(services: Services, session: dict) -> bool:
    """Whether the delayed payment of a completed, unpaid session has failed: its PaymentIntent
    is back at `requires_payment_method` (or canceled). False when Stripe cannot say now."""
    intent_id = session.get("payment_intent")
    if isinstance(intent_id, dict):
        intent_id = intent_id.get("id")
    if not intent_id or services.stripe is None:
        return False
    import stripe  # on first use (bot/payments/stripe_api.py)

    try:
        async with asyncio.timeout(INTENT_WAIT):
            intent = as_dict(await services.stripe.v1.payment_intents.retrieve_async(intent_id))
    except (stripe.StripeError, TimeoutError) as exc:
        log.warning("could not look at %s of %s: %s", intent_id, session.get("id"), exc)
        return False
    return intent.get("status") in DEBIT_FAILED
