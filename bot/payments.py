"""Payments: recording one (Stripe, reconcile, staff by hand), card links through Stripe Checkout,
Stripe events as updates, the receipts, and `ofbot payments reconcile`.

`record_payment` is the one way an invoice becomes paid; what else changes is registered per invoice
kind in `ON_PAID` (a renewal moves the subscription on; issue 4 registers interventions)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiosqlite
import stripe
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import Forbidden, NetworkError, RetryAfter, TelegramError

from bot.invoices import find_invoice
from bot.services import Services
from storage import audit, contacts
from storage import clubs as club_rows
from storage import invoices as invoice_rows
from storage import payments as payment_rows
from storage.invoices import Invoice
from storage.payments import Payment

log = logging.getLogger(__name__)

METHODS = ("card", "transfer", "cheque")
CHECKOUT_TTL = 24 * 3600
# A stored link this close to its end is not handed out again: the person needs time to pay.
LINK_MARGIN = 15 * 60
RECONCILE_INTERVAL = 600
# Soon after start-up too: a payment made while the bot was down is settled without waiting for
# Stripe's next retry.
RECONCILE_FIRST = 5
RECONCILE_LOOKBACK = 3 * 24 * 3600
STRIPE_TIMEOUT = 20.0
# A person waiting for a card link gets an answer within this many seconds, whatever the client's
# own timeout and retries: past it they are told card payment is unavailable now and may press
# again (a session Stripe created meanwhile is found and handed out then, not created twice).
LINK_WAIT = 10.0
PAYING_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")


# --- the "on paid" registry -------------------------------------------------------------------

InTransaction = Callable[[aiosqlite.Connection, Services, Invoice], Awaitable[Any]]
AfterCommit = Callable[[Services, Bot | None, Invoice], Awaitable[None]]


@dataclass(frozen=True)
class PaidHooks:
    """`in_transaction` runs inside the payment's transaction (database writes only, no network);
    `after_commit` runs once the payment is committed (messages), only where a bot is at hand."""

    in_transaction: InTransaction | None = None
    after_commit: AfterCommit | None = None


ON_PAID: dict[str, PaidHooks] = {}


def register_on_paid(
    kind: str,
    *,
    in_transaction: InTransaction | None = None,
    after_commit: AfterCommit | None = None,
) -> None:
    """What paying an invoice of `kind` does besides marking it paid (one registration per kind)."""
    ON_PAID[kind] = PaidHooks(in_transaction, after_commit)


async def _renewal_paid(conn: aiosqlite.Connection, services: Services, invoice: Invoice) -> None:
    """The subscription runs to the invoiced period's end, with the invoiced plan and count."""
    club = await club_rows.get(services.db, invoice.club_id)
    new_end = max(club.subscription_ends, invoice.period_end)
    await club_rows.update_fields(
        conn,
        club.id,
        subscription_ends=new_end.isoformat(),
        subscribed_resources=invoice.resources,
        plan=invoice.plan,
    )
    await audit.record(
        conn,
        actor=f"invoice:{invoice.number}",
        action="club.renewed",
        club_id=club.id,
        target=club.subdomain,
        before={
            "subscription_ends": club.subscription_ends.isoformat(),
            "subscribed_resources": club.subscribed_resources,
            "plan": club.plan,
        },
        after={
            "subscription_ends": new_end.isoformat(),
            "subscribed_resources": invoice.resources,
            "plan": invoice.plan,
        },
    )


register_on_paid("renewal", in_transaction=_renewal_paid)


# --- recording a payment ----------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentResult:
    """`status`: paid (recorded now), already_paid (nothing changed), cancelled (refused),
    not_found, bad_method."""

    status: str
    invoice: Invoice | None = None
    payment: Payment | None = None

    @property
    def recorded(self) -> bool:
        return self.status == "paid"


