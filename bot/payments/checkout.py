"""Card links: a Stripe Checkout Session per open invoice, reused while it can still be paid,
created once per attempt (idempotency key), found again when Stripe's answer was lost."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import stripe
from telegram import Bot

from bot.payments.sessions import settle_session
from bot.payments.stripe_api import as_dict
from bot.services import Services
from storage import clubs as club_rows
from storage import payments as payment_rows
from storage.invoices import Invoice

log = logging.getLogger(__name__)

CHECKOUT_TTL = 24 * 3600
# A stored link this close to its end is not handed out again: the person needs time to pay.
LINK_MARGIN = 15 * 60
# A person waiting for a card link gets an answer within this many seconds, whatever the client's
# own timeout and retries: past it they are told card payment is unavailable now and may press
# again (a session Stripe created meanwhile is found and handed out then, not created twice).
LINK_WAIT = 10.0


class PaymentUnavailable(Exception):
    """No card link can be had now. `reason`: not_configured, stripe_error, not_open."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CardLink:
    """A Checkout link for an invoice; `paid` when the session turned out to be paid already."""

    url: str | None
    expires_at: dt.datetime | None
    reused: bool = False
    paid: bool = False


def _line_items(services: Services, invoice: Invoice, lang: str) -> list[dict]:
    """The invoice's lines, then VAT as its own line: the amounts add up to the TTC exactly."""
    from bot.invoices import line_label

    currency = invoice.currency.lower()
    items = [
        {
            "quantity": line.quantity,
            "price_data": {
                "currency": currency,
                "unit_amount": line.unit_cents,
                "product_data": {"name": line_label(services, line, invoice, lang)},
            },
        }
        for line in invoice.lines
        if line.total_cents > 0
    ]
    if invoice.vat_cents:
        from bot.invoices import percent

        name = services.texts.render(lang, "invoice/vat_line", percent=percent(invoice.vat_rate_bp))
        items.append(
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency,
                    "unit_amount": invoice.vat_cents,
                    "product_data": {"name": name},
                },
            }
        )
    return items


def return_url(services: Services, payload: str) -> str:
    """Where the checkout page sends the payer back: the bot's t.me deep link with `payload`
    (production), or `services.checkout_return_url` with it (the sandbox's page)."""
    if services.checkout_return_url:
        return services.checkout_return_url.replace("{payload}", payload)
    return f"https://t.me/{services.bot_username}?start={payload}"


def _checkout_params(services: Services, invoice: Invoice, club, lang: str) -> dict:
    return {
        "mode": "payment",
        "line_items": _line_items(services, invoice, lang),
        "client_reference_id": invoice.number,
        "metadata": {"invoice": invoice.number, "club": club.subdomain},
        "payment_intent_data": {
            "metadata": {"invoice": invoice.number, "club": club.subdomain},
            "description": invoice.number,
        },
        "expires_at": int(services.clock.timestamp()) + CHECKOUT_TTL,
        "locale": lang,
        # Deep-link payloads allow A-Za-z0-9_-, which invoice numbers keep to.
        "success_url": return_url(services, f"paid_{invoice.number}"),
        "cancel_url": return_url(services, f"pay_{invoice.number}"),
    }


def _when(services: Services, timestamp: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, services.clock.tz)


