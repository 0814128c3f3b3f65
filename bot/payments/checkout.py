"""Card links: at most one payable Stripe Checkout Session per invoice at any time — reused while
it can still be paid, the previous one expired before the next is created, created once per
attempt (idempotency key), found again when Stripe's answer was lost; none while a delayed
payment is on its way. Stripe's rules: docs/PAYMENTS.md."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from telegram import Bot

from bot.keyed_locks import KeyedLocks
from bot.payments.closing import expire_session, session_gone
from bot.payments.keys import METADATA_KEY, charges_the_invoice, key_of
from bot.payments.notifications import staff_alert
from bot.payments.sessions import PAID, settle_session
from bot.payments.stripe_api import LookupFailed, as_dict, not_found, outcome_unknown
from bot.services import Services
from storage import clubs as club_rows
from storage import invoices as invoice_rows
from storage import payments as payment_rows
from storage.invoices import Invoice

log = logging.getLogger(__name__)

# Stripe: `expires_at` must be at least 30 minutes and *less than* 24 hours after the session's
# creation, on Stripe's clock ("must be less than 24 hours from Checkout Session creation"). An
# hour less than the maximum holds while the two clocks differ by up to an hour either way.
CHECKOUT_TTL = 23 * 3600
# A stored link this close to its end is not handed out again: the person needs time to pay.
LINK_MARGIN = 15 * 60
# A person waiting for a card link gets an answer within this many seconds, whatever the client's
# own timeout and retries: past it they are told card payment is unavailable now and may press
# again (a session Stripe created meanwhile is found and handed out then, not created twice).
LINK_WAIT = 10.0
# Stripe answers 409 (`idempotency_key_in_use`) while a request with the same key is being carried
# out (another process of ours, or our own request whose answer we stopped waiting for): wait this
# long, then ask again with the same key (its replay), at most IN_USE_TRIES times.
IN_USE_WAIT = 1.0
IN_USE_TRIES = 3


class PaymentUnavailable(Exception):
    """No card link can be had. `reason`: not_configured, not_open, pending (a delayed payment
    is on its way: no second link), stripe_error (Stripe unreachable or failing: worth another
    try), refused (Stripe refused the request: retrying cannot cure it; staff are told)."""

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
        from bot.texts import format_percent

        name = services.texts.render(
            lang, "invoice/vat_line", percent=format_percent(invoice.vat_rate_bp, lang)
        )
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


def _checkout_params(services: Services, invoice: Invoice, club, lang: str, key: str) -> dict:
    metadata = {"invoice": invoice.number, METADATA_KEY: key, "club": club.subdomain}
    return {
        "mode": "payment",
        "line_items": _line_items(services, invoice, lang),
        "client_reference_id": invoice.number,
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata, "description": invoice.number},
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
    """The Checkout link for an open invoice: the stored one while it is open with time left,
    else a new one once every older session is closed. Raises PaymentUnavailable.

    A new session uses the idempotency key `checkout-<number>-<invoice key>-<attempt>`, so a
    retried or concurrent request for the same attempt gets the same session, and an invoice
    that got the same number after a restore never gets another invoice's session."""
    if services.stripe is None:
        raise PaymentUnavailable("not_configured")
    locks: KeyedLocks = services.extra.setdefault("card_link_locks", KeyedLocks())
    # One card-link request per invoice at a time in this process. Two contacts of a club
    # pressing Card at once would send the same idempotency key, and Stripe answers the second
    # 409 while the first runs (docs.stripe.com/idempotency): the second waits here instead.
    async with locks.hold(invoice.id):
        # Whoever waited finds what the one before stored (the same link), on a fresh invoice.
        invoice = await invoice_rows.get(services.db, invoice.id) or invoice
        return await _card_link(services, invoice, lang, bot)


