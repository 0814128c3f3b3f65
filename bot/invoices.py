"""Issuing invoices: a renewal from the catalogue's quote, or a fee (issue 4's billed interventions).

Numbering (OF-<year>-<6 digits>, no gaps), the one-live-renewal-per-period rule and replacement all
happen in one database transaction; the schema's unique indexes are the last word on duplicates."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import sqlite3
from dataclasses import dataclass

from bot.catalogue import Quote, QuoteError, quote_renewal
from bot.services import Services
from storage import audit
from storage import clubs as club_rows
from storage import invoices as invoice_rows
from storage.invoices import Invoice, Line

log = logging.getLogger(__name__)

KINDS = ("renewal", "intervention", "migration")
# Longer than any sensible count: refused before int() so 10 000 digits cost nothing.
MAX_COUNT_DIGITS = 6


class InvoiceError(Exception):
    """An invoice could not be issued. `reason`: unknown_club, stale (the record changed since
    the quote), not_open (the invoice to replace is paid or cancelled), bad_kind."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Issued:
    """`created` is False when a live invoice for the same period (or escalation) already existed
    and is returned instead: a double press, a second contact, a retried update."""

    invoice: Invoice
    created: bool
    replaced: Invoice | None = None


def read_count(text: str, maximum: int) -> int:
    """A resource count typed by a person: ASCII digits only after trimming, ≥ 1, ≤ maximum.

    QuoteError reasons: not_a_number ("3.5", "trois", "1e3", "٣"), not_positive ("0", "-2"),
    above_maximum (over the catalogue's maximum, however many digits)."""
    cleaned = text.strip()
    if re.fullmatch(r"-\s*[0-9]+", cleaned):
        raise QuoteError("not_positive", maximum=maximum)
    if not cleaned or not cleaned.isascii() or not cleaned.isdigit():
        raise QuoteError("not_a_number", maximum=maximum)
    significant = cleaned.lstrip("0")
    if len(significant) > MAX_COUNT_DIGITS:
        raise QuoteError("above_maximum", maximum=maximum)
    count = int(significant or "0")
    if count < 1:
        raise QuoteError("not_positive", maximum=maximum)
    if count > maximum:
        raise QuoteError("above_maximum", maximum=maximum)
    return count


def lines_of(quote: Quote) -> list[Line]:
    """Invoice lines from a quote; a zero-quantity line (no resource) is left out."""
    return [
        Line(line.kind, line.quantity, line.unit_cents, line.total_cents)
        for line in quote.lines
        if line.quantity > 0
    ]


def _payee(services: Services) -> dict:
    catalogue = services.catalogue
    return {
        "transfer": dataclasses.asdict(catalogue.transfer),
        "cheque": dataclasses.asdict(catalogue.cheque),
    }


def _buyer(club) -> dict:
    return {
        "name": club.name,
        "subdomain": club.subdomain,
        "country": club.country,
        "vat_number": club.vat_number,
    }


async def _existing(conn, kind: str, club_id: int, renews_end, escalation_id) -> Invoice | None:
    if kind == "renewal":
        return await invoice_rows.live_renewal(conn, club_id, renews_end)
    if escalation_id is not None:
        return await invoice_rows.live_for_escalation(conn, escalation_id)
    return None


