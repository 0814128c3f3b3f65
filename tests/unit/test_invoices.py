"""Issuing invoices without Telegram: numbering per year with no gap or duplicate (also under
concurrency), one live renewal per period enforced by the schema, replacement, stale quotes, fee
invoices per escalation, strict typed counts, and the HTML document."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sqlite3

import pytest

from bot import invoices
from bot.catalogue import QuoteError, minimum_resources, quote_intervention
from bot.clock import Clock
from bot.clubs import import_clubs, read_clubs_file
from bot.invoices import InvoiceError
from bot.mail import Mailer
from bot.runtime import load_catalogue
from bot.services import Services
from bot.settings import Settings
from bot.texts import Texts
from storage import clubs as club_rows
from storage import invoices as invoice_rows
from storage.db import open_database
from tests.conftest import SAMPLE_CLUBS

TODAY = dt.date(2026, 11, 26)


def clock_on(day: dt.date, settings: Settings) -> Clock:
    """A clock whose today() is `day` (at noon, Paris time)."""
    clock = Clock(settings.tz)
    target = dt.datetime.combine(day, dt.time(12), settings.tz)
    clock.advance(target - clock.now())
    return clock


@contextlib.asynccontextmanager
async def services_on(tmp_path, day: dt.date = TODAY):
    """Services on a fresh database with the sample clubs, today being `day` (no Telegram)."""
    settings = Settings(db=tmp_path / "i.sqlite3")
    db = await open_database(settings.db)
    catalogue = load_catalogue(settings)
    await import_clubs(db, read_clubs_file(SAMPLE_CLUBS), set(catalogue.plans))
    try:
        yield Services(
            settings=settings,
            db=db,
            texts=Texts(),
            clock=clock_on(day, settings),
            mailer=Mailer(settings),
            catalogue=catalogue,
        )
    finally:
        await db.close()


@pytest.fixture
async def services(tmp_path):
    async with services_on(tmp_path) as built:
        yield built


async def club_id(services, subdomain: str) -> int:
    return (await club_rows.get_by_subdomain(services.db, subdomain)).id


async def renew(services, subdomain="mermoz", plan="business", count=4, **kwargs):
    return await invoices.issue_renewal(
        services,
        club_id=await club_id(services, subdomain),
        plan_id=plan,
        resources=count,
        actor="test",
        **kwargs,
    )


# --- numbering --------------------------------------------------------------------------------


async def test_numbers_are_sequential_per_year_and_restart_each_year(services):
    first = await renew(services, "mermoz")
    second = await renew(services, "icare", plan="first_price", count=3)
    assert (first.invoice.number, second.invoice.number) == ("OF-2026-000001", "OF-2026-000002")
    services.clock.advance(dt.timedelta(days=40))  # 2027-01-05
    third = await renew(services, "namur", count=5)
    assert third.invoice.number == "OF-2027-000001"
    assert await invoice_rows.numbers_of_year(services.db, 2026) == [1, 2]


async def test_concurrent_issues_for_many_clubs_get_distinct_numbers_without_gaps(services):
    rows = await services.db.fetchall("SELECT subdomain, plan, active_resources FROM clubs")
    results = await asyncio.gather(
        *(
            renew(
                services,
                row["subdomain"],
                plan=row["plan"],
                count=minimum_resources(services.catalogue, row["plan"], row["active_resources"]),
            )
            for row in rows
        )
    )
    assert all(result.created for result in results)
    seqs = await invoice_rows.numbers_of_year(services.db, 2026)
    assert seqs == list(range(1, len(rows) + 1))


async def test_the_same_period_many_times_at_once_gives_one_invoice(services):
    results = await asyncio.gather(*(renew(services) for _ in range(12)))
    assert sum(result.created for result in results) == 1
    assert len({result.invoice.number for result in results}) == 1
    assert await invoice_rows.numbers_of_year(services.db, 2026) == [1]
    assert await services.db.fetchval("SELECT last FROM invoice_counters WHERE year = 2026") == 1


async def test_the_schema_refuses_a_second_live_renewal_and_the_counter_rolls_back(services):
    issued = await renew(services)
    invoice = issued.invoice
    with pytest.raises(sqlite3.IntegrityError):
        async with services.db.transaction() as conn:
            seq = await invoice_rows.next_number(conn, 2026)
            await invoice_rows.insert(
                conn,
                year=2026,
                seq=seq,
                club_id=invoice.club_id,
                kind="renewal",
                plan="business",
                resources=9,
                renews_end=invoice.renews_end,
                period_start=invoice.period_start,
                period_end=invoice.period_end,
                currency="EUR",
                ht_cents=1,
                vat_rate_bp=0,
                vat_cents=0,
                ttc_cents=1,
                vat_regime="fr",
                buyer={},
                payee={},
                escalation_id=None,
                subject=None,
                issued_at="2026-11-26T12:00:00+01:00",
                issued_by="test",
                lines=[],
            )
    assert await services.db.fetchval("SELECT last FROM invoice_counters WHERE year = 2026") == 1
    nxt = await renew(services, "icare", plan="first_price", count=3)
    assert nxt.invoice.number == "OF-2026-000002"


async def test_an_integrity_error_from_another_process_returns_the_existing_invoice(
    services, monkeypatch
):
    """Between our existence check and our insert, another process inserted the period."""
    first = await renew(services)
    calls = []

    async def nothing_yet(*args):
        calls.append(args)
        return None if len(calls) == 1 else first.invoice

    monkeypatch.setattr(invoices, "_existing", nothing_yet)
    again = await renew(services)
    assert not again.created and again.invoice.number == first.invoice.number
    assert await invoice_rows.numbers_of_year(services.db, 2026) == [1]


# --- one renewal per period, replacement, stale -----------------------------------------------


async def test_totals_lines_and_snapshots_are_stored(services):
    invoice = (await renew(services, count=6)).invoice
    assert (invoice.ht_cents, invoice.vat_cents, invoice.ttc_cents) == (78000, 15600, 93600)
    assert [(line.kind, line.quantity, line.total_cents) for line in invoice.lines] == [
        ("base", 1, 24000),
        ("resources", 6, 54000),
    ]
    assert invoice.period_start == dt.date(2026, 12, 17)
    assert invoice.period_end == dt.date(2027, 12, 16)
    assert invoice.renews_end == dt.date(2026, 12, 16)
    assert invoice.buyer["subdomain"] == "mermoz"
    assert invoice.payee["transfer"]["bic"] == "AGRIFRPPXXX"
    audit = await services.db.fetchone("SELECT * FROM audit WHERE action = 'invoice.issued'")
    assert audit["target"] == invoice.number


async def test_a_lapsed_club_gets_the_same_invoice_the_next_day(services):
    services.clock.advance(dt.timedelta(days=30))  # mermoz lapsed on 2026-12-16
    first = await renew(services)
    assert first.invoice.period_start == services.clock.today()
    services.clock.advance(dt.timedelta(days=1))
    second = await renew(services)
    assert not second.created and second.invoice.id == first.invoice.id


async def test_replace_cancels_and_reissues_in_one_transaction(services):
    first = (await renew(services)).invoice
    other = await renew(services, count=7)
    assert not other.created and other.invoice.id == first.id
    assert not invoices.same_terms(other.invoice, plan_id="business", resources=7)
    replaced = await renew(services, count=7, replace=first.id)
    assert replaced.created and replaced.replaced.id == first.id
    old = await invoice_rows.get(services.db, first.id)
    assert (old.status, old.replaced_by) == ("cancelled", replaced.invoice.id)
    assert replaced.invoice.number == "OF-2026-000002"
    assert await invoice_rows.numbers_of_year(services.db, 2026) == [1, 2]


async def test_replacing_a_paid_invoice_is_refused_and_changes_nothing(services):
    from bot.payments import record_payment

    first = (await renew(services)).invoice
    await record_payment(services, first.id, "cheque", "staff:1")
    services.clock.advance(dt.timedelta(seconds=1))
    with pytest.raises(InvoiceError) as error:
        await invoices.issue_invoice(
            services,
            club_id=first.club_id,
            kind="renewal",
            quote=invoices.renewal_quote(
                services,
                await club_rows.get(services.db, first.club_id),
                plan_id="business",
                resources=8,
            ),
            actor="test",
            renews_end=(await club_rows.get(services.db, first.club_id)).subscription_ends,
            replace=first.id,
        )
    assert error.value.reason == "not_open"
    assert (await invoice_rows.get(services.db, first.id)).status == "paid"
    assert await invoice_rows.numbers_of_year(services.db, 2026) == [1]


async def test_a_quote_made_before_the_record_changed_is_stale(services):
    club = await club_rows.get_by_subdomain(services.db, "mermoz")
    quote = invoices.renewal_quote(services, club, plan_id="business", resources=4)
    async with services.db.transaction() as conn:
        await club_rows.update_fields(conn, club.id, subscription_ends="2027-01-31")
    with pytest.raises(InvoiceError) as error:
        await invoices.issue_invoice(
            services,
            club_id=club.id,
            kind="renewal",
            quote=quote,
            actor="test",
            renews_end=club.subscription_ends,
        )
    assert error.value.reason == "stale"


async def test_below_the_minimum_is_refused_before_anything_is_written(services):
    with pytest.raises(QuoteError) as error:
        await renew(services, count=3)
    assert error.value.reason == "below_minimum" and error.value.minimum == 4
    assert await services.db.fetchval("SELECT count(*) FROM invoice_counters") == 0


async def test_fee_invoices_are_one_per_escalation(services):
    mermoz = await club_rows.get_by_subdomain(services.db, "lesailes")
    quote = quote_intervention(
        services.catalogue,
        plan_id=mermoz.plan,
        kind="password_reset",
        country=mermoz.country,
        vat_number=mermoz.vat_number,
    )

    async def fee(escalation_id):
        return await invoices.issue_invoice(
            services,
            club_id=mermoz.id,
            kind="intervention",
            quote=quote,
            actor="test",
            escalation_id=escalation_id,
            subject="password_reset",
        )

    results = await asyncio.gather(fee(7), fee(7), fee(8))
    assert [r.created for r in results].count(True) == 2
    assert results[0].invoice.id == results[1].invoice.id != results[2].invoice.id
    assert results[0].invoice.ttc_cents == 3600 and results[0].invoice.period_start is None
    assert [line.kind for line in results[0].invoice.lines] == ["intervention"]


async def test_find_invoice_by_id_or_number(services):
    invoice = (await renew(services)).invoice
    assert (await invoices.find_invoice(services, invoice.id)).number == invoice.number
    assert (await invoices.find_invoice(services, " of-2026-000001 ")).id == invoice.id
    assert await invoices.find_invoice(services, "OF-2026-999999") is None


async def test_cancel_invoice(services):
    invoice = (await renew(services)).invoice
    assert await invoices.cancel_invoice(services, invoice.id, actor="staff:1")
    assert not await invoices.cancel_invoice(services, invoice.id, actor="staff:1")
    again = await renew(services)  # the period is free again, with a new number
    assert again.created and again.invoice.number == "OF-2026-000002"


# --- typed counts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"), [("4", 4), (" 12 ", 12), ("007", 7), ("500", 500), ("\t9\n", 9)]
)
def test_read_count_accepts_plain_digits(typed, expected):
    assert invoices.read_count(typed, 500) == expected


def test_leading_zeros_are_harmless_however_many():
    assert invoices.read_count("0" * 9_000 + "12", 500) == 12


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("0", "not_positive"),
        ("000", "not_positive"),
        ("-2", "not_positive"),
        ("- 2", "not_positive"),
        ("3.5", "not_a_number"),
        ("3,5", "not_a_number"),
        ("+3", "not_a_number"),
        ("1e3", "not_a_number"),
        ("trois", "not_a_number"),
        ("", "not_a_number"),
        ("٣", "not_a_number"),  # Arabic-Indic digit: isdigit() but not ASCII
        ("³", "not_a_number"),
        ("1 000", "not_a_number"),
        ("501", "above_maximum"),
        ("9" * 10_000, "above_maximum"),
    ],
)
def test_read_count_refuses_everything_else(typed, reason):
    with pytest.raises(QuoteError) as error:
        invoices.read_count(typed, 500)
    assert error.value.reason == reason


# --- the document -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subdomain", "count", "ht", "vat", "ttc", "regime"),
    [
        # Hand-computed from the sample catalogue: base fee + count × price per resource.
        ("lesailes", 2, 12000 + 2 * 6000, 4800, 28800, "fr"),  # First Price
        ("mermoz", 4, 24000 + 4 * 9000, 12000, 72000, "fr"),  # Business
        ("blagnac", 6, 36000 + 6 * 11000, 20400, 122400, "fr"),  # Business+
        ("pyrenees", 8, 48000 + 8 * 13000, 30400, 182400, "fr"),  # Première
        ("corsaire", 25, 90000 + 25 * 15000, 93000, 558000, "fr"),  # Corporate
        ("lesaile", 1, 6000 + 4000, 2000, 12000, "fr"),  # SOLO
        ("namur", 5, 24000 + 5 * 9000, 0, 69000, "eu_reverse_charge"),  # BE with VAT number
        ("bodensee", 3, 24000 + 3 * 9000, 10200, 61200, "eu_no_number"),  # DE without one
        ("dublin", 6, 48000 + 6 * 13000, 0, 126000, "eu_reverse_charge"),  # IE with one
        ("geneve", 4, 24000 + 4 * 9000, 0, 60000, "non_eu"),  # Switzerland
    ],
)
async def test_invoices_at_the_minimum_match_hand_computed_figures(
    services, subdomain, count, ht, vat, ttc, regime
):
    club = await club_rows.get_by_subdomain(services.db, subdomain)
    assert minimum_resources(services.catalogue, club.plan, club.active_resources) == count
    invoice = (await renew(services, subdomain, plan=club.plan, count=count)).invoice
    assert (invoice.ht_cents, invoice.vat_cents, invoice.ttc_cents) == (ht, vat, ttc)
    assert invoice.vat_regime == regime