async def _card_link(services: Services, invoice: Invoice, lang: str, bot: Bot | None) -> CardLink:
    if not invoice.is_open:
        raise PaymentUnavailable("not_open")
    now = int(services.clock.timestamp())
    live = await payment_rows.live_sessions(services.db, invoice.id)
    for stored in live:
        current = await _retrieve(services, stored.id)
        if current is None:  # Stripe unreachable: our records decide
            if stored.status == "pending":
                raise PaymentUnavailable("pending")
            if stored is live[-1] and stored.expires_at > now + LINK_MARGIN:
                log.warning("Stripe unreachable; reusing the stored link %s", stored.id)
                return CardLink(stored.url, _when(services, stored.expires_at), reused=True)
            raise PaymentUnavailable("stripe_error")  # the old one cannot be made sure closed
        outcome = await settle_session(services, current, actor="stripe:link-check", bot=bot)
        if current["status"] != "open":
            if (link := await _after_completion(services, invoice, outcome)) is not None:
                return link
            continue
        if stored is live[-1] and current["expires_at"] > now + LINK_MARGIN:
            url = current.get("url") or stored.url
            return CardLink(url, _when(services, current["expires_at"]), reused=True)
        if (link := await _close(services, invoice, current, bot)) is not None:
            return link
    return await _create(services, invoice, lang, bot)


async def _after_completion(services: Services, invoice: Invoice, outcome: str) -> CardLink | None:
    """After a session turned out complete: no new link while its payment is pending or once
    the invoice is paid; None when a new link may be made (an amount Stripe took was wrong)."""
    if outcome == "pending":
        raise PaymentUnavailable("pending")
    current = await invoice_rows.get(services.db, invoice.id)
    if current.status == "paid":
        return CardLink(None, None, paid=True)
    if current.status != "open":
        raise PaymentUnavailable("not_open")
    return None


async def _retrieve(services: Services, session_id: str) -> dict | None:
    import stripe  # on first use (bot/payments/stripe_api.py)

    try:
        async with asyncio.timeout(LINK_WAIT):
            return as_dict(await services.stripe.v1.checkout.sessions.retrieve_async(session_id))
    except (stripe.StripeError, TimeoutError) as exc:
        if not_found(exc):
            return await session_gone(services, session_id)
        log.warning("retrieving %s failed: %s", session_id, exc)
        return None


async def _close(
    services: Services, invoice: Invoice, session: dict, bot: Bot | None
) -> CardLink | None:
    """Expire a session before another is handed out (None once closed). One paid meanwhile is
    settled rather than lost: then the answer for the person (see `_after_completion`)."""
    current = await expire_session(services, session["id"])
    if current is None:
        raise PaymentUnavailable("stripe_error")  # never two payable sessions
    if current.get("status") == "complete":
        outcome = await settle_session(services, current, actor="stripe:link-check", bot=bot)
        return await _after_completion(services, invoice, outcome)
    return None


