"""Invoices and credit notes as documents a French accountant accepts: a PDF/A-3 rendered by
WeasyPrint from the Jinja2 template, carrying its Factur-X XML (EN 16931, CII) built by drafthorse.

The XML is embedded as `factur-x.xml` and checked against the official XSD by the `factur-x`
library. Rendering runs in one worker process, off the event loop (`render_pdf`). How each VAT
regime maps onto EN 16931's VAT categories, and why, is in docs/INVOICES.md."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bot.catalogue import VatRegime
from bot.texts import Texts, format_percent

# Code de commerce L441-10 II and D441-5: the fixed indemnity for recovery costs, 40 euros.
RECOVERY_INDEMNITY_CENTS = 4000
INVOICE_TYPE_CODE = "380"  # UNTDID 1001: commercial invoice
CREDIT_NOTE_TYPE_CODE = "381"  # UNTDID 1001: credit note
EN16931 = "urn:cen.eu:en16931:2017"  # BT-24, the Factur-X EN 16931 (COMFORT) profile
UNIT_ONE = "C62"  # UN/ECE rec. 20: "one", a unit for things counted
SEPA_CREDIT_TRANSFER = "58"  # UNTDID 4461
SIREN_SCHEME = "0002"  # ISO 6523 ICD of the French SIRENE register (BT-30 scheme)


@dataclass(frozen=True)
class VatCategory:
    """EN 16931 VAT category (BT-118/BT-151, UNTDID 5305) and exemption reason (BT-120/BT-121,
    the CEF VATEX list) for one of the catalogue's VAT regimes."""

    code: str
    reason_code: str | None
    reason: str | None  # the legal mention, French (the seller's language)
    parties_vat_ids: bool  # BR-O-02: no seller or buyer VAT identifier with category O


VAT_CATEGORIES = {
    # Standard rate (French VAT 20 %, also for EU clubs without a usable VAT number).
    VatRegime.FR: VatCategory("S", None, None, True),
    VatRegime.EU_NO_NUMBER: VatCategory("S", None, None, True),
    # B2B service to a taxable person in another member state: taxed where the customer is
    # (directive 2006/112/EC art. 44, CGI art. 259-1), the customer pays the VAT (art. 196):
    # category AE "VAT reverse charge", VATEX-EU-AE; the French mention is "Autoliquidation"
    # (CGI art. 242 nonies A I 13°). K / VATEX-EU-IC is the intra-Community supply of GOODS
    # (art. 138) and needs a delivery (BR-IC-11, BR-IC-12): not this case.
    VatRegime.EU_REVERSE_CHARGE: VatCategory(
        "AE",
        "VATEX-EU-AE",
        "Autoliquidation — article 196 de la directive 2006/112/CE, article 283-2 du CGI",
        True,
    ),
    # Service to a customer outside the EU: place of supply outside France (CGI art. 259-1), so
    # outside the scope of EU VAT: category O "Services outside scope of tax", VATEX-EU-O. G /
    # VATEX-EU-G is the export of GOODS (art. 146). BR-O-02 keeps VAT identifiers out of the XML.
    VatRegime.NON_EU: VatCategory(
        "O", "VATEX-EU-O", "TVA non applicable — article 259-1 du CGI", False
    ),
}


@dataclass(frozen=True)
class DocumentLine:
    label: str
    quantity: int
    unit_cents: int
    total_cents: int


@dataclass(frozen=True)
class PaidBy:
    """How an invoice was paid, shown on its paid rendering (the XML never changes)."""

    paid_on: dt.date
    method: str  # card, transfer, cheque
    reference: str | None


@dataclass(frozen=True)
class Document:
    """Everything an invoice or a credit note shows, from the database only (never the live
    catalogue but for invoices issued before the seller was frozen on them)."""

    kind: str  # "invoice" or "credit_note"
    number: str
    issued_on: dt.date
    due_on: dt.date
    lang: str
    seller: dict  # bot.catalogue.Seller as a dict
    buyer: dict  # name, subdomain, country, vat_number
    lines: tuple[DocumentLine, ...]
    currency: str
    ht_cents: int
    vat_rate_bp: int
    vat_cents: int
    ttc_cents: int
    vat_regime: str
    plan: str
    resources: int | None
    period_start: dt.date | None
    period_end: dt.date | None
    transfer: dict  # holder, iban, bic
    cheque: dict  # payee, address
    status: str  # open, paid, cancelled (invoices); issued (credit notes)
    paid: PaidBy | None = None
    # A credit note: the invoice it cancels. An invoice: the credit note that cancelled it.
    related_number: str | None = None
    related_issued_on: dt.date | None = None
    reason: str | None = None  # credit notes: replaced, cancelled
    sample: bool = False

    @property
    def type_code(self) -> str:
        return CREDIT_NOTE_TYPE_CODE if self.kind == "credit_note" else INVOICE_TYPE_CODE

    @property
    def category(self) -> VatCategory:
        return VAT_CATEGORIES[VatRegime(self.vat_regime)]

    @property
    def filename(self) -> str:
        return f"{self.number}.pdf"


