"""What staff see and record by hand (SPEC §4): a club at a glance, what is pending, the figures,
payments by transfer or cheque, and the daily summary posted to the staff group.

Views return plain dicts for the `staff/…` templates; the daily summary comes as a custom update
(`StaffSummaryDue`) through the Application's queue, like every other outside event."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from telegram import Bot

from bot import payments
from bot.addresses import clean, read_platform_address
from bot.clubs import suggest_clubs
from bot.contacts import contact_lines
from bot.invoices import club_documents
from bot.payments import PaymentResult
from bot.services import Services
from storage import clubs as club_rows
from storage import escalations as escalation_rows
from storage import invoices as invoice_rows
from storage import payments as payment_rows
from storage import reminders as reminder_rows
from storage import stats

log = logging.getLogger(__name__)

SUMMARY_TIME = dt.time(18, 0)
LIST_LIMIT = 25  # lines per list in one message (Telegram caps a message at 4096 characters)
METHOD_WORDS = {
    "transfer": "transfer",
    "virement": "transfer",
    "cheque": "cheque",
    "chèque": "cheque",
    "check": "cheque",
}


@dataclass(frozen=True)
class StaffSummaryDue:
    """The daily summary is due (put on the update queue by the 18:00 job)."""

    day: str  # ISO date the summary is about

    @property
    def lock_key(self) -> tuple:
        return ("staff-summary",)


def plan_label(services: Services, plan_id: str) -> str:
    plan = services.catalogue.plans.get(plan_id) if services.catalogue else None
    return plan.label("fr") if plan else plan_id


def _invoice_line(invoice, clubs_by_id: dict) -> dict:
    club = clubs_by_id.get(invoice.club_id)
    return {
        "number": invoice.number,
        "kind": invoice.kind,
        "amount": invoice.ttc_cents,
        "issued": invoice.issued_on,
        "subdomain": club.subdomain if club else "?",
    }


def _escalation_line(escalation, clubs_by_id: dict) -> dict:
    club = clubs_by_id.get(escalation.club_id)
    return {
        "id": escalation.id,
        "kind": escalation.kind,
        "status": escalation.status,
        "fee": escalation.fee,
        "taken_by": escalation.taken_by_name,
        "subdomain": club.subdomain if club else "?",
    }


async def _clubs_by_id(services: Services, ids) -> dict:
    found = {}
    for club_id in set(ids):
        club = await club_rows.get(services.db, club_id)
        if club is not None:
            found[club_id] = club
    return found


async def find_club(services: Services, typed: str):
    """The club named by a subdomain in any form staff type; else (None, close matches)."""
    reading = read_platform_address(typed)
    if reading.subdomain:
        club = await club_rows.get_by_subdomain(services.db, reading.subdomain)
        if club is not None:
            return club, []
    query = reading.subdomain or reading.free_text or typed
    return None, await suggest_clubs(services.db, query)


async def club_view(services: Services, club) -> dict:
    """/club: the record, its verified contacts, open invoices, recent credit notes (number,
    amount, the invoice each cancels) and live requests."""
    open_invoices = await invoice_rows.open_invoices(services.db, club.id)
    live = await escalation_rows.live_for_club(services.db, club.id)
    by_id = {club.id: club}
    return {
        "club": {**club.as_record(), "plan_label": plan_label(services, club.plan)},
        "subscribed": club.subscribed_resources,
        "contacts": await stats.verified_contacts(services.db, club.id),
        "contact_lines": (await contact_lines(services, club.id))[:LIST_LIMIT],
        "invoices": [_invoice_line(i, by_id) for i in open_invoices[:LIST_LIMIT]],
        "escalations": [_escalation_line(e, by_id) for e in live[:LIST_LIMIT]],
        "lapsed": club.subscription_ends < services.clock.today(),
        "credit_notes": [
            item
            for item in await club_documents(services, club.id, LIST_LIMIT)
            if item["kind"] == "credit_note"
        ],
    }


async def pending_view(services: Services) -> dict:
    """/pending: live requests and unpaid invoices, oldest first."""
    live = await escalation_rows.live(services.db, limit=LIST_LIMIT + 1)
    open_invoices = await invoice_rows.open_invoices(services.db)
    by_id = await _clubs_by_id(
        services, [e.club_id for e in live] + [i.club_id for i in open_invoices[:LIST_LIMIT]]
    )
    counts = await escalation_rows.count_by_status(services.db)
    return {
        "escalations": [_escalation_line(e, by_id) for e in live[:LIST_LIMIT]],
        "escalations_total": counts["open"] + counts["taken"],
        "invoices": [_invoice_line(i, by_id) for i in open_invoices[:LIST_LIMIT]],
        "invoices_total": len(open_invoices),
        "open_amount": sum(i.ttc_cents for i in open_invoices),
    }


async def stats_view(services: Services) -> dict:
    """/stats: clubs, verified contacts, invoices, requests, conversations, today's reminders."""
    today = services.clock.today()
    return {
        "clubs": await stats.clubs(services.db),
        "contacts": await stats.verified_contacts(services.db),
        "invoices": await stats.invoices_by_status(services.db),
        "escalations": await escalation_rows.count_by_status(services.db),
        "talks": await stats.open_talks(services.db),
        "reminders": await reminders_sent_on(services, today),
        "today": today,
    }


async def reminders_sent_on(services: Services, day: dt.date) -> int:
    """Reminders delivered by the run of `day` (the reminders feature's own count)."""
    return await reminder_rows.count_sent_on(services.db, day)


async def daily_summary(services: Services, day: dt.date) -> dict:
    """The end-of-day figures: reminders sent, renewals paid, invoices open, requests open."""
    invoices = await stats.invoices_by_status(services.db)
    counts = await escalation_rows.count_by_status(services.db)
    return {
        "day": day,
        "reminders": await reminders_sent_on(services, day),
        "renewals": await stats.renewals_paid_on(services.db, day),
        "open_invoices": invoices["open"],
        "escalations_open": counts["open"],
        "escalations_taken": counts["taken"],
        "talks": await stats.open_talks(services.db),
    }


# --- payments recorded by hand ----------------------------------------------------------------


def read_method(word: str) -> str | None:
    """ "transfer"/"virement" or "cheque"/"chèque" → the payment method; None otherwise."""
    return METHOD_WORDS.get(clean(word).casefold())


async def record_manual_payment(
    services: Services, bot: Bot | None, ref: str, method: str, staff_id: int
) -> PaymentResult:
    """/paid: once only. Unknown, paid or cancelled invoices change nothing (the result says
    which); otherwise the payment machinery marks it paid, audits it, extends a renewal and sends
    the receipts."""
    ref = clean(ref)  # NFKC: "ＯＦ－2026－000123" typed on a phone's full-width keyboard
    return await payments.record_payment(services, ref, method, f"staff:{staff_id}", bot=bot)


async def existing_payment(services: Services, invoice_id: int):
    return await payment_rows.for_invoice(services.db, invoice_id)


# --- the daily summary job --------------------------------------------------------------------


async def summary_job(context) -> None:
    """18:00 job: hand the summary to the update queue (one path for every input)."""
    services: Services = context.application.bot_data["services"]
    day = services.clock.today().isoformat()
    await context.application.update_queue.put(StaffSummaryDue(day))