async def _create(services: Services, invoice: Invoice, lang: str, bot: Bot | None) -> CardLink:
    import stripe  # on first use (bot/payments/stripe_api.py)

    sessions = services.stripe.v1.checkout.sessions
    now = int(services.clock.timestamp())
    latest = await payment_rows.latest_session(services.db, invoice.id)
    attempt = (latest.attempt if latest else 0) + 1
    club = await club_rows.get(services.db, invoice.club_id)
    key = await key_of(services, invoice)
    in_use = 0
    for _ in range(4 + IN_USE_TRIES):
        params = _checkout_params(services, invoice, club, lang, key)
        idempotency_key = f"checkout-{invoice.number}-{key}-{attempt}"
        try:
            async with asyncio.timeout(LINK_WAIT):
                created = as_dict(
                    await sessions.create_async(params, {"idempotency_key": idempotency_key})
                )
        except stripe.IdempotencyError:
            # This attempt number was used with other parameters (another language, or a request
            # whose answer never came back or was never stored: a timeout, a crash). Its session
            # may be open at Stripe: hand that one out rather than create a second one.
            try:
                adopted = await _unstored_open_session(services, invoice, lang, key, bot)
            except _Settled as settled:
                return settled.link
            if adopted is None:
                attempt += 1
                continue
            created = adopted
        except (
            stripe.InvalidRequestError,
            stripe.AuthenticationError,
            stripe.PermissionError,
        ) as exc:
            # Stripe refused what we asked: the same request will be refused again.
            log.error("Stripe refused the checkout session for %s: %s", invoice.number, exc)
            await staff_alert(
                services,
                bot,
                "pay/staff_card_refused",
                club_id=invoice.club_id,
                number=invoice.number,
                amount=invoice.ttc_cents,
                error=getattr(exc, "user_message", None) or str(exc),
            )
            raise PaymentUnavailable("refused") from exc
        except (stripe.StripeError, TimeoutError) as exc:
            log.warning("checkout session for %s failed: %r", invoice.number, exc)
            if getattr(exc, "http_status", None) == 409 and in_use < IN_USE_TRIES:
                # A request with this key is still being carried out: in progress, not a
                # failure. Its result is ours once it ends (the replay of the same key).
                in_use += 1
                await asyncio.sleep(IN_USE_WAIT)
                continue
            if not outcome_unknown(exc):
                raise PaymentUnavailable("stripe_error") from exc
            # Created or not? Stripe keeps a 5xx for the key for 24 hours, whether or not the
            # session was made: look for it; if none, this key is spent (a replayed 5xx) and
            # the next attempt has a key of its own.
            try:
                adopted = await _unstored_open_session(
                    services, invoice, lang, key, bot, must_know=True
                )
            except _Settled as settled:
                return settled.link
            except LookupFailed:
                raise PaymentUnavailable("stripe_error") from exc
            if adopted is None:
                if _replayed(exc):
                    attempt += 1
                    continue
                raise PaymentUnavailable("stripe_error") from exc
            created = adopted
        await payment_rows.save_session(
            services.db,
            session_id=created["id"],
            invoice_id=invoice.id,
            attempt=attempt,
            url=created.get("url"),
            # A replay of a session completed with a delayed method: its payment is on its way.
            status="pending" if _debit_pending(created) else created["status"],
            expires_at=created["expires_at"],
            created_at=services.clock.now().isoformat(timespec="seconds"),
        )
        if created["status"] == "open" and created["expires_at"] > now + LINK_MARGIN:
            return CardLink(created["url"], _when(services, created["expires_at"]))
        # A replay of an older, since expired or paid, session under the same key.
        if created["status"] == "complete":
            outcome = await settle_session(services, created, actor="stripe:link-check", bot=bot)
            if (link := await _after_completion(services, invoice, outcome)) is not None:
                return link
        elif created["status"] == "open" and (
            link := await _close(services, invoice, created, bot)
        ):
            return link
        attempt += 1
    raise PaymentUnavailable("stripe_error")


def _debit_pending(session: dict) -> bool:
    """Complete but unpaid: a delayed method (SEPA Direct Debit…) started, not yet settled."""
    return session.get("status") == "complete" and session.get("payment_status") not in PAID


def _replayed(exc: BaseException) -> bool:
    """Stripe's answer was the stored result of an earlier request with the same key."""
    headers = getattr(exc, "headers", None) or {}
    return any(
        str(name).lower() == "idempotent-replayed" and str(value).lower() == "true"
        for name, value in headers.items()
    )


class _Settled(Exception):
    def __init__(self, link: CardLink) -> None:
        self.link = link


async def _unstored_open_session(
    services: Services,
    invoice: Invoice,
    lang: str,
    key: str,
    bot: Bot | None,
    *,
    must_know: bool = False,
) -> dict | None:
    """An open Checkout Session of this invoice (its key in the metadata, its amount), in `lang`,
    that Stripe created but we never stored (its answer was lost), among the sessions created
    since the last day; else None. One in another language is expired (one payable session).
    `must_know`: Stripe failing to answer raises LookupFailed instead of giving None."""
    import stripe  # on first use (bot/payments/stripe_api.py)

    sessions = services.stripe.v1.checkout.sessions
    since = int(services.clock.timestamp()) - 24 * 3600
    params: dict[str, Any] = {"status": "open", "created": {"gte": since}, "limit": 100}
    try:
        for _ in range(5):
            async with asyncio.timeout(LINK_WAIT):
                page = as_dict(await sessions.list_async(params))
            for session in page.get("data", []):
                session = as_dict(session)
                if (session.get("metadata") or {}).get(METADATA_KEY) != key:
                    continue
                if await payment_rows.get_session(services.db, session["id"]) is not None:
                    continue
                if session.get("locale") == lang and charges_the_invoice(session, invoice):
                    log.info("adopting %s for %s (created, never stored)", session["id"], key)
                    return session
                if (link := await _close(services, invoice, session, bot)) is not None:
                    raise _Settled(link)
            if not page.get("has_more") or not page.get("data"):
                break
            params["starting_after"] = page["data"][-1]["id"]
    except (stripe.StripeError, TimeoutError) as exc:
        log.warning("looking for an unstored session of %s failed: %s", invoice.number, exc)
        if must_know:
            raise LookupFailed from exc
    return None
