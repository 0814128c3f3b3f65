"""The Stripe events the bot listens to, each mapped to the one function that acts on it (the
table below), and `process_event`, which runs a stored event through it exactly once."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from telegram import Bot

from bot.payments.keys import invoice_of_session
from bot.payments.sessions import record_debit_failed, settle_session
from bot.payments.stripe_api import STRIPE_API_VERSION, as_dict
from bot.services import Services
from storage import payments as payment_rows

log = logging.getLogger(__name__)

# (services, bot or None, the event, actor) → an outcome word recorded with the event.
EventHandler = Callable[[Services, Bot | None, dict, str], Awaitable[str]]


# How long reading a session again (an event in another API version) may take.
READ_WAIT = 10.0


class EventNotRead(Exception):
    """An event rendered in another API version whose session Stripe could not give again: left
    unprocessed (processed again at start-up; the reconcile job settles its session)."""


async def session_in_our_version(services: Services, event: dict) -> dict:
    """The event's session in the API version the code reads (`STRIPE_API_VERSION`).

    Stripe renders an event in its webhook endpoint's `api_version`, else in the account's
    default version (Stripe API reference, Webhook Endpoints: "Events sent to this endpoint will
    be generated with this Stripe Version instead of your account's default Stripe Version"),
    never in the version our requests name. An event rendered in another version is not read:
    the session is retrieved through the API, whose requests name ours."""
    session = event["data"]["object"]
    version = event.get("api_version")
    if not version or version == STRIPE_API_VERSION or services.stripe is None:
        return session
    import stripe  # on first use (bot/payments/stripe_api.py)

    log.info("event %s is in API version %s: reading its session in ours", event.get("id"), version)
    try:
        async with asyncio.timeout(READ_WAIT):
            found = await services.stripe.v1.checkout.sessions.retrieve_async(session.get("id"))
    except (stripe.StripeError, TimeoutError) as exc:
        raise EventNotRead(f"session {session.get('id')} of event {event.get('id')}") from exc
    return as_dict(found)


async def session_settled(services: Services, bot: Bot | None, event: dict, actor: str) -> str:
    """The session completed, or its delayed payment arrived: settle it (paid once, if paid)."""
    session = await session_in_our_version(services, event)
    return await settle_session(services, session, actor=actor, bot=bot)


async def session_expired(services: Services, bot: Bot | None, event: dict, actor: str) -> str:
    """Never unpays: a completed session stays complete (see set_session_status)."""
    obj = event["data"]["object"]
    await payment_rows.set_session_status(services.db, obj.get("id", ""), "expired")
    return "expired"


async def async_payment_failed(services: Services, bot: Bot | None, event: dict, actor: str) -> str:
    """A delayed payment (SEPA…) failed: the club of the session's provable invoice (never the
    one that merely has its number now: bot/payments/keys.py) is told, once, and can pay again."""
    session = await session_in_our_version(services, event)
    invoice = await invoice_of_session(services, session)
    return await record_debit_failed(services, bot, session, invoice)


# Every Stripe event type the bot acts on; any other is recorded as "ignored".
STRIPE_EVENTS: dict[str, EventHandler] = {
    # The customer finished Checkout: paid now (card), or a delayed method started (unpaid).
    "checkout.session.completed": session_settled,
    # A delayed payment (SEPA Direct Debit…) arrived days later.
    "checkout.session.async_payment_succeeded": session_settled,
    # A delayed payment bounced: the invoice stays open, the club is told.
    "checkout.session.async_payment_failed": async_payment_failed,
    # The link ran out (24 h) or was closed by us: never handed out again.
    "checkout.session.expired": session_expired,
}


async def process_event(services: Services, bot: Bot | None, event_id: str) -> str | None:
    """Act on one stored event, once; returns the outcome (None when already processed)."""
    row = await payment_rows.get_event(services.db, event_id)
    if row is None or row["processed_at"]:
        return None
    event = json.loads(row["payload"])
    kind = event.get("type")
    event.setdefault("data", {})
    if not isinstance(event["data"], dict) or not event["data"].get("object"):
        event["data"] = {"object": {}}
    handler = STRIPE_EVENTS.get(kind)
    outcome = (
        "ignored" if handler is None else await handler(services, bot, event, f"stripe:{event_id}")
    )
    await payment_rows.mark_event_processed(
        services.db, event_id, services.clock.now().isoformat(timespec="seconds"), outcome
    )
    log.info("stripe event %s (%s): %s", event_id, kind, outcome)
    return outcome
