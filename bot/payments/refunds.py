"""Refunding money a club paid beyond what it was asked (`overpayments`), through Stripe's Refund
API, once: one staff press claims an attempt in the database, a refund already made for the
over-payment is looked up before any new request, and each attempt has its own idempotency key."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from bot.payments.stripe_api import LookupFailed, as_dict, outcome_unknown
from bot.services import Services
from storage import payments as payment_rows
from storage.payments import Overpayment

log = logging.getLogger(__name__)

# Where a refund says which over-payment it is for (its metadata), so it can be found again.
METADATA_KEY = "overpayment"
# One call to Stripe (a create with the client's own retries, or one page of the refunds list)
# is given up after this many seconds (outcome unknown: the next press looks the refund up).
REFUND_WAIT = 60.0
# A claim older than this was left by a process that died mid-attempt (an attempt is at most a
# look-up, a create and a look-up: 3 × REFUND_WAIT): the next press takes it again.
CLAIM_TTL = 5 * 60


@dataclass(frozen=True)
class RefundResult:
    """`status`: pending or succeeded (asked of Stripe now), done (asked before, or found made by
    an earlier press whose answer was lost: nothing sent), in_progress (another press's attempt
    began less than CLAIM_TTL ago: nothing sent; a later press takes over a dead one's claim),
    failed (Stripe refused or could not be reached; the button may be pressed again), unknown
    (no such over-payment), not_refundable (no PaymentIntent, or no Stripe client)."""

    status: str
    overpayment: Overpayment | None = None
    refund_id: str | None = None
    error: str | None = None


async def refund_overpayment(services: Services, overpayment_id: int, actor: str) -> RefundResult:
    """Refund one over-payment in full through Stripe (`POST /v1/refunds` on its PaymentIntent).
    `actor`: who pressed ("staff:9001").

    Stripe keeps the first result of an idempotency key, a 500 included, for 24 hours
    (docs.stripe.com/idempotency): a key that got a 500 or no answer can never succeed, and the
    refund may have been made all the same. So each press is an attempt with its own key,
    `refund-overpayment-<id>-<attempt>`, and from the second attempt on (and after a 5xx, a 409
    or a lost answer) the PaymentIntent's refunds are looked up first: one carrying this
    over-payment in its metadata is recorded, never made again."""
    overpayment = await payment_rows.get_overpayment(services.db, overpayment_id)
    if overpayment is None:
        return RefundResult("unknown")
    if services.stripe is None or not overpayment.payment_intent:
        return RefundResult("not_refundable", overpayment)
    import stripe  # on first use (bot/payments/stripe_api.py)

    # Real seconds, not the services' clock: the sandbox moves that one by days (`:date +3`),
    # which would make a running attempt's claim look stale; an attempt's length is real time.
    now = int(time.time())
    attempt = await payment_rows.claim_refund(
        services.db, overpayment_id, actor, now=now, stale_before=now - CLAIM_TTL
    )
    if attempt is None:
        current = await payment_rows.get_overpayment(services.db, overpayment_id)
        if current.refund_status == "requested":
            # Another press's attempt may still be running: not "done" (its button stays, for a
            # press once the claim is stale if that attempt's process died).
            return RefundResult("in_progress", current)
        return RefundResult("done", current, current.refund_id)
    try:
        if attempt > 1 and (found := await _made_before(services, overpayment)) is not None:
            return await _record(services, overpayment, found, actor, "done")
    except LookupFailed as exc:
        return await _failed(services, overpayment, exc.__cause__)
    params = {
        "payment_intent": overpayment.payment_intent,
        "amount": overpayment.amount_cents,
        "reason": "duplicate" if overpayment.reason == "already_paid" else "requested_by_customer",
        "metadata": {METADATA_KEY: str(overpayment.id), "session": overpayment.session_id},
    }
    key = f"refund-overpayment-{overpayment.id}-{attempt}"
    try:
        async with asyncio.timeout(REFUND_WAIT):
            refund = as_dict(
                await services.stripe.v1.refunds.create_async(params, {"idempotency_key": key})
            )
    except (stripe.StripeError, TimeoutError) as exc:
        if outcome_unknown(exc):
            # Made or not? Stripe's answer cannot say (a 500 is kept for the key whether the
            # refund was made or not); its list of the PaymentIntent's refunds can.
            try:
                found = await _made_before(services, overpayment)
            except LookupFailed:
                found = None
            if found is not None:
                return await _record(services, overpayment, found, actor, None)
        return await _failed(services, overpayment, exc)
    return await _record(services, overpayment, refund, actor, None)


async def _made_before(services: Services, overpayment: Overpayment) -> dict | None:
    """The refund of this over-payment Stripe has made (its metadata names it), if any; raises
    LookupFailed when Stripe cannot be asked."""
    import stripe  # on first use (bot/payments/stripe_api.py)

    params: dict = {"payment_intent": overpayment.payment_intent, "limit": 100}
    try:
        while True:
            async with asyncio.timeout(REFUND_WAIT):
                page = as_dict(await services.stripe.v1.refunds.list_async(params))
            for refund in page.get("data", []):
                refund = as_dict(refund)
                metadata = refund.get("metadata") or {}
                if metadata.get(METADATA_KEY) == str(overpayment.id) and refund.get(
                    "status"
                ) not in ("failed", "canceled"):
                    return refund
            if not page.get("has_more") or not page.get("data"):
                return None
            params["starting_after"] = as_dict(page["data"][-1])["id"]
    except (stripe.StripeError, TimeoutError) as exc:
        log.warning("looking up the refunds of over-payment %s failed: %s", overpayment.id, exc)
        raise LookupFailed from exc


async def _record(
    services: Services, overpayment: Overpayment, refund: dict, actor: str, shown: str | None
) -> RefundResult:
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
    return RefundResult(shown or status, overpayment, refund["id"])


async def _failed(
    services: Services, overpayment: Overpayment, exc: BaseException | None
) -> RefundResult:
    log.warning("refund of over-payment %s failed: %s", overpayment.id, exc)
    await payment_rows.set_refund(
        services.db, overpayment.id, refund_id=None, status="failed", at=None
    )
    message = getattr(exc, "user_message", None) or type(exc).__name__
    return RefundResult("failed", overpayment, error=message)
