"""What paying an invoice does besides marking it paid, per invoice kind: one visible table.

A renewal moves the club's subscription on; an intervention fee unblocks the staff request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram import Bot

from bot import escalations
from bot.services import Services
from storage import audit
from storage import clubs as club_rows
from storage.db import Connection
from storage.invoices import Invoice

InTransaction = Callable[[Connection, Services, Invoice], Awaitable[Any]]
AfterCommit = Callable[[Services, Bot | None, Invoice], Awaitable[None]]


@dataclass(frozen=True)
class PaidHooks:
    """`in_transaction` runs inside the payment's transaction (database writes only, no network);
    `after_commit` runs once the payment is committed (messages), only where a bot is at hand."""

    in_transaction: InTransaction | None = None
    after_commit: AfterCommit | None = None


async def renewal_paid(conn: Connection, services: Services, invoice: Invoice) -> None:
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


# invoice kind → what paying it does (bot/payments/ledger.py: record_payment, notify_paid).
ON_PAID: dict[str, PaidHooks] = {
    "renewal": PaidHooks(in_transaction=renewal_paid),
    "intervention": PaidHooks(
        in_transaction=escalations.mark_fee_paid, after_commit=escalations.after_fee_paid
    ),
}