async def record_payment(
    services: Services,
    invoice_ref: int | str,
    method: str,
    actor: str,
    *,
    reference: str | None = None,
    bot: Bot | None = None,
) -> PaymentResult:
    """Mark an invoice paid, once. `invoice_ref`: id or number. `method`: card, transfer, cheque.
    `actor`: who records it ("stripe:evt_…", "staff:9001", "reconcile").

    In one transaction: the payment row (unique per invoice), the invoice's status, the kind's
    `in_transaction` hook (a renewal moves the subscription on) and the audit row. Then, when `bot`
    is given, receipts to the club's verified contacts, a line to staff and the `after_commit`
    hook. Paying a paid invoice changes nothing (already_paid); a cancelled one is refused."""
    if method not in METHODS:
        return PaymentResult("bad_method")
    found = await find_invoice(services, invoice_ref)
    if found is None:
        return PaymentResult("not_found")
    paid_at = services.clock.now().isoformat(timespec="seconds")
    async with services.db.transaction() as conn:
        invoice = await invoice_rows.get(conn, found.id)
        if invoice.status == "cancelled":
            return PaymentResult("cancelled", invoice)
        if invoice.status == "paid":
            return PaymentResult(
                "already_paid", invoice, await payment_rows.for_invoice(conn, invoice.id)
            )
        payment_id = await payment_rows.insert(
            conn,
            invoice_id=invoice.id,
            method=method,
            amount_cents=invoice.ttc_cents,
            reference=reference,
            actor=actor,
            paid_at=paid_at,
        )
        await invoice_rows.mark_paid(conn, invoice.id, paid_at)
        hooks = ON_PAID.get(invoice.kind)
        if hooks and hooks.in_transaction:
            await hooks.in_transaction(conn, services, invoice)
        await audit.record(
            conn,
            actor=actor,
            action="invoice.paid",
            club_id=invoice.club_id,
            target=invoice.number,
            before={"status": "open"},
            after={"status": "paid", "method": method, "reference": reference},
        )
        invoice = await invoice_rows.get(conn, invoice.id)
        payment = await payment_rows.for_invoice(conn, invoice.id)
    log.info("invoice %s paid (%s) by %s", invoice.number, method, actor)
    if bot is not None:
        await notify_paid(services, bot, payment_id)
    return PaymentResult("paid", invoice, payment)


async def _send(bot: Bot, services: Services, chat_id: int, text: str, markup=None) -> bool:
    return await _deliver(bot, services, chat_id, text, markup) == "sent"


async def _deliver(bot: Bot, services: Services, chat_id: int, text: str, markup=None) -> str:
    """ "sent"; "failed" (refused for good: blocked, bad request); "later" (flood control past
    the rate limiter's retries, Bot API down or timing out: worth another try later)."""
    try:
        await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup)
    except Forbidden:
        # The chat blocked the bot: stop writing to it rather than failing forever.
        await contacts.set_active(services.db, chat_id, False)
        return "failed"
    except (RetryAfter, NetworkError) as exc:
        log.warning("message to chat %s failed, to try again: %s", chat_id, exc)
        return "later"
    except TelegramError as exc:
        log.warning("message to chat %s failed: %s", chat_id, exc)
        return "failed"
    return "sent"


async def announce_sent_by_hand(
    services: Services, bot: Bot, invoice: Invoice, method: str, user_name: str
) -> None:
    """The club says its transfer or cheque is on its way: one line to the staff group, with the
    /paid command to use when it arrives."""
    if not services.settings.staff_chat_id:
        return
    club = await club_rows.get(services.db, invoice.club_id)
    text = services.texts.render(
        "fr",
        "pay/staff_sent",
        club=club.name,
        subdomain=club.subdomain,
        number=invoice.number,
        amount=invoice.ttc_cents,
        method=method,
        user=user_name,
    )
    await bot.send_message(services.settings.staff_chat_id, text, parse_mode=ParseMode.HTML)


# Payments whose messages are being sent in this process: the start-up replay and a live event
# must not both send them.
_NOTIFYING: dict[int, list] = {}  # payment id → [lock, callers holding or waiting]


async def notify_paid(services: Services, bot: Bot, payment_id: int) -> None:
    """Receipts to every active verified contact (each in its language), one line to staff,
    then the kind's `after_commit` hook; the payment is marked notified.

    Each message sent is recorded at once (`payment_rows.record_message_sent`), so a crash in the
    middle sends again only what had not gone (at most the one message in flight is doubled).
    A message Telegram could not take now (flood control, Bot API down) leaves the payment
    unnotified: start-up and the reconcile job send what is missing."""
    entry = _NOTIFYING.setdefault(payment_id, [asyncio.Lock(), 0])
    entry[1] += 1
    try:
        async with entry[0]:
            await _notify_paid(services, bot, payment_id)
    finally:
        entry[1] -= 1
        if entry[1] == 0:
            del _NOTIFYING[payment_id]


