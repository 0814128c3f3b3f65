"""The payment ledger: `record_payment` is the one way an invoice becomes paid (Stripe, reconcile,
staff by hand), in one transaction with its kind's hooks and the audit row."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import Bot

from bot.invoices import find_invoice
from bot.payments.closing import expire_links
from bot.payments.notifications import notify_paid
from bot.payments.on_paid import ON_PAID
from bot.services import Services
from storage import audit
from storage import invoices as invoice_rows
from storage import payments as payment_rows
from storage.invoices import Invoice
from storage.payments import Payment

log = logging.getLogger(__name__)

METHODS = ("card", "transfer", "cheque")


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
    `in_transaction` hook (a renewal moves the subscription on) and the audit row. Then the
    invoice's other open Checkout Sessions are expired, and, when `bot` is given, receipts to the club's verified contacts, a line to staff and the `after_commit`
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
    # No other link of this invoice may take money now (at most one payable session, and none
    # once paid): the reconcile job closes what Stripe could not be asked to close now.
    await expire_links(services, invoice.id)
    if bot is not None:
        await notify_paid(services, bot, payment_id)
    return PaymentResult("paid", invoice, payment)
