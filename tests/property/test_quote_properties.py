"""Quote invariants under hypothesis: integer cents, lines sum to HT, HT + VAT = TTC, VAT within half
a cent of the exact rate, counts outside [minimum, maximum] refused, periods one year long."""

from __future__ import annotations

import datetime as dt
import tomllib
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.catalogue import (
    QuoteError,
    VatRegime,
    load_catalogue,
    minimum_resources,
    parse_catalogue,
    quote_renewal,
)

SAMPLE_PATH = Path(__file__).resolve().parents[2] / "bot" / "data" / "catalogue.toml"
SAMPLE = load_catalogue(SAMPLE_PATH)
SELLER = tomllib.loads(SAMPLE_PATH.read_text(encoding="utf-8"))["seller"]

countries = st.sampled_from([None, "", "FR", "MC", "BE", "DE", "GR", "IE", "CH", "US", "GB"])
vat_numbers = st.sampled_from([None, "", "BE0123456749", "EL123456789", "DE123456789", "junk"])
dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))


@st.composite
def catalogues(draw):
    """The sample, or a random catalogue whose prices and rate make rounding happen."""
    if draw(st.booleans()):
        return SAMPLE
    cents = st.integers(min_value=0, max_value=10_000_000)
    max_resources = draw(st.integers(min_value=1, max_value=1000))
    plans = [
        {
            "id": f"plan_{index}",
            "labels": {"fr": f"Plan {index}", "en": f"Plan {index}"},
            "base_fee_cents": draw(cents),
            "per_resource_cents": draw(cents),
            "intervention_fee_cents": draw(cents),
            "min_resources": draw(st.integers(min_value=1, max_value=max_resources)),
        }
        for index in range(draw(st.integers(min_value=1, max_value=3)))
    ]
    return parse_catalogue(
        {
            "currency": "EUR",
            "vat_rate_percent": draw(st.integers(min_value=0, max_value=100)),
            "max_resources": max_resources,
            "plans": plans,
            "transfer": {"holder": "X", "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP"},
            "cheque": {"payee": "X", "address": "1 rue X"},
            "seller": SELLER,
        }
    )


@st.composite
def requests(draw, inside: bool = True):
    catalogue = draw(catalogues())
    plan_id = draw(st.sampled_from(list(catalogue.plans)))
    active = draw(st.integers(min_value=0, max_value=catalogue.max_resources))
    minimum = minimum_resources(catalogue, plan_id, active)
    if inside:
        count = draw(st.integers(min_value=minimum, max_value=catalogue.max_resources))
    else:
        count = draw(
            st.integers(max_value=minimum - 1) | st.integers(min_value=catalogue.max_resources + 1)
        )
    return catalogue, plan_id, active, count


def quote(catalogue, plan_id, active, count, country, vat_number, current_end, today):
    return quote_renewal(
        catalogue,
        plan_id=plan_id,
        resources=count,
        country=country,
        vat_number=vat_number,
        current_end=current_end,
        today=today,
        active_resources=active,
    )


@given(requests(), countries, vat_numbers, dates, dates)
def test_quote_totals_are_exact_integers(request, country, vat_number, current_end, today):
    catalogue, plan_id, active, count = request
    q = quote(catalogue, plan_id, active, count, country, vat_number, current_end, today)
    amounts = [q.ht_cents, q.vat_cents, q.ttc_cents, q.vat_rate_bp]
    amounts += [v for line in q.lines for v in (line.quantity, line.unit_cents, line.total_cents)]
    assert all(type(value) is int for value in amounts)
    assert all(line.quantity * line.unit_cents == line.total_cents for line in q.lines)
    assert sum(line.total_cents for line in q.lines) == q.ht_cents
    assert q.ht_cents + q.vat_cents == q.ttc_cents
    exact = Fraction(q.ht_cents * q.vat_rate_bp, 10000)
    assert abs(q.vat_cents - exact) <= Fraction(1, 2)
    # half up: an exact half cent goes to the cent above
    if exact.denominator == 2:
        assert q.vat_cents == exact + Fraction(1, 2)
    plan = catalogue.plans[plan_id]
    assert q.ht_cents == plan.base_fee_cents + count * plan.per_resource_cents
    if q.vat_regime in (VatRegime.FR, VatRegime.EU_NO_NUMBER):
        assert q.vat_rate_bp == catalogue.vat_rate_bp
    else:
        assert q.vat_rate_bp == 0 and q.vat_cents == 0 and q.vat_exempt


@given(requests(inside=False), countries, vat_numbers, dates)
def test_counts_outside_the_range_are_refused(request, country, vat_number, today):
    catalogue, plan_id, active, count = request
    with pytest.raises(QuoteError) as caught:
        quote(catalogue, plan_id, active, count, country, vat_number, today, today)
    assert caught.value.reason in ("not_positive", "below_minimum", "above_maximum")
    assert caught.value.minimum == minimum_resources(catalogue, plan_id, active)
    assert caught.value.maximum == catalogue.max_resources


@given(dates, dates)
def test_the_new_period_is_one_year_and_follows_on(current_end, today):
    q = quote(SAMPLE, "business", 0, 1, None, None, current_end, today)
    assert 365 <= (q.period_end - q.period_start).days + 1 <= 366
    if current_end >= today:
        assert q.period_start == current_end + dt.timedelta(days=1)
    else:
        assert q.period_start == today