async def _notify_paid(services: Services, bot: Bot, payment_id: int) -> None:
    payment = await payment_rows.get(services.db, payment_id)
    if payment is None or payment.notified_at:
        return
    invoice = await invoice_rows.get(services.db, payment.invoice_id)
    club = await club_rows.get(services.db, invoice.club_id)
    sent = await payment_rows.messages_sent(services.db, payment.id, club.id)
    later = False
    for contact in await contacts.for_club(services.db, invoice.club_id):
        if f"chat:{contact.chat_id}" in sent:
            continue
        lang = contact.language
        text = services.texts.render(
            lang,
            "pay/receipt",
            number=invoice.number,
            amount=invoice.ttc_cents,
            method=payment.method,
            kind=invoice.kind,
            club=club.name,
            ends=club.subscription_ends,
            resources=invoice.resources,
        )
        outcome = await _deliver(bot, services, contact.chat_id, text)
        later = later or outcome == "later"
        if outcome == "sent":
            await payment_rows.record_message_sent(
                services.db, payment.id, club.id, f"chat:{contact.chat_id}"
            )
    if services.settings.staff_chat_id and "staff" not in sent:
        text = services.texts.render(
            "fr",
            "pay/staff_paid",
            number=invoice.number,
            amount=invoice.ttc_cents,
            method=payment.method,
            club=club.name,
            subdomain=club.subdomain,
            kind=invoice.kind,
            ends=club.subscription_ends,
            actor=payment.actor,
        )
        outcome = await _deliver(bot, services, services.settings.staff_chat_id, text)
        later = later or outcome == "later"
        if outcome == "sent":
            await payment_rows.record_message_sent(services.db, payment.id, club.id, "staff")
    hooks = ON_PAID.get(invoice.kind)
    if hooks and hooks.after_commit and "after_commit" not in sent:
        try:
            await hooks.after_commit(services, bot, invoice)
        except Exception:  # a follow-up message must not undo a recorded payment
            log.exception("after-paid hook for %s failed", invoice.number)
        await payment_rows.record_message_sent(services.db, payment.id, club.id, "after_commit")
    if later:
        log.info("payment %s: messages left to send on the next try", payment.id)
        return
    await payment_rows.mark_notified(
        services.db, payment.id, services.clock.now().isoformat(timespec="seconds")
    )


async def staff_alert(services: Services, bot: Bot | None, template: str, **values) -> None:
    """A line to the staff group about a payment that needs a person."""
    log.warning("payment alert %s: %s", template, values)
    if bot is None or not services.settings.staff_chat_id:
        return
    text = services.texts.render("fr", template, **values)
    await _send(bot, services, services.settings.staff_chat_id, text)


# --- Stripe Checkout --------------------------------------------------------------------------


