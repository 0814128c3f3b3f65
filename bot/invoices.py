"""Issuing invoices: a renewal from the catalogue's quote, or a fee (issue 4's billed interventions).

Numbering (OF-<year>-<6 digits>, no gaps), the one-live-renewal-per-period rule and replacement all
happen in one database transaction; the schema's unique indexes are the last word on duplicates.
An issued invoice never changes: replacing or cancelling one issues a credit note
(AV-<year>-<6 digits>, its own gap-free series) in the same transaction; the schema's triggers
refuse any other change (storage/migrations/008_invoice_documents.sql)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import sqlite3
from dataclasses import dataclass

from bot.addresses import clean
from bot.catalogue import Quote, QuoteError, new_period, quote_renewal
from bot.documents import Document, DocumentLine, PaidBy, render_pdf
from bot.services import Services
from storage import audit
from storage import clubs as club_rows
from storage import invoices as invoice_rows
from storage import payments as payment_rows
from storage.invoices import CreditNote, Invoice, Line

log = logging.getLogger(__name__)

KINDS = ("renewal", "intervention", "migration")
# Longer than any sensible count: refused before int() so 10 000 digits cost nothing.
MAX_COUNT_DIGITS = 6


class InvoiceError(Exception):
    """An invoice could not be issued. `reason`: unknown_club, stale (the record changed since
    the quote), not_open (the invoice to replace is paid or cancelled), payment_pending (the
    invoice to replace is being paid by a delayed method: `payment_on_its_way`), bad_kind."""

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
    credit_note: CreditNote | None = None  # the one that cancelled `replaced`


def read_count(text: str, maximum: int) -> int:
    """A resource count typed by a person: ASCII digits only after trimming, ≥ 1, ≤ maximum.

    QuoteError reasons: not_a_number ("3.5", "trois", "1e3", "٣"), not_positive ("0", "-2"),
    above_maximum (over the catalogue's maximum, however many digits)."""
    if any(ch.isdigit() and not ("0" <= ch <= "9" or "０" <= ch <= "９") for ch in text):
        raise QuoteError("not_a_number", maximum=maximum)  # "٣", "³", "①": not typed counts
    cleaned = clean(text)  # NFKC: full-width "１２" is 12 (bot/addresses.clean)
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


def _seller(services: Services) -> dict:
    """The seller's identity and terms as the catalogue gives them now (frozen on each document)."""
    return dataclasses.asdict(services.catalogue.seller)


def due_date(issued_on: dt.date, seller: dict) -> dt.date:
    """Issue date + the seller's payment terms in days (Code de commerce L441-10: 30 by default)."""
    return issued_on + dt.timedelta(days=seller["payment_terms_days"])


async def _credit(
    conn, services: Services, invoice: Invoice, *, reason: str, actor: str, at: str
) -> CreditNote | None:
    """Cancel open `invoice` by a credit note for all of it, inside the caller's transaction.
    None when the invoice is not open any more (paid or already cancelled)."""
    if not invoice.is_open:
        return None
    year = dt.date.fromisoformat(at[:10]).year
    seq = await invoice_rows.next_credit_note_number(conn, year)
    note_id = await invoice_rows.insert_credit_note(
        conn,
        invoice,
        year=year,
        seq=seq,
        reason=reason,
        seller=_seller(services),
        issued_at=at,
        issued_by=actor,
    )
    if not await invoice_rows.cancel(conn, invoice.id, at):
        raise InvoiceError("not_open")  # rolls the credit note (and its number) back
    note = await invoice_rows.get_credit_note(conn, note_id)
    await audit.record(
        conn,
        actor=actor,
        action="credit_note.issued",
        club_id=invoice.club_id,
        target=note.number,
        after={"invoice": invoice.number, "reason": reason, "ttc_cents": note.ttc_cents},
    )
    return note


def _buyer(club) -> dict:
    return {
        "name": club.name,
        "subdomain": club.subdomain,
        "country": club.country,
        "vat_number": club.vat_number,
        "address": club.address,
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
            replaced = credit_note = None
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
                if await payment_rows.has_pending_session(conn, replaced.id):
                    # Its debit would land on a cancelled invoice (money to refund) while the
                    # club is asked to pay the new one as well.
                    raise InvoiceError("payment_pending")
                credit_note = await _credit(
                    conn, services, replaced, reason="replaced", actor=actor, at=issued_at
                )
                if credit_note is None:
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
                seller=_seller(services),
                due_on=due_date(now.date(), _seller(services)),
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
                    after={
                        "status": "cancelled",
                        "replaced_by": invoice_id,
                        "credit_note": credit_note.number,
                    },
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
    return Issued(invoice, created=True, replaced=replaced, credit_note=credit_note)


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


def quote_terms(club, quote: Quote) -> dict:
    """What a person agrees to when confirming a renewal quote, as JSON values (kept in the
    conversation's draft when the quote is shown): the subscription end it extends, the period,
    the plan, the count and every amount in cents. A confirmation whose quote, made again, has
    other terms is not issued: the new quote is shown instead (handlers/club/renew.py)."""
    return {
        "renews_end": club.subscription_ends.isoformat(),
        "start": quote.period_start.isoformat(),
        "end": quote.period_end.isoformat(),
        "plan": quote.plan_id,
        "resources": quote.resources,
        "ht": quote.ht_cents,
        "vat": quote.vat_cents,
        "ttc": quote.ttc_cents,
        "regime": str(quote.vat_regime),
    }


async def issue_renewal(
    services: Services,
    *,
    club_id: int,
    plan_id: str,
    resources: int,
    actor: str,
    replace: int | None = None,
    renews_end: dt.date | None = None,
) -> Issued:
    """Quote and issue the renewal of the club's current period (QuoteError / InvoiceError).

    `renews_end`: the subscription end the person's quote extended; when the record's end moved
    since (the period was paid meanwhile, a staff change), InvoiceError("stale") and nothing is
    written — checked again inside the issuing transaction — rather than an invoice for a
    period the person was never shown."""
    club = await club_rows.get(services.db, club_id)
    if club is None:
        raise InvoiceError("unknown_club")
    if renews_end is not None and renews_end != club.subscription_ends:
        raise InvoiceError("stale")
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


async def replace_renewal(
    services: Services,
    *,
    club_id: int,
    invoice_id: int,
    plan_id: str,
    resources: int,
    actor: str,
    renews_end: dt.date | None = None,
) -> Issued:
    """Replace the open renewal invoice `invoice_id` of `club_id` by a new quote (another count or plan): in
    one transaction, a credit note cancelling it (`Issued.credit_note`, `Issued.replaced`), then
    the new invoice. The one path every replacement takes: what must follow it (expiring the old
    invoice's Checkout Sessions, telling staff) hooks here.

    Raises InvoiceError("not_open") when the invoice is not the club's or was paid or cancelled
    meanwhile (nothing written), InvoiceError("stale") as issue_renewal, QuoteError when the new
    quote is refused."""
    return await issue_renewal(
        services,
        club_id=club_id,
        plan_id=plan_id,
        resources=resources,
        actor=actor,
        replace=invoice_id,
        renews_end=renews_end,
    )


@dataclass(frozen=True)
class PaidAhead:
    """The club's current period was paid by a renewal invoice: renewing now pays the next one."""

    invoice: Invoice
    next_start: dt.date
    next_end: dt.date


async def paid_ahead(services: Services, club) -> PaidAhead | None:
    """Right after a paid renewal the record's end is that invoice's period end: say so (and
    which period a new renewal would pay) rather than quote the year after without a word."""
    paid = await invoice_rows.paid_renewal_ending(services.db, club.id, club.subscription_ends)
    if paid is None:
        return None
    start, end = new_period(club.subscription_ends, services.clock.today())
    return PaidAhead(paid, start, end)


def same_terms(invoice: Invoice, *, plan_id: str, resources: int) -> bool:
    return invoice.plan == plan_id and invoice.resources == resources


async def cancel_invoice(services: Services, invoice_id: int, *, actor: str) -> CreditNote | None:
    """Cancel an open invoice by a credit note for all of it (staff, a refused request); the
    credit note, or None when the invoice is unknown, paid or already cancelled."""
    at = services.clock.now().isoformat(timespec="seconds")
    async with services.db.transaction() as conn:
        invoice = await invoice_rows.get(conn, invoice_id)
        if invoice is None:
            return None
        note = await _credit(conn, services, invoice, reason="cancelled", actor=actor, at=at)
        if note is None:
            return None
        await audit.record(
            conn,
            actor=actor,
            action="invoice.cancelled",
            club_id=invoice.club_id,
            target=invoice.number,
            before={"status": "open"},
            after={"status": "cancelled", "credit_note": note.number},
        )
    log.info("invoice %s cancelled by credit note %s", invoice.number, note.number)
    return note


async def payment_on_its_way(services: Services, invoice_id: int) -> bool:
    """Whether a delayed payment of the invoice (SEPA Direct Debit: Stripe's `complete` session,
    `payment_status` "unpaid", settled days later) is on its way: it is then neither replaced nor
    given a second payment link until it arrives or fails."""
    return await payment_rows.has_pending_session(services.db, invoice_id)


async def find_invoice(services: Services, ref: int | str) -> Invoice | None:
    """An invoice by id (an int, from our own records and buttons), or by the number a person
    typed (case and spaces forgiven: " of-2026-000123 "). Typed text is only ever a number: "1"
    or "000123" finds nothing, never the row whose database id it happens to be (ids and
    sequences part at the first new year, so `/paid 1` for OF-2027-000001 would pay
    OF-2026-000001)."""
    if isinstance(ref, int):
        return await invoice_rows.get(services.db, ref)
    return await invoice_rows.get_by_number(services.db, ref.strip().upper())


# --- presentation helpers shared by handlers, receipts and the document --------------------


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


def _lines(services: Services, invoice: Invoice, lang: str) -> tuple[DocumentLine, ...]:
    return tuple(
        DocumentLine(
            line_label(services, line, invoice, lang),
            line.quantity,
            line.unit_cents,
            line.total_cents,
        )
        for line in invoice.lines
    )


def _issued_seller(services: Services, frozen: dict | None) -> dict:
    # Invoices issued before migration 008 carry no seller: the catalogue's stands in.
    return frozen if frozen else _seller(services)


async def invoice_document(services: Services, invoice: Invoice, lang: str) -> Document:
    """What the invoice shows, from the database: as issued, plus "paid on … by …" once paid or
    the credit note's number once cancelled (a new rendering of the same invoice)."""
    if not invoice.lines:
        invoice = await invoice_rows.get(services.db, invoice.id)
    seller = _issued_seller(services, invoice.seller)
    payment = await payment_rows.for_invoice(services.db, invoice.id)
    note = await invoice_rows.credit_note_of(services.db, invoice.id)
    return Document(
        kind="invoice",
        number=invoice.number,
        issued_on=invoice.issued_on,
        due_on=invoice.due_on or due_date(invoice.issued_on, seller),
        lang=lang,
        seller=seller,
        buyer=invoice.buyer,
        lines=_lines(services, invoice, lang),
        currency=invoice.currency,
        ht_cents=invoice.ht_cents,
        vat_rate_bp=invoice.vat_rate_bp,
        vat_cents=invoice.vat_cents,
        ttc_cents=invoice.ttc_cents,
        vat_regime=invoice.vat_regime,
        plan=plan_label(services, invoice.plan, lang),
        resources=invoice.resources,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        transfer=invoice.payee["transfer"],
        cheque=invoice.payee["cheque"],
        status=invoice.status,
        paid=(
            PaidBy(dt.date.fromisoformat(payment.paid_at[:10]), payment.method, payment.reference)
            if payment is not None and invoice.status == "paid"
            else None
        ),
        related_number=note.number if note else None,
        related_issued_on=note.issued_on if note else None,
        reason=note.reason if note else None,
        sample=bool(services.catalogue.sample),
    )


async def credit_note_document(services: Services, note: CreditNote, lang: str) -> Document:
    """What the credit note shows: the cancelled invoice's lines and amounts, and its number."""
    invoice = await invoice_rows.get(services.db, note.invoice_id)
    return Document(
        kind="credit_note",
        number=note.number,
        issued_on=note.issued_on,
        due_on=note.issued_on,
        lang=lang,
        seller=note.seller,
        buyer=note.buyer,
        lines=_lines(services, invoice, lang),
        currency=note.currency,
        ht_cents=note.ht_cents,
        vat_rate_bp=note.vat_rate_bp,
        vat_cents=note.vat_cents,
        ttc_cents=note.ttc_cents,
        vat_regime=note.vat_regime,
        plan=plan_label(services, invoice.plan, lang),
        resources=invoice.resources,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        transfer=invoice.payee["transfer"],
        cheque=invoice.payee["cheque"],
        status="issued",
        related_number=invoice.number,
        related_issued_on=invoice.issued_on,
        reason=note.reason,
        sample=bool(services.catalogue.sample),
    )


async def invoice_pdf(services: Services, invoice: Invoice, lang: str) -> bytes:
    """The invoice as PDF/A-3 + Factur-X, rendered off the event loop."""
    return await render_pdf(services.texts, await invoice_document(services, invoice, lang))


async def credit_note_pdf(services: Services, note: CreditNote, lang: str) -> bytes:
    """The credit note as PDF/A-3 + Factur-X (type code 381), rendered off the event loop."""
    return await render_pdf(services.texts, await credit_note_document(services, note, lang))


async def club_documents(services: Services, club_id: int, limit: int = 10) -> list[dict]:
    """The club's invoices and credit notes, newest first, at most `limit`: dicts with kind
    (invoice / credit_note), id, number, issued (date), amount (TTC cents), status (open, paid,
    cancelled; "issued" for a credit note) and related (the credit note of a cancelled invoice,
    the invoice a credit note cancels)."""
    found = await invoice_rows.for_club(services.db, club_id, limit=limit)
    notes = await invoice_rows.credit_notes_for_club(services.db, club_id, limit=limit)
    note_of = {note.invoice_id: note for note in notes}
    for invoice in found:
        if invoice.status == "cancelled" and invoice.id not in note_of:
            note = await invoice_rows.credit_note_of(services.db, invoice.id)
            if note is not None:
                note_of[invoice.id] = note
    number_of = {invoice.id: invoice.number for invoice in found}
    for note in notes:
        if note.invoice_id not in number_of:
            cancelled = await invoice_rows.get(services.db, note.invoice_id)
            number_of[note.invoice_id] = cancelled.number
    items = [
        {
            "kind": "invoice",
            "id": invoice.id,
            "number": invoice.number,
            "issued": invoice.issued_on,
            "issued_at": invoice.issued_at,
            "amount": invoice.ttc_cents,
            "status": invoice.status,
            "related": note_of[invoice.id].number if invoice.id in note_of else None,
        }
        for invoice in found
    ] + [
        {
            "kind": "credit_note",
            "id": note.id,
            "number": note.number,
            "issued": note.issued_on,
            "issued_at": note.issued_at,
            "amount": note.ttc_cents,
            "status": "issued",
            "related": number_of[note.invoice_id],
            "invoice_id": note.invoice_id,
        }
        for note in notes
    ]

    # A replacement issues the credit note and the new invoice in the same second: the note
    # sorts right after the invoice it cancels and before any later invoice.
    def order(item: dict) -> tuple:
        if item["kind"] == "invoice":
            return (item["issued_at"], item["id"], 0)
        return (item["issued_at"], item["invoice_id"], 1)

    items.sort(key=order, reverse=True)
    return items[:limit]