async def issue_invoice(
    services: Services,
    *,
    club_id: int,
    kind: str,
    quote: Quote,
    actor: str,
    renews_end: dt.date | None = None,
    escalation_id: int | None = None,
    subject: str | None = None,
    replace: int | None = None,
) -> Issued:
    """Create an open invoice from `quote`, numbered in the same transaction.

    kind "renewal" needs `renews_end` (the record's subscription end it extends): a live renewal
    for the same club and `renews_end` is returned instead of a second one. Other kinds with an
    `escalation_id` are unique per escalation the same way. `replace`: the id of an open invoice to
    cancel in the same transaction (its number stays used: no gap)."""
    if kind not in KINDS:
        raise InvoiceError("bad_kind")
    if kind == "renewal" and renews_end is None:
        raise InvoiceError("stale")
    now = services.clock.now()
    issued_at = now.isoformat(timespec="seconds")
    year = now.year
    try:
        async with services.db.transaction() as conn:
            club = await club_rows.get(services.db, club_id)
            if club is None:
                raise InvoiceError("unknown_club")
            if kind == "renewal" and club.subscription_ends != renews_end:
                raise InvoiceError("stale")
            replaced = None
            if replace is not None:
                replaced = await invoice_rows.get(conn, replace)
                # Only an invoice of the same club, kind and period is replaced (a forged
                # callback could name any id: a fee invoice, another club's).
                if (
                    replaced is None
                    or replaced.club_id != club_id
                    or replaced.kind != kind
                    or replaced.renews_end != renews_end
                ):
                    raise InvoiceError("not_open")
                if not await invoice_rows.cancel(conn, replace, issued_at):
                    raise InvoiceError("not_open")
            existing = await _existing(conn, kind, club_id, renews_end, escalation_id)
            if existing is not None:
                if replaced is not None:
                    raise InvoiceError("not_open")  # rolls the cancellation back
                # Nothing written: the context manager commits an unchanged transaction.
                return Issued(existing, created=False)
            seq = await invoice_rows.next_number(conn, year)
            invoice_id = await invoice_rows.insert(
                conn,
                year=year,
                seq=seq,
                club_id=club_id,
                kind=kind,
                plan=quote.plan_id,
                resources=quote.resources,
                renews_end=renews_end,
                period_start=quote.period_start,
                period_end=quote.period_end,
                currency=services.catalogue.currency,
                ht_cents=quote.ht_cents,
                vat_rate_bp=quote.vat_rate_bp,
                vat_cents=quote.vat_cents,
                ttc_cents=quote.ttc_cents,
                vat_regime=str(quote.vat_regime),
                buyer=_buyer(club),
                payee=_payee(services),
                escalation_id=escalation_id,
                subject=subject,
                issued_at=issued_at,
                issued_by=actor,
                lines=lines_of(quote),
            )
            if replaced is not None:
                await invoice_rows.set_replaced_by(conn, replaced.id, invoice_id)
                await audit.record(
                    conn,
                    actor=actor,
                    action="invoice.cancelled",
                    club_id=club_id,
                    target=replaced.number,
                    before={"status": "open"},
                    after={"status": "cancelled", "replaced_by": invoice_id},
                )
            invoice = await invoice_rows.get(conn, invoice_id)
            await audit.record(
                conn,
                actor=actor,
                action="invoice.issued",
                club_id=club_id,
                target=invoice.number,
                after={
                    "kind": kind,
                    "plan": quote.plan_id,
                    "resources": quote.resources,
                    "ttc_cents": quote.ttc_cents,
                    "period": [
                        quote.period_start.isoformat() if quote.period_start else None,
                        quote.period_end.isoformat() if quote.period_end else None,
                    ],
                    "escalation_id": escalation_id,
                },
            )
    except sqlite3.IntegrityError:
        # Another process inserted the same period between our check and our insert: the
        # transaction (counter included) was rolled back, so no number was lost.
        existing = await _existing(services.db.conn, kind, club_id, renews_end, escalation_id)
        if existing is None:
            raise
        return Issued(existing, created=False)
    log.info("invoice %s issued for club %s (%s)", invoice.number, club_id, kind)
    return Issued(invoice, created=True, replaced=replaced)


def renewal_quote(services: Services, club, *, plan_id: str, resources: int) -> Quote:
    """The quote for renewing `club` now; QuoteError when the count or plan is refused."""
    return quote_renewal(
        services.catalogue,
        plan_id=plan_id,
        resources=resources,
        country=club.country,
        vat_number=club.vat_number,
        current_end=club.subscription_ends,
        today=services.clock.today(),
        active_resources=club.active_resources,
    )


