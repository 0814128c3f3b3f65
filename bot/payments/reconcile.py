"""Reconciliation: ask Stripe about the sessions we hold as open and those recently completed,
and send what a crash or Telegram left unsent; run at start-up, every 10 minutes and by
`ofbot payments reconcile`. A missed webhook still ends in a paid invoice."""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from typing import Any

from telegram import Bot

from bot.payments.closing import expire_session, session_gone
from bot.payments.keys import METADATA_KEY, invoice_of_session
from bot.payments.notifications import alert_overpayment, notify_paid
from bot.payments.sessions import PAID, settle_session
from bot.payments.stripe_api import as_dict, not_found
from bot.payments.webhook import StripeEventUpdate, invoice_number_of
from bot.services import Services
from storage import invoices as invoice_rows
from storage import payments as payment_rows

log = logging.getLogger(__name__)

RECONCILE_INTERVAL = 600
# Soon after start-up too: a payment made while the bot was down is settled without waiting for
# Stripe's next retry.
RECONCILE_FIRST = 5
RECONCILE_LOOKBACK = 3 * 24 * 3600


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
    elif outcome in ("open", "pending", "payment_failed"):
        summary.still_open += 1  # a failed debit: the invoice stays open, the club was told
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
        for overpayment in await payment_rows.unalerted_overpayments(services.db):
            await alert_overpayment(services, bot, overpayment)
    if services.stripe is None:
        return summary
    import stripe  # on first use (bot/payments/stripe_api.py)

    sessions = services.stripe.v1.checkout.sessions
    seen: set[str] = set()
    for stored in await payment_rows.open_sessions(services.db):
        try:
            current = as_dict(await sessions.retrieve_async(stored.id))
        except stripe.StripeError as exc:
            if not not_found(exc):
                log.warning("reconcile: %s: %s", stored.id, exc)
                summary.errors += 1
                continue
            current = await session_gone(services, stored.id)
        seen.add(stored.id)
        summary.checked += 1
        _count(summary, await settle_session(services, current, actor="reconcile", bot=bot))
        invoice = await invoice_rows.get(services.db, stored.invoice_id)
        if current.get("status") == "open" and not invoice.is_open:
            # Paid another way, cancelled or replaced while Stripe could not be asked to close it.
            await expire_session(services, stored.id)
    since = int(services.clock.timestamp()) - RECONCILE_LOOKBACK
    params: dict[str, Any] = {"status": "complete", "created": {"gte": since}, "limit": 100}
    try:
        for _ in range(20):  # at most 2 000 sessions a run
            page = as_dict(await sessions.list_async(params))
            for session in page.get("data", []):
                if session["id"] in seen:
                    continue
                seen.add(session["id"])
                if not await _unsettled(services, session):
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


async def _unsettled(services: Services, session: dict) -> bool:
    """A completed session of ours whose money is not accounted for yet: its invoice is open,
    or it paid an invoice that another payment had paid (a second payment, not yet recorded)."""
    metadata = session.get("metadata") or {}
    if METADATA_KEY not in metadata and "invoice" not in metadata:
        return False  # another application's session on the same Stripe account
    invoice = await invoice_of_session(services, session)
    if invoice is not None and invoice.is_open:
        return True
    if session.get("payment_status") not in PAID:
        return False
    if await payment_rows.overpayment_for_session(services.db, session["id"]) is not None:
        return False
    if invoice is not None:
        payment = await payment_rows.for_invoice(services.db, invoice.id)
        if payment is not None and payment.reference in (
            session["id"],
            session.get("payment_intent"),
        ):
            return False
    return True


async def replay_on_startup(app) -> None:
    """Start-up hook: stored events not processed yet go back on the queue; receipts not sent
    are sent (the periodic `reconcile_job` is in bot/runtime.py: JOBS)."""
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


async def reconcile_job(context) -> None:
    """The periodic job: a missed webhook still ends in a paid invoice, and receipts or staff
    lines Telegram could not take earlier are sent."""
    summary = await reconcile(context.application.bot_data["services"], context.bot)
    if summary.paid or summary.errors or summary.problems:
        log.info("reconcile: %s", summary)