# --- the Factur-X XML ---------------------------------------------------------------------------


def euros(cents: int) -> Decimal:
    """Integer cents → Decimal euros with two places (12345 → Decimal('123.45')); exact."""
    return Decimal(cents).scaleb(-2)


def _postal(address, lines: list[str], country: str) -> None:
    """Lines of a postal address; the last one read as "<postcode> <town>" when it is one."""
    lines = [line for line in lines if line]
    if lines:
        found = re.fullmatch(r"(\d{4,5})\s+(.+)", lines[-1])
        if found:
            address.postcode = found.group(1)
            address.city_name = found.group(2)
            lines = lines[:-1]
        if len(lines) > 3:  # CII has three address lines: the rest joins the third
            lines = [*lines[:2], ", ".join(lines[2:])]
        for field, text in zip(("line_one", "line_two", "line_three"), lines, strict=False):
            setattr(address, field, text)
    address.country_id = country


def factur_x_xml(doc: Document) -> bytes:
    """The document as Factur-X EN 16931 CII XML (drafthorse serialises it and checks it against
    its Factur-X XSD). Amounts are the database's cents; a credit note's are positive."""
    from drafthorse.models.accounting import ApplicableTradeTax
    from drafthorse.models.document import Document as CiiDocument
    from drafthorse.models.note import IncludedNote
    from drafthorse.models.party import TaxRegistration
    from drafthorse.models.payment import PaymentMeans, PaymentTerms
    from drafthorse.models.tradelines import LineItem

    category = doc.category
    seller, buyer = doc.seller, doc.buyer
    cii = CiiDocument()
    cii.context.guideline_parameter.id = EN16931
    cii.header.id = doc.number
    cii.header.type_code = doc.type_code
    cii.header.issue_date_time = doc.issued_on
    for subject, text in _notes(doc):
        note = IncludedNote()
        note.content = text
        note.subject_code = subject
        cii.header.notes.add(note)

    agreement = cii.trade.agreement
    agreement.buyer_reference = buyer.get("subdomain") or buyer["name"]
    agreement.seller.name = seller["legal_name"]
    agreement.seller.description = legal_identity(seller, "fr")  # BT-33
    agreement.seller.legal_organization.id = (SIREN_SCHEME, seller["siren"])  # BT-30
    agreement.seller.legal_organization.trade_name = seller["legal_name"]
    _postal(agreement.seller.address, seller["address"].split("\n"), seller["country"])
    if category.parties_vat_ids:
        agreement.seller.tax_registrations.add(TaxRegistration(id=("VA", seller["vat_number"])))
    agreement.buyer.name = buyer["name"]
    _postal(
        agreement.buyer.address,
        [part.strip() for part in (buyer.get("address") or "").split(",")],
        (buyer.get("country") or "FR").upper(),
    )
    if category.parties_vat_ids and buyer.get("vat_number"):
        agreement.buyer.tax_registrations.add(
            TaxRegistration(id=("VA", re.sub(r"[\s.\-]", "", buyer["vat_number"]).upper()))
        )

    for position, line in enumerate(doc.lines, start=1):
        item = LineItem()
        item.document.line_id = str(position)
        item.product.name = line.label
        item.agreement.net.amount = euros(line.unit_cents)
        item.delivery.billed_quantity = (Decimal(line.quantity), UNIT_ONE)
        item.settlement.trade_tax.type_code = "VAT"
        item.settlement.trade_tax.category_code = category.code
        if category.code != "O":  # BR-O-05: no rate on a line not subject to VAT
            item.settlement.trade_tax.rate_applicable_percent = euros(doc.vat_rate_bp)
        item.settlement.monetary_summation.total_amount = euros(line.total_cents)
        cii.trade.items.add(item)

    # BT-72: when the service is supplied (the subscription's first day; else the issue date of
    # the invoice). Also keeps the required delivery element from being empty (PEPPOL R008).
    cii.trade.delivery.event.occurrence = doc.period_start or (
        doc.related_issued_on if doc.kind == "credit_note" else doc.issued_on
    )
    settlement = cii.trade.settlement
    settlement.currency_code = doc.currency
    settlement.payment_reference = (
        doc.related_number if doc.kind == "credit_note" else doc.number
    )  # BT-83
    if doc.kind == "invoice":
        means = PaymentMeans()
        means.type_code = SEPA_CREDIT_TRANSFER
        means.payee_account.iban = doc.transfer["iban"].replace(" ", "")
        means.payee_account.account_name = doc.transfer["holder"]
        means.payee_institution.bic = doc.transfer["bic"]
        settlement.payment_means.add(means)
    tax = ApplicableTradeTax()
    tax.calculated_amount = euros(doc.vat_cents)
    tax.type_code = "VAT"
    if category.reason:
        tax.exemption_reason = category.reason
    tax.basis_amount = euros(doc.ht_cents)
    tax.category_code = category.code
    if category.reason_code:
        tax.exemption_reason_code = category.reason_code
    if category.code != "O":  # BR-O-09 / BR-O-11: no rate in an O breakdown
        tax.rate_applicable_percent = euros(doc.vat_rate_bp)
    settlement.trade_tax.add(tax)
    if doc.period_start and doc.period_end:
        settlement.period.start = doc.period_start  # BG-14, the subscription year invoiced
        settlement.period.end = doc.period_end
    terms = PaymentTerms()
    terms.description = payment_terms_text(doc, "fr")
    terms.due = doc.due_on
    settlement.terms.add(terms)
    totals = settlement.monetary_summation
    totals.line_total = euros(sum(line.total_cents for line in doc.lines))
    totals.tax_basis_total = euros(doc.ht_cents)
    totals.tax_total = (euros(doc.vat_cents), doc.currency)
    totals.grand_total = euros(doc.ttc_cents)
    totals.due_amount = euros(doc.ttc_cents)
    if doc.kind == "credit_note":
        settlement.invoice_referenced_document.issuer_assigned_id = doc.related_number  # BT-25
        settlement.invoice_referenced_document.issue_date_time = doc.related_issued_on  # BT-26
    return cii.serialize(schema="FACTUR-X_EN16931")


