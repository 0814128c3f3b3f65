"""Refunding money a club paid beyond what it was asked (`overpayments`), through Stripe's Refund
API, once: one staff press claims it in the database, and the idempotency key is the
over-payment's, so a retry or a second press never refunds twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.payments.stripe_api import as_dict
from bot.services import Services
from storage import payments as payment_rows
from storage.payments import Overpayment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefundResult:
    """`status`: pending or succeeded (asked of Stripe now), done (asked before: nothing sent),
    failed (Stripe refused or could not be reached; the button may be pressed again),
    unknown (no such over-payment), not_refundable (no PaymentIntent, or no Stripe client)."""

    status: str
    overpayment: Overpayment | None = None
    refund_id: str | None = None
    error: str | None = None


async def refund_overpayment(services: Services, overpayment_id: int, actor: str) -> RefundResult:
    """Refund one over-payment in full through Stripe (`POST /v1/refunds` on its PaymentIntent,
    idempotency key `refund-overpayment-<id>`). `actor`: who pressed ("staff:9001")."""
    overpayment = await payment_rows.get_overpayment(services.db, overpayment_id)
    if overpayment is None:
        return RefundResult("unknown")
    if services.stripe is None or not overpayment.payment_intent:
        return RefundResult("not_refundable", overpayment)
    import stripe  # on first use (bot/payments/stripe_api.py)

    if not await payment_rows.claim_refund(services.db, overpayment_id, actor):
        return RefundResult("done", overpayment, overpayment.refund_id)
    params = {
        "payment_intent": overpayment.payment_intent,
        "amount": overpayment.amount_cents,
        "reason": "duplicate" if overpayment.reason == "already_paid" else "requested_by_customer",
        "metadata": {"overpayment": str(overpayment.id), "session": overpayment.session_id},
    }
    try:
        refund = as_dict(
            await services.stripe.v1.refunds.create_async(
                params, {"idempotency_key": f"refund-overpayment-{overpayment.id}"}
            )
        )
    except (stripe.StripeError, TimeoutError) as exc:
        log.warning("refund of over-payment %s failed: %s", overpayment.id, exc)
        await payment_rows.set_refund(
            services.db, overpayment.id, refund_id=None, status="failed", at=None
        )
        message = getattr(exc, "user_message", None) or type(exc).__name__
        return RefundResult("failed", overpayment, error=message)
    status = "succeeded" if refund.get("status") == "succeeded" else "pending"
    if refund.get("status") in ("failed", "canceled"):
        status = "failed"
    await payment_rows.set_refund(
        services.db,
        overpayment.id,
        refund_id=refund["id"],
        status=status,
        at=services.clock.now().isoformat(timespec="seconds"),
    )
    log.info("over-payment %s refunded by %s: %s (%s)", overpayment.id, actor, refund["id"], status)
    return RefundResult(status, overpayment, refund["id"])
