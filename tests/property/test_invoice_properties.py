"""Invoice invariants under hypothesis, through the real service and schema: for any count ≥ the
minimum, any plan and VAT regime, the stored lines sum to HT, HT + VAT = TTC exactly, and the card
payment's Stripe line items add up to the TTC; numbers stay gapless whatever mix of issues,
replacements and double presses happens."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import invoices, payments
from bot.catalogue import minimum_resources
from bot.clock import Clock
from bot.mail import Mailer
from bot.payments import checkout
from bot.runtime import load_catalogue
from bot.services import Services
from bot.settings import Settings
from bot.texts import Texts
from storage import clubs as club_rows
from storage import invoices as invoice_rows
from storage.db import Database

BASE = Settings()
CATALOGUE = load_catalogue(BASE)
TEXTS = Texts()
COUNTRIES = [("FR", None), ("BE", "BE0123456749"), ("DE", None), ("CH", None), ("MC", None)]


@contextlib.asynccontextmanager
async def fresh_services(today: dt.date):
    db = await Database.open(":memory:")
    await db.migrate()
    clock = Clock(BASE.tz)
    clock.advance(dt.datetime.combine(today, dt.time(12), BASE.tz) - clock.now())
    try:
        yield Services(
            settings=BASE, db=db, texts=TEXTS, clock=clock, mailer=Mailer(BASE), catalogue=CATALOGUE
        )
    finally:
        await db.close()


async def add_club(services, *, plan: str, active: int, ends: dt.date, country, vat) -> int:
    async with services.db.transaction() as conn:
        await club_rows.upsert_many(
            conn,
            [
                {
                    "subdomain": "club",
                    "name": "Club & <Co>",
                    "structure_email": "a@club.example",
                    "contact_email": "b@club.example",
                    "plan": plan,
                    "active_resources": active,
                    "subscription_ends": ends.isoformat(),
                    "country": country,
                    "vat_number": vat,
                    "language": "fr",
                }
            ],
        )
    return (await club_rows.get_by_subdomain(services.db, "club")).id


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan=st.sampled_from(list(CATALOGUE.plans)),
    active=st.integers(min_value=0, max_value=CATALOGUE.max_resources),
    extra=st.integers(min_value=0, max_value=CATALOGUE.max_resources),
    where=st.sampled_from(COUNTRIES),
    ends=st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2028, 12, 31)),
    lang=st.sampled_from(["fr", "en"]),
)
def test_stored_invoices_add_up_for_any_count_at_or_above_the_minimum(
    plan, active, extra, where, ends, lang
):
    minimum = minimum_resources(CATALOGUE, plan, active)
    count = min(minimum + extra, CATALOGUE.max_resources)
    if count < minimum:
        return  # activated count above the catalogue maximum: no valid renewal exists

    async def run():
        async with fresh_services(dt.date(2026, 11, 26)) as services:
            club_id = await add_club(
                services, plan=plan, active=active, ends=ends, country=where[0], vat=where[1]
            )
            issued = await invoices.issue_renewal(
                services, club_id=club_id, plan_id=plan, resources=count, actor="prop"
            )
            invoice = await invoice_rows.get(services.db, issued.invoice.id)
            assert sum(line.total_cents for line in invoice.lines) == invoice.ht_cents
            assert all(
                line.quantity * line.unit_cents == line.total_cents for line in invoice.lines
            )
            assert invoice.ht_cents + invoice.vat_cents == invoice.ttc_cents
            assert invoice.resources == count
            assert all(isinstance(v, int) for v in (invoice.ht_cents, invoice.vat_cents))
            items = checkout._line_items(services, invoice, lang)
            total = sum(i["quantity"] * i["price_data"]["unit_amount"] for i in items)
            assert total == invoice.ttc_cents
            assert (invoice.period_end - invoice.period_start).days in (364, 365)

    asyncio.run(run())


@dataclasses.dataclass
class Step:
    kind: str  # issue, replace, cancel, pay, next_year
    count: int


steps = st.lists(
    st.builds(
        Step,
        kind=st.sampled_from(["issue", "issue", "replace", "cancel", "pay", "next_period"]),
        count=st.integers(min_value=4, max_value=12),
    ),
    min_size=1,
    max_size=15,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps)
def test_numbers_stay_gapless_and_one_renewal_lives_per_period(steps):
    async def run():
        async with fresh_services(dt.date(2026, 11, 26)) as services:
            club_id = await add_club(
                services,
                plan="business",
                active=4,
                ends=dt.date(2026, 12, 16),
                country="FR",
                vat=None,
            )
            for step in steps:
                club = await club_rows.get(services.db, club_id)
                live = await invoice_rows.live_renewal(services.db, club_id, club.subscription_ends)
                if step.kind == "issue":
                    # Twice at once, as a double press would.
                    await asyncio.gather(
                        *(
                            invoices.issue_renewal(
                                services,
                                club_id=club_id,
                                plan_id="business",
                                resources=step.count,
                                actor="prop",
                            )
                            for _ in range(2)
                        )
                    )
                elif step.kind == "replace" and live is not None and live.is_open:
                    await invoices.issue_renewal(
                        services,
                        club_id=club_id,
                        plan_id="business",
                        resources=step.count,
                        actor="prop",
                        replace=live.id,
                    )
                elif step.kind == "cancel" and live is not None:
                    await invoices.cancel_invoice(services, live.id, actor="prop")
                elif step.kind == "pay" and live is not None:
                    await payments.record_payment(services, live.id, "cheque", "prop")
                elif step.kind == "next_period":
                    services.clock.advance(dt.timedelta(days=1))
            rows = await services.db.fetchall(
                "SELECT seq, year, status, renews_end FROM invoices ORDER BY seq"
            )
            for year in {row["year"] for row in rows}:
                seqs = [row["seq"] for row in rows if row["year"] == year]
                assert seqs == list(range(1, len(seqs) + 1))
            live_keys = [row["renews_end"] for row in rows if row["status"] != "cancelled"]
            assert len(live_keys) == len(set(live_keys))
            paid = await services.db.fetchval("SELECT count(*) FROM payments")
            assert paid == sum(1 for row in rows if row["status"] == "paid")

    asyncio.run(run())