def legal_identity(seller: dict, lang: str) -> str:
    """ "SAS au capital de 10 000,00 € — RCS Toulouse 999 999 998 — SIRET … — TVA FR…"."""
    from bot.texts import format_money

    capital = format_money(seller["share_capital_cents"], lang)
    if lang == "en":
        head = f"{seller['legal_form']} with a share capital of {capital}"
    else:
        head = f"{seller['legal_form']} au capital de {capital}"
    vat = "VAT" if lang == "en" else "TVA intracommunautaire"
    return (
        f"{head} — {seller['rcs']} — SIREN {seller['siren']} — SIRET {seller['siret']}"
        f" — {vat} {seller['vat_number']}"
    )


def late_payment_text(seller: dict, lang: str) -> str:
    """The late-payment mentions Code de commerce L441-10 II requires on every invoice."""
    from bot.texts import format_money

    rate = format_percent(seller["late_penalty_rate_bp"], lang)
    indemnity = format_money(RECOVERY_INDEMNITY_CENTS, lang)
    if lang == "en":
        return (
            f"Late payment: penalties at {rate} % a year from the day after the due date, and a"
            f" fixed indemnity of {indemnity} for recovery costs (Code de commerce L441-10)."
            " No discount for early payment."
        )
    return (
        f"En cas de retard de paiement : pénalités au taux annuel de {rate} % dès le lendemain de"
        f" l’échéance, et indemnité forfaitaire pour frais de recouvrement de {indemnity}"
        " (Code de commerce, art. L441-10). Pas d’escompte pour paiement anticipé."
    )


def payment_terms_text(doc: Document, lang: str) -> str:
    from bot.texts import format_date

    if doc.kind == "credit_note":
        if lang == "en":
            return f"Credit note cancelling invoice {doc.related_number}: nothing to pay."
        return f"Avoir annulant la facture {doc.related_number} : rien à payer."
    days = doc.seller["payment_terms_days"]
    due = format_date(doc.due_on, lang)
    if lang == "en":
        return f"Payable within {days} days of the issue date, by {due}."
    return f"Payable à {days} jours date de facture, au plus tard le {due}."


def _notes(doc: Document) -> list[tuple[str, str]]:
    """Header notes (BG-1) with their UNTDID 4451 subject codes, as the French Factur-X
    guidance asks for the legal mentions: REG (registration), PMD (penalties), PMT (indemnity),
    AAB (discount)."""
    notes = [("REG", f"{doc.seller['legal_name']} — {legal_identity(doc.seller, 'fr')}")]
    if doc.kind == "invoice":
        rate = format_percent(doc.seller["late_penalty_rate_bp"], "fr")
        notes += [
            (
                "PMD",
                f"Pénalités de retard au taux annuel de {rate} % dès le lendemain de l’échéance.",
            ),
            (
                "PMT",
                "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement :"
                " 40 € (Code de commerce, art. L441-10).",
            ),
            ("AAB", "Pas d’escompte pour paiement anticipé."),
        ]
    else:
        notes.append(("ACB", f"Avoir annulant la facture {doc.related_number}."))
    return notes


