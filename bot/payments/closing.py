"""Closing Checkout Sessions that must take no more money: the invoice was paid another way,
cancelled or replaced, or a newer link replaces the session (one payable session per invoice)."""

from __future__ import annotations

import asyncio
import logging

from bot.payments.stripe_api import as_dict, not_found, outcome_unknown
from bot.services import Services
from storage import payments as payment_rows

log = logging.getLogger(__name__)

# A person (a staff /paid, a club asking for a link) waits at most this long per session for
# Stripe; the reconcile job closes later what could not be closed now.
EXPIRE_WAIT = 10.0


async def expire_session(services: Services, session_id: str) -> dict | None:
    """Expire one session at Stripe; the session as Stripe then has it (status expired, or
    complete when it was paid meanwhile), or None when Stripe could not be asked."""
    import stripe  # on first use (bot/payments/stripe_api.py)

    sessions = services.stripe.v1.checkout.sessions
    try:
        async with asyncio.timeout(EXPIRE_WAIT):
            current = as_dict(await sessions.expire_async(session_id))
    except (stripe.StripeError, TimeoutError) as exc:
        if not_found(exc):
            return await session_gone(services, session_id)
        # Only an open session can be expired: it completed or expired meanwhile. Or the answer
        # says nothing of the outcome (a 5xx, kept for the key whether or not the session was
        # expired; no answer; a 409 while a request with the key runs). Either way: see which.
        if not isinstance(exc, stripe.InvalidRequestError) and not outcome_unknown(exc):
            log.warning("could not expire %s: %s", session_id, exc)
            return None
        try:
            async with asyncio.timeout(EXPIRE_WAIT):
                current = as_dict(await sessions.retrieve_async(session_id))
        except (stripe.StripeError, TimeoutError) as exc:
            if not_found(exc):
                return await session_gone(services, session_id)
            log.warning("could not look at %s: %s", session_id, exc)
            return None
        if current.get("status") == "open":  # not expired (a failure before its effect)
            log.warning("could not expire %s: %s", session_id, exc)
            return None
    if current.get("status") == "expired":
        await payment_rows.set_session_status(services.db, session_id, "expired")
    return current


async def session_gone(services: Services, session_id: str) -> dict:
    """A stored session Stripe answers 404 for (`not_found`) can take no money through this
    account: it is recorded as expired (else it stayed "open" for ever, and an invoice whose
    stored link Stripe no longer knows could never get a card link again: "unavailable, try in
    a few minutes"). Returns the session as it then stands: {"id", "status": "expired"}."""
    log.warning(
        "Stripe knows no session %s (another account or mode?): recorded as expired", session_id
    )
    await payment_rows.set_session_status(services.db, session_id, "expired")
    return {"id": session_id, "object": "checkout.session", "status": "expired"}


async def expire_links(services: Services, invoice_id: int) -> None:
    """Close the open Checkout Sessions of an invoice paid another way, cancelled or replaced
    (best effort: the reconcile job closes what could not be closed now)."""
    if services.stripe is None:
        return
    for session_id in await payment_rows.open_session_ids(services.db, invoice_id):
        await expire_session(services, session_id)