async def issue_renewal(
    services: Services,
    *,
    club_id: int,
    plan_id: str,
    resources: int,
    actor: str,
    replace: int | None = None,
) -> Issued:
    """Quote and issue the renewal of the club's current period (QuoteError / InvoiceError)."""
    club = await club_rows.get(services.db, club_id)
    if club is None:
        raise InvoiceError("unknown_club")
    quote = renewal_quote(services, club, plan_id=plan_id, resources=resources)
    return await issue_invoice(
        services,
        club_id=club_id,
        kind="renewal",
        quote=quote,
        actor=actor,
        renews_end=club.subscription_ends,
        replace=replace,
    )


def same_terms(invoice: Invoice, *, plan_id: str, resources: int) -> bool:
    return invoice.plan == plan_id and invoice.resources == resources


async def cancel_invoice(services: Services, invoice_id: int, *, actor: str) -> bool:
    """Cancel an open invoice (staff); False when it is paid or already cancelled."""
    at = services.clock.now().isoformat(timespec="seconds")
    async with services.db.transaction() as conn:
        invoice = await invoice_rows.get(conn, invoice_id)
        if invoice is None or not await invoice_rows.cancel(conn, invoice_id, at):
            return False
        await audit.record(
            conn,
            actor=actor,
            action="invoice.cancelled",
            club_id=invoice.club_id,
            target=invoice.number,
            before={"status": "open"},
            after={"status": "cancelled"},
        )
    return True


async def find_invoice(services: Services, ref: int | str) -> Invoice | None:
    """An invoice by id, or by number (case and spaces forgiven: " of-2026-000123 ")."""
    if isinstance(ref, int):
        return await invoice_rows.get(services.db, ref)
    text = ref.strip().upper()
    if text.isdigit():
        return await invoice_rows.get(services.db, int(text))
    return await invoice_rows.get_by_number(services.db, text)


# --- presentation helpers shared by handlers, receipts and the document --------------------


def percent(rate_bp: int) -> str:
    """2000 → "20", 550 → "5.50" (basis points, integers only)."""
    whole, rest = divmod(rate_bp, 100)
    return str(whole) if rest == 0 else f"{whole}.{rest:02d}"


def plan_label(services: Services, plan_id: str, lang: str) -> str:
    plan = services.catalogue.plans.get(plan_id) if services.catalogue else None
    return plan.label(lang) if plan else plan_id


def line_label(services: Services, line: Line, invoice: Invoice | Quote, lang: str) -> str:
    """One line's description in `lang` ("Business — 4 ressources", "Intervention manuelle")."""
    return services.texts.render(
        lang,
        "invoice/line",
        kind=line.kind,
        plan=plan_label(
            services, invoice.plan_id if isinstance(invoice, Quote) else invoice.plan, lang
        ),
        quantity=line.quantity,
    )


def render_document(services: Services, invoice: Invoice, lang: str) -> bytes:
    """The invoice as a standalone HTML document (Jinja2 template `invoice/document`)."""
    lines = [
        {
            "label": line_label(services, line, invoice, lang),
            "quantity": line.quantity,
            "unit_cents": line.unit_cents,
            "total_cents": line.total_cents,
        }
        for line in invoice.lines
    ]
    html = services.texts.render(
        lang,
        "invoice/document",
        number=invoice.number,
        issued=invoice.issued_on,
        status=invoice.status,
        paid_on=dt.date.fromisoformat(invoice.paid_at[:10]) if invoice.paid_at else None,
        buyer=invoice.buyer,
        plan=plan_label(services, invoice.plan, lang),
        resources=invoice.resources,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        lines=lines,
        ht=invoice.ht_cents,
        vat=invoice.vat_cents,
        vat_percent=percent(invoice.vat_rate_bp),
        regime=invoice.vat_regime,
        ttc=invoice.ttc_cents,
        transfer=invoice.payee["transfer"],
        cheque=invoice.payee["cheque"],
        sample=bool(services.catalogue and services.catalogue.sample),
    )
    return html.encode("utf-8")