class PaymentUnavailable(Exception):
    """No card link can be had now. `reason`: not_configured, stripe_error, not_open."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def make_stripe_client(settings) -> tuple[stripe.StripeClient, stripe.HTTPXClient]:
    """The official client on its async HTTPX transport; retries reuse the idempotency key."""
    http = stripe.HTTPXClient(timeout=STRIPE_TIMEOUT)
    client = stripe.StripeClient(
        settings.stripe_secret_key,
        base_addresses={"api": settings.stripe_api_url},
        http_client=http,
        max_network_retries=2,
    )
    return client, http


def _as_dict(obj: Any) -> dict:
    if isinstance(obj, dict):
        return obj
    return obj.to_dict()


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


def _checkout_params(services: Services, invoice: Invoice, club, lang: str) -> dict:
    bot_name = services.bot_username
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
        "success_url": f"https://t.me/{bot_name}?start=paid_{invoice.number}",
        "cancel_url": f"https://t.me/{bot_name}?start=pay_{invoice.number}",
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
                current = _as_dict(await sessions.retrieve_async(latest.id))
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
                created = _as_dict(await sessions.create_async(params, {"idempotency_key": key}))
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
                page = _as_dict(await sessions.list_async(params))
            for session in page.get("data", []):
                session = _as_dict(session)
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
            number=invoice.number,
            amount=invoice.ttc_cents,
            session=session["id"],
        )
    return result.status


# --- Stripe events (webhook → database → update queue → TypeHandler) -------------------------


@dataclass(frozen=True)
class StripeEventUpdate:
    """A stored Stripe event to process; events about one invoice are handled one at a time."""

    event_id: str
    invoice_number: str | None = None

    @property
    def lock_key(self) -> tuple:
        if self.invoice_number:
            return ("invoice", self.invoice_number)
        return ("stripe", self.event_id)


def invoice_number_of(event: dict) -> str | None:
    obj = (event.get("data") or {}).get("object") or {}
    if not isinstance(obj, dict):
        return None
    return (obj.get("metadata") or {}).get("invoice") or obj.get("client_reference_id")


class WebhookRefused(Exception):
    """The request is not a genuine Stripe event; str() says why (never the secret)."""


async def receive_webhook(
    services: Services, payload: bytes, signature: str | None
) -> StripeEventUpdate | None:
    """Verify, store (deduplicated by event id); the update to queue, or None when the event was
    processed already. Raises WebhookRefused for a missing or bad signature or body."""
    secret = services.settings.stripe_webhook_secret
    if not secret:
        raise WebhookRefused("no webhook secret configured")
    if not signature:
        raise WebhookRefused("missing Stripe-Signature")
    try:
        stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature, secret, 300)
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
        raise WebhookRefused("bad signature") from exc
    try:
        event = json.loads(payload)
        event_id, event_type = str(event["id"]), str(event["type"])
    except (ValueError, KeyError, TypeError) as exc:
        raise WebhookRefused("not an event") from exc
    await payment_rows.store_event(services.db, event_id, event_type, payload.decode("utf-8"))
    row = await payment_rows.get_event(services.db, event_id)
    if row["processed_at"]:
        return None
    return StripeEventUpdate(event_id, invoice_number_of(event))


async def process_event(services: Services, bot: Bot | None, event_id: str) -> str | None:
    """Act on one stored event, once; returns the outcome (None when already processed)."""
    row = await payment_rows.get_event(services.db, event_id)
    if row is None or row["processed_at"]:
        return None
    event = json.loads(row["payload"])
    kind = event.get("type")
    obj = (event.get("data") or {}).get("object") or {}
    actor = f"stripe:{event_id}"
    if kind in PAYING_EVENTS:
        outcome = await settle_session(services, obj, actor=actor, bot=bot)
    elif kind == "checkout.session.expired":
        # Never unpays: a completed session stays complete (see set_session_status).
        await payment_rows.set_session_status(services.db, obj.get("id", ""), "expired")
        outcome = "expired"
    elif kind == "checkout.session.async_payment_failed":
        await payment_rows.set_session_status(services.db, obj.get("id", ""), "failed")
        await _tell_payment_failed(services, bot, invoice_number_of(event))
        outcome = "payment_failed"
    else:
        outcome = "ignored"
    await payment_rows.mark_event_processed(
        services.db, event_id, services.clock.now().isoformat(timespec="seconds"), outcome
    )
    log.info("stripe event %s (%s): %s", event_id, kind, outcome)
    return outcome


async def _tell_payment_failed(services: Services, bot: Bot | None, number: str | None) -> None:
    invoice = await invoice_rows.get_by_number(services.db, number) if number else None
    if bot is None or invoice is None or not invoice.is_open:
        return
    for contact in await contacts.for_club(services.db, invoice.club_id):
        lang = contact.language
        label = services.texts.render(lang, "button/pay_invoice", number=invoice.number)
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton(label, callback_data=f"pay:{invoice.id}")]]
        )
        text = services.texts.render(
            lang, "pay/card_failed", number=invoice.number, amount=invoice.ttc_cents
        )
        await _send(bot, services, contact.chat_id, text, markup)


# --- start-up, periodic reconcile, CLI --------------------------------------------------------


@dataclass
class ReconcileSummary:
    checked: int = 0
    paid: int = 0
    already_paid: int = 0
    expired: int = 0
    still_open: int = 0
    errors: int = 0
    problems: int = 0

    def __str__(self) -> str:
        return ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in dataclasses.asdict(self).items())


def _count(summary: ReconcileSummary, outcome: str) -> None:
    if outcome in ("paid", "already_paid", "expired"):
        setattr(summary, outcome, getattr(summary, outcome) + 1)
    elif outcome in ("open", "pending"):
        summary.still_open += 1
    elif outcome != "unknown_invoice":
        summary.problems += 1


async def reconcile(services: Services, bot: Bot | None) -> ReconcileSummary:
    """Ask Stripe about every session we hold as open, and about recently completed sessions
    (one created just before a crash was perhaps never stored), then settle each like a webhook.
    With a bot, first send the receipts and staff lines of payments not fully notified yet."""
    summary = ReconcileSummary()
    if bot is not None:
        for payment in await payment_rows.unnotified(services.db):
            await notify_paid(services, bot, payment.id)
    if services.stripe is None:
        return summary
    sessions = services.stripe.v1.checkout.sessions
    seen: set[str] = set()
    for stored in await payment_rows.open_sessions(services.db):
        try:
            current = _as_dict(await sessions.retrieve_async(stored.id))
        except stripe.StripeError as exc:
            log.warning("reconcile: %s: %s", stored.id, exc)
            summary.errors += 1
            continue
        seen.add(stored.id)
        summary.checked += 1
        _count(summary, await settle_session(services, current, actor="reconcile", bot=bot))
    since = int(services.clock.timestamp()) - RECONCILE_LOOKBACK
    params: dict[str, Any] = {"status": "complete", "created": {"gte": since}, "limit": 100}
    try:
        for _ in range(20):  # at most 2 000 sessions a run
            page = _as_dict(await sessions.list_async(params))
            for session in page.get("data", []):
                if session["id"] in seen:
                    continue
                seen.add(session["id"])
                number = (session.get("metadata") or {}).get("invoice")
                invoice = await invoice_rows.get_by_number(services.db, number) if number else None
                if invoice is None or not invoice.is_open:
                    continue
                summary.checked += 1
                _count(summary, await settle_session(services, session, actor="reconcile", bot=bot))
            if not page.get("has_more") or not page.get("data"):
                break
            params["starting_after"] = page["data"][-1]["id"]
    except stripe.StripeError as exc:
        log.warning("reconcile: listing sessions failed: %s", exc)
        summary.errors += 1
    return summary


async def replay_on_startup(app) -> None:
    """STARTUP_HOOK: stored events not processed yet go back on the queue; receipts not sent
    are sent; the periodic reconcile job is scheduled."""
    services: Services = app.bot_data["services"]
    if services.stripe is not None and not services.settings.stripe_webhook_secret:
        log.warning(
            "OFBOT_STRIPE_WEBHOOK_SECRET is not set: Stripe webhooks are refused and card payments"
            " land only through the reconcile job (every %d min)",
            RECONCILE_INTERVAL // 60,
        )
    for payment in await payment_rows.unnotified(services.db):
        await notify_paid(services, app.bot, payment.id)
    for row in await payment_rows.unprocessed_events(services.db):
        try:
            number = invoice_number_of(json.loads(row["payload"]))
        except ValueError:
            number = None
        await app.update_queue.put(StripeEventUpdate(row["id"], number))
    if services.stripe is not None and app.job_queue is not None:
        app.job_queue.run_repeating(
            reconcile_job, interval=RECONCILE_INTERVAL, first=RECONCILE_FIRST, name="reconcile"
        )


async def reconcile_job(context) -> None:
    """The periodic job: a missed webhook still ends in a paid invoice, and receipts or staff
    lines Telegram could not take earlier are sent."""
    summary = await reconcile(context.application.bot_data["services"], context.bot)
    if summary.paid or summary.errors or summary.problems:
        log.info("reconcile: %s", summary)


async def _cmd_reconcile(settings, args) -> int:
    """`ofbot payments reconcile`: one run, with receipts sent when a Telegram token is set."""
    from bot.clock import Clock
    from bot.mail import Mailer
    from bot.runtime import load_catalogue
    from bot.texts import Texts
    from storage.db import open_database

    settings.require("OFBOT_STRIPE_SECRET_KEY")
    # Features register their on-paid hooks on import (interventions: bot.escalations).
    import handlers  # noqa: F401

    catalogue = load_catalogue(settings)
    db = await open_database(settings.db)
    client, http = make_stripe_client(settings)
    services = Services(
        settings=settings,
        db=db,
        texts=Texts(),
        clock=Clock(settings.tz),
        mailer=Mailer(settings),
        catalogue=catalogue,
        stripe=client,
    )
    bot = None
    if settings.telegram_token:
        api = settings.telegram_api_url
        bot = Bot(settings.telegram_token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot")
    try:
        if bot is not None:
            async with bot:
                summary = await reconcile(services, bot)
        else:
            summary = await reconcile(services, None)
    finally:
        await http.close_async()
        await db.close()
    print(f"reconcile: {summary}")
    return 1 if summary.errors else 0


def _register_cli() -> None:
    from bot.cli import register_command

    register_command("payments", "reconcile", _cmd_reconcile)


_register_cli()