# --- the PDF ------------------------------------------------------------------------------------


def document_html(texts: Texts, doc: Document) -> str:
    """The document as HTML (template `invoice/document`), in `doc.lang`."""
    return texts.render(
        doc.lang,
        "invoice/document",
        doc=doc,
        category=doc.category,
        vat_percent=format_percent(doc.vat_rate_bp, doc.lang),
        identity=legal_identity(doc.seller, doc.lang),
        late_payment=late_payment_text(doc.seller, doc.lang),
        terms=payment_terms_text(doc, doc.lang),
        seller_lines=doc.seller["address"].split("\n"),
        cheque_lines=doc.cheque["address"].split("\n"),
    )


def _pdf_metadata(doc: Document) -> dict:
    title = "Avoir" if doc.kind == "credit_note" else "Facture"
    return {
        "author": doc.seller["legal_name"],
        "keywords": "Factur-X, EN 16931",
        "title": f"{title} {doc.number}",
        "subject": f"{title} {doc.number} — {doc.buyer['name']}",
        "creator": "ofbot",
        "producer": "ofbot (WeasyPrint, factur-x)",
    }


def build_pdf(texts: Texts, doc: Document, font_config=None) -> bytes:
    """Render `doc` to a PDF/A-3b with its Factur-X XML embedded. Blocking (~0.1 s of CPU):
    call `render_pdf` from async code. Raises when the XML fails the official XSD.
    `font_config`: a WeasyPrint FontConfiguration to reuse (a new one per render leaks about
    0.3 MiB each: bench/README.md)."""
    from facturx import generate_from_binary
    from weasyprint import HTML

    xml = factur_x_xml(doc)
    pdf = HTML(string=document_html(texts, doc)).write_pdf(
        pdf_variant="pdf/a-3b",
        pdf_identifier=doc.number.encode(),
        uncompressed_pdf=False,
        font_config=font_config,
    )
    return generate_from_binary(
        pdf,
        xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=True,
        pdf_metadata=_pdf_metadata(doc),
        lang="fr-FR" if doc.lang == "fr" else "en-GB",
    )


# Rendering runs in one worker process: WeasyPrint, lxml's schema checks and pypdf are Python
# or GIL-holding C for ~0.1 s a document, which in a thread made the event loop late by up to
# half a second (bench/README.md). One worker: one render at a time, fonts loaded once.
_POOL: list[ProcessPoolExecutor] = []
_WORKER: dict = {}  # in the worker process: its Texts and its one FontConfiguration


def _render_in_worker(messages_root: str, doc: Document) -> bytes:
    """The worker's side of `render_pdf`. One FontConfiguration for every render: a new one per
    render leaked ~0.3 MiB each (bench/README.md)."""
    if "texts" not in _WORKER:
        from weasyprint.text.fonts import FontConfiguration

        _WORKER["texts"] = Texts(Path(messages_root))
        _WORKER["fonts"] = FontConfiguration()
    return build_pdf(_WORKER["texts"], doc, _WORKER["fonts"])


def _worker_pid() -> int:
    return os.getpid()


def _pool() -> ProcessPoolExecutor:
    if not _POOL:
        # spawn, not fork: the bot's process has threads (the default executor's, PTB's) a fork
        # would copy mid-way.
        _POOL.append(
            ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        )
    return _POOL[0]


async def _in_worker(function, *args):
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_pool(), function, *args)
    except BrokenProcessPool:
        # The worker died (killed, out of memory): start another one and try once more.
        _POOL.pop().shutdown(wait=False)
        return await loop.run_in_executor(_pool(), function, *args)


async def render_pdf(texts: Texts, doc: Document) -> bytes:
    """`build_pdf` in the renderer process: the event loop keeps serving updates meanwhile."""
    return await _in_worker(_render_in_worker, str(texts.root), doc)


async def renderer_pid() -> int:
    """The process id of the renderer (tests check it is not this process)."""
    return await _in_worker(_worker_pid)


def embedded_xml(pdf: bytes) -> bytes:
    """The `factur-x.xml` a PDF carries (for tests and checks); raises when there is none."""
    from facturx import get_facturx_xml_from_pdf

    filename, xml = get_facturx_xml_from_pdf(io.BytesIO(pdf), check_xsd=True)
    if filename != "factur-x.xml" or not xml:
        raise ValueError(f"no factur-x.xml in the PDF (found {filename!r})")
    return xml


def replace(doc: Document, **changes) -> Document:
    return dataclasses.replace(doc, **changes)