async def card_link(
    services: Services, invoice: Invoice, lang: str, *, bot: Bot | None = None
) -> CardLink:
    """The Checkout link for an open invoice: the stored one while it is open, else a new one.

    A new session uses the idempotency key `checkout-<number>-<attempt>`, so a retried or
    concurrent request for the same attempt gets the same session rather than a second one."""
    if services.stripe is None:
        raise PaymentUnavailable("not_configured")
    if not invoice.is_open:
        raise PaymentUnavailable("not_open")
    sessions = services.stripe.v1.checkout.sessions
    now = int(services.clock.timestamp())
    latest = await payment_rows.latest_session(services.db, invoice.id)
    if latest is not None and latest.status == "open" and latest.expires_at > now + LINK_MARGIN:
        try:
            async with asyncio.timeout(LINK_WAIT):
                current = as_dict(await sessions.retrieve_async(latest.id))
        except (stripe.StripeError, TimeoutError) as exc:
            # Stripe unreachable, but our clock says the link still works: hand it out.
            log.warning("retrieving %s failed (%s); reusing the stored link", latest.id, exc)
            return CardLink(latest.url, _when(services, latest.expires_at), reused=True)
        if current["status"] == "open":
            return CardLink(
                current.get("url") or latest.url, _when(services, latest.expires_at), reused=True
            )
        outcome = await settle_session(services, current, actor="stripe:link-check", bot=bot)
        if current["status"] == "complete" and outcome in ("paid", "already_paid"):
            return CardLink(None, None, paid=True)
    attempt = (latest.attempt if latest else 0) + 1
    club = await club_rows.get(services.db, invoice.club_id)
    for _ in range(4):
        params = _checkout_params(services, invoice, club, lang)
        key = f"checkout-{invoice.number}-{attempt}"
        try:
            async with asyncio.timeout(LINK_WAIT):
                created = as_dict(await sessions.create_async(params, {"idempotency_key": key}))
        except stripe.IdempotencyError:
            # This attempt number was used with other parameters (another language, or a request
            # whose answer never came back or was never stored: a timeout, a crash). Its session
            # may be open at Stripe: hand that one out rather than create a second one.
            adopted = await _unstored_open_session(services, invoice, lang)
            if adopted is None:
                attempt += 1
                continue
            created = adopted
        except (stripe.StripeError, TimeoutError) as exc:
            log.warning("checkout session for %s failed: %r", invoice.number, exc)
            raise PaymentUnavailable("stripe_error") from exc
        await payment_rows.save_session(
            services.db,
            session_id=created["id"],
            invoice_id=invoice.id,
            attempt=attempt,
            url=created.get("url"),
            status=created["status"],
            expires_at=created["expires_at"],
            created_at=services.clock.now().isoformat(timespec="seconds"),
        )
        if created["status"] == "open" and created["expires_at"] > now + LINK_MARGIN:
            return CardLink(created["url"], _when(services, created["expires_at"]))
        # A replay of an older, since expired or paid, session under the same key.
        if created["status"] == "complete":
            await settle_session(services, created, actor="stripe:link-check", bot=bot)
            return CardLink(None, None, paid=True)
        attempt += 1
    raise PaymentUnavailable("stripe_error")


async def _unstored_open_session(services: Services, invoice: Invoice, lang: str) -> dict | None:
    """An open Checkout Session of the invoice, in `lang`, that Stripe created but we never
    stored (its answer was lost), among the sessions created since the last day; else None."""
    sessions = services.stripe.v1.checkout.sessions
    since = int(services.clock.timestamp()) - CHECKOUT_TTL
    params: dict[str, Any] = {"status": "open", "created": {"gte": since}, "limit": 100}
    try:
        for _ in range(5):
            async with asyncio.timeout(LINK_WAIT):
                page = as_dict(await sessions.list_async(params))
            for session in page.get("data", []):
                session = as_dict(session)
                number = (session.get("metadata") or {}).get("invoice")
                if number != invoice.number or session.get("locale") != lang:
                    continue
                if await payment_rows.get_session(services.db, session["id"]) is None:
                    log.info("adopting %s for %s (created, never stored)", session["id"], number)
                    return session
            if not page.get("has_more") or not page.get("data"):
                break
            params["starting_after"] = page["data"][-1]["id"]
    except (stripe.StripeError, TimeoutError) as exc:
        log.warning("looking for an unstored session of %s failed: %s", invoice.number, exc)
    return None


async def expire_links(services: Services, invoice_id: int) -> None:
    """Close the open Checkout Sessions of an invoice that was replaced (best effort)."""
    if services.stripe is None:
        return
    for session_id in await payment_rows.open_session_ids(services.db, invoice_id):
        try:
            await services.stripe.v1.checkout.sessions.expire_async(session_id)
        except stripe.StripeError as exc:
            log.warning("could not expire %s: %s", session_id, exc)
            continue
        await payment_rows.set_session_status(services.db, session_id, "expired")
