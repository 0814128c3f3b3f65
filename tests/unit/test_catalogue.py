"""The price catalogue: the shipped sample loads, bad files are refused naming the key, quotes are
hand-computed per plan and VAT regime, periods (lapsed or not, 29 February), money formatting."""

from __future__ import annotations

import datetime as dt
import itertools
import tomllib
from pathlib import Path

import pytest

from bot.catalogue import (
    EU_VAT_PATTERNS,
    CatalogueError,
    QuoteError,
    QuoteLine,
    VatRegime,
    add_one_year,
    format_cents,
    iban_is_valid,
    load_catalogue,
    minimum_resources,
    new_period,
    parse_catalogue,
    parse_resource_count,
    quote_intervention,
    quote_migration,
    quote_renewal,
    vat_regime,
)
from bot.clubs import parse_clubs_csv

DATA = Path(__file__).resolve().parents[2] / "bot" / "data"
SAMPLE = DATA / "catalogue.toml"
SAMPLE_TEXT = SAMPLE.read_text(encoding="utf-8")
TODAY = dt.date(2026, 11, 26)
D = dt.date


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(SAMPLE)


def renew(catalogue, plan_id, resources, country=None, vat_number=None, **kwargs):
    kwargs.setdefault("current_end", D(2026, 12, 16))
    kwargs.setdefault("today", TODAY)
    return quote_renewal(
        catalogue,
        plan_id=plan_id,
        resources=resources,
        country=country,
        vat_number=vat_number,
        **kwargs,
    )


# --- the shipped sample -----------------------------------------------------------------------


def test_the_sample_catalogue_loads_with_its_six_plans_in_file_order(catalogue):
    assert catalogue.sample is True
    assert catalogue.currency == "EUR"
    assert catalogue.vat_rate_percent == 20 and catalogue.vat_rate_bp == 2000
    assert catalogue.max_resources == 500
    assert catalogue.plan_change_allowed is True
    assert list(catalogue.plans) == [
        "first_price",
        "business",
        "business_plus",
        "premiere",
        "corporate",
        "solo",
    ]
    labels = {plan.id: plan.labels["fr"] for plan in catalogue.plans.values()}
    assert labels == {
        "first_price": "First Price",
        "business": "Business",
        "business_plus": "Business+",
        "premiere": "Première",
        "corporate": "Corporate",
        "solo": "SOLO",
    }
    assert all(plan.sample and plan.labels["en"] for plan in catalogue.plans.values())


def test_the_sample_says_it_is_a_sample_and_bills_first_price_interventions(catalogue):
    assert "SAMPLE" in SAMPLE_TEXT.splitlines()[0]
    first = catalogue.plans["first_price"]
    assert first.intervention_fee_cents == 3000 and first.migration_fee_cents == 5000
    others = [plan for plan in catalogue.plans.values() if plan.id != "first_price"]
    assert all(plan.intervention_fee_cents == 0 for plan in others)
    assert catalogue.plans["corporate"].min_resources == 10
    assert catalogue.plans["solo"].min_resources == 1
    tiers = [catalogue.plans[p] for p in ("first_price", "business", "business_plus", "premiere")]
    tiers.append(catalogue.plans["corporate"])
    for cheaper, dearer in itertools.pairwise(tiers):
        assert cheaper.base_fee_cents < dearer.base_fee_cents
        assert cheaper.per_resource_cents < dearer.per_resource_cents


def test_the_sample_payee_details(catalogue):
    assert catalogue.transfer.holder == "OPENFLYERS SAS (sample)"
    assert catalogue.transfer.iban == "FR76 3000 6000 0112 3456 7890 189"
    assert iban_is_valid(catalogue.transfer.iban)
    assert catalogue.transfer.bic == "AGRIFRPPXXX"
    assert catalogue.cheque.payee
    assert len(catalogue.cheque.address.splitlines()) >= 3


def test_labels_fall_back_to_french(catalogue):
    plan = catalogue.plans["premiere"]
    assert plan.label("en") == "Première" and plan.label("de") == "Première"


# --- bad files --------------------------------------------------------------------------------


def load_text(tmp_path, text: str):
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    return load_catalogue(path)


def edited(old: str, new: str, count: int = 1) -> str:
    assert old in SAMPLE_TEXT, old
    return SAMPLE_TEXT.replace(old, new, count)


BAD_FILES = [
    pytest.param(
        edited("per_resource_cents = 9000\n", ""),
        "plans.business.per_resource_cents: missing",
        id="missing-key",
    ),
    pytest.param(
        edited("base_fee_cents = 12000", "base_fee_cents = 12.5"),
        "plans.first_price.base_fee_cents: must be a non-negative integer number of cents, "
        "got 12.5",
        id="float-amount",
    ),
    pytest.param(
        edited("base_fee_cents = 12000", "base_fee_cents = 120.00"),
        "plans.first_price.base_fee_cents: must be a non-negative integer number of cents",
        id="float-looking-like-euros",
    ),
    pytest.param(
        edited("per_resource_cents = 4000", "per_resource_cents = -4000"),
        "plans.solo.per_resource_cents: must be a non-negative integer number of cents, got -4000",
        id="negative-amount",
    ),
    pytest.param(
        edited("intervention_fee_cents = 3000", 'intervention_fee_cents = "3000"'),
        "plans.first_price.intervention_fee_cents: must be a non-negative integer",
        id="amount-as-text",
    ),
    pytest.param(
        edited("intervention_fee_cents = 3000", "intervention_fee_cents = true"),
        "plans.first_price.intervention_fee_cents: must be a non-negative integer",
        id="amount-as-boolean",
    ),
    pytest.param(
        edited("7890 189", "7890 188"),
        "transfer.iban: 'FR7630006000011234567890188' fails the IBAN mod-97 checksum",
        id="bad-iban-checksum",
    ),
    pytest.param(edited('iban = "FR76', 'iban = "76FR'), "transfer.iban: ", id="iban-not-shaped"),
    pytest.param(edited('bic = "AGRIFRPPXXX"', 'bic = "AGRI"'), "transfer.bic: ", id="bad-bic"),
    pytest.param(
        edited('labels = { fr = "Business", en = "Business" }', 'labels = { fr = "Business" }'),
        "plans.business.labels.en: missing",
        id="missing-en-label",
    ),
    pytest.param(
        edited('labels = { fr = "SOLO", en = "SOLO" }', 'labels = { fr = "SOLO", en = " " }'),
        "plans.solo.labels.en: must be a non-empty text",
        id="blank-en-label",
    ),
    pytest.param(
        edited('id = "solo"', 'id = "business"'),
        "plans[5].id: duplicate plan id 'business'",
        id="duplicate-id",
    ),
    pytest.param(
        edited('id = "business_plus"', 'id = "Business+"'),
        "plans[2].id: 'Business+' must match",
        id="invalid-id",
    ),
    pytest.param(edited('id = "solo"\n', ""), "plans[5].id: missing", id="missing-id"),
    pytest.param(
        edited('currency = "EUR"', 'currency = "USD"'),
        "currency: only EUR is supported",
        id="currency",
    ),
    pytest.param(
        edited("vat_rate_percent = 20", "vat_rate_percent = 20.0"),
        "vat_rate_percent: must be a whole percentage",
        id="vat-float",
    ),
    pytest.param(
        edited("vat_rate_percent = 20\n", ""), "vat_rate_percent: missing", id="vat-missing"
    ),
    pytest.param(
        edited("max_resources = 500", "max_resources = 0"),
        "max_resources: must be a whole number ≥ 1",
        id="max-zero",
    ),
    pytest.param(
        edited("min_resources = 10", "min_resources = 600"),
        "plans.corporate.min_resources: 600 is above max_resources (500)",
        id="min-above-max",
    ),
    pytest.param(
        edited("min_resources = 10", "min_resources = 0"),
        "plans.corporate.min_resources: must be a whole number ≥ 1, got 0",
        id="min-zero",
    ),
    pytest.param(
        edited("min_resources = 10", "min_resource = 12"),
        "plans.corporate.min_resource: unknown key",
        id="misspelt-key",
    ),
    pytest.param(
        edited("sample = true", 'sample = "yes"'),
        "sample: must be true or false",
        id="sample-not-boolean",
    ),
    pytest.param(
        edited("plan_change_allowed = true", "plan_change_allowed = 1"),
        "plan_change_allowed: must be true or false",
        id="plan-change-not-boolean",
    ),
    pytest.param(
        SAMPLE_TEXT[: SAMPLE_TEXT.index("\n[transfer]")], "transfer: missing", id="no-transfer"
    ),
    pytest.param(
        SAMPLE_TEXT[: SAMPLE_TEXT.index("address =")], "cheque.address: missing", id="no-address"
    ),
    pytest.param(
        SAMPLE_TEXT[: SAMPLE_TEXT.index("\n[[plans]]")]
        + SAMPLE_TEXT[SAMPLE_TEXT.index("\n[transfer]") :],
        "plans: missing",
        id="no-plans",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_a_bad_catalogue_is_refused_naming_the_key(tmp_path, text, message):
    with pytest.raises(CatalogueError) as caught:
        load_text(tmp_path, text)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)  # start-up prints exactly one line


def test_the_exact_float_message_of_the_brief(tmp_path):
    with pytest.raises(CatalogueError) as caught:
        load_text(tmp_path, edited("base_fee_cents = 12000", "base_fee_cents = 12.5"))
    assert str(caught.value) == (
        "plans.first_price.base_fee_cents: must be a non-negative integer number of cents, got 12.5"
    )
    assert caught.value.key == "plans.first_price.base_fee_cents"


def test_a_file_that_is_not_toml_or_not_there(tmp_path):
    with pytest.raises(CatalogueError, match="not valid TOML"):
        load_text(tmp_path, "currency = EUR\n")
    with pytest.raises(CatalogueError, match="cannot be read"):
        load_catalogue(tmp_path / "absent.toml")


def test_optional_keys_take_their_defaults(tmp_path):
    text = edited("sample = true\n", "")
    text = text.replace("plan_change_allowed = true\n", "")
    text = text.replace("migration_fee_cents = 0\n", "").replace("min_resources = 1\n", "")
    loaded = load_text(tmp_path, text)
    assert loaded.sample is False and loaded.plan_change_allowed is True
    assert loaded.plans["business"].migration_fee_cents == 0
    assert loaded.plans["business"].min_resources == 1
    assert not any(plan.sample for plan in loaded.plans.values())


def test_iban_and_bic_are_normalised(tmp_path):
    text = edited(
        'iban = "FR76 3000 6000 0112 3456 7890 189"', 'iban = "fr7630006000011234567890189"'
    )
    loaded = load_text(tmp_path, text.replace('bic = "AGRIFRPPXXX"', 'bic = "agri frpp"'))
    assert loaded.transfer.iban == "FR76 3000 6000 0112 3456 7890 189"
    assert loaded.transfer.bic == "AGRIFRPP"


def test_iban_checksum():
    assert iban_is_valid("DE89 3704 0044 0532 0130 00")
    assert iban_is_valid("BE68539007547034")
    assert not iban_is_valid("DE89 3704 0044 0532 0130 01")
    assert not iban_is_valid("FR76")


# --- quotes: one hand-computed case per plan, French VAT -------------------------------------

PER_PLAN = [
    # plan, resources, base, per resource, HT, VAT 20 %, TTC
    ("first_price", 2, 12000, 6000, 24000, 4800, 28800),
    ("business", 4, 24000, 9000, 60000, 12000, 72000),
    ("business_plus", 6, 36000, 11000, 102000, 20400, 122400),
    ("premiere", 8, 48000, 13000, 152000, 30400, 182400),
    ("corporate", 25, 90000, 15000, 465000, 93000, 558000),
    ("solo", 1, 6000, 4000, 10000, 2000, 12000),
]


@pytest.mark.parametrize(("plan", "count", "base", "unit", "ht", "vat", "ttc"), PER_PLAN)
def test_quote_for_each_plan_with_french_vat(catalogue, plan, count, base, unit, ht, vat, ttc):
    quote = renew(catalogue, plan, count, country="FR")
    assert quote.plan_id == plan and quote.resources == count
    assert quote.lines == (
        QuoteLine("base", 1, base, base),
        QuoteLine("resources", count, unit, count * unit),
    )
    assert (quote.ht_cents, quote.vat_cents, quote.ttc_cents) == (ht, vat, ttc)
    assert quote.vat_rate_bp == 2000
    assert quote.vat_regime == VatRegime.FR == "fr"
    assert quote.vat_exempt is False


def test_no_country_means_france(catalogue):
    for country in (None, "", " fr "):
        assert renew(catalogue, "business", 4, country=country).vat_cents == 12000


def test_belgian_club_with_a_vat_number_pays_no_vat(catalogue):
    quote = renew(catalogue, "business", 5, country="BE", vat_number="BE0123456749")
    assert (quote.ht_cents, quote.vat_cents, quote.ttc_cents) == (69000, 0, 69000)
    assert quote.vat_regime == VatRegime.EU_REVERSE_CHARGE and quote.vat_rate_bp == 0
    assert quote.vat_exempt is True


def test_german_club_without_a_vat_number_pays_french_vat(catalogue):
    quote = renew(catalogue, "business", 3, country="DE", vat_number=None)
    assert (quote.ht_cents, quote.vat_cents, quote.ttc_cents) == (51000, 10200, 61200)
    assert quote.vat_regime == VatRegime.EU_NO_NUMBER and quote.vat_exempt is False


def test_swiss_club_is_outside_the_eu_and_pays_no_vat(catalogue):
    quote = renew(catalogue, "business", 4, country="CH", vat_number="CHE-123.456.789")
    assert (quote.ht_cents, quote.vat_cents, quote.ttc_cents) == (60000, 0, 60000)
    assert quote.vat_regime == VatRegime.NON_EU and quote.vat_exempt is True


@pytest.mark.parametrize(
    ("country", "number", "regime"),
    [
        ("BE", "BE 0123.456.749", "eu_reverse_charge"),
        ("be", "be0123456749", "eu_reverse_charge"),
        ("BE", "0123456749", "eu_no_number"),  # the prefix is part of the number
        ("BE", "DE123456789", "eu_no_number"),  # another state's number
        ("BE", "BE2123456789", "eu_no_number"),
        ("GR", "EL123456789", "eu_reverse_charge"),  # Greece: country GR, VAT prefix EL
        ("GR", "GR123456789", "eu_no_number"),
        ("EL", "EL123456789", "eu_reverse_charge"),
        ("DE", "DE123456789", "eu_reverse_charge"),
        ("DE", "DE12345678", "eu_no_number"),
        ("AT", "ATU12345678", "eu_reverse_charge"),
        ("NL", "NL123456789B01", "eu_reverse_charge"),
        ("IE", "IE1234567T", "eu_reverse_charge"),
        ("IE", "IE1234567WA", "eu_reverse_charge"),
        ("ES", "ESX1234567L", "eu_reverse_charge"),
        ("SE", "SE123456789001", "eu_reverse_charge"),
        ("SE", "SE123456789012", "eu_no_number"),
        ("IT", "", "eu_no_number"),
        ("FR", "FR12345678901", "fr"),
        ("MC", None, "fr"),  # Monaco is in the French VAT territory
        ("GB", "GB123456789", "non_eu"),
        ("US", None, "non_eu"),
    ],
)
def test_vat_regime(country, number, regime):
    assert vat_regime(country, number) == regime


def test_every_eu_state_but_france_has_a_vat_pattern():
    assert (
        len(EU_VAT_PATTERNS) == 26 and "FR" not in EU_VAT_PATTERNS and "GR" not in EU_VAT_PATTERNS
    )


def load_catalogue_table(path) -> dict:
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def test_vat_is_computed_once_on_the_total_and_rounded_half_up():
    data = {
        "currency": "EUR",
        "vat_rate_percent": 5,
        "max_resources": 100,
        "plans": [
            {
                "id": "tiny",
                "labels": {"fr": "Tiny", "en": "Tiny"},
                "base_fee_cents": 3,
                "per_resource_cents": 7,
                "intervention_fee_cents": 10,
            }
        ],
        "transfer": {"holder": "X", "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP"},
        "cheque": {"payee": "X", "address": "1 rue X\n75000 Paris"},
        "seller": load_catalogue_table(SAMPLE)["seller"],
    }
    tiny = parse_catalogue(data)
    # 3 + 7 = 10 cents HT; 5 % = 0.5 cent exactly → rounds up to 1.
    quote = renew(tiny, "tiny", 1)
    assert (quote.ht_cents, quote.vat_cents, quote.ttc_cents) == (10, 1, 11)
    # 3 + 2 × 7 = 17 cents; 0.85 → 1. Per line it would have been 0 + 1 (0.15 and 0.7).
    assert renew(tiny, "tiny", 2).vat_cents == 1
    # 3 + 4 × 7 = 31 cents; 1.55 → 2.
    assert renew(tiny, "tiny", 4).vat_cents == 2
    # 3 + 5 × 7 = 38 cents; 1.9 → 2. 3 + 3 × 7 = 24 cents; 1.2 → 1.
    assert renew(tiny, "tiny", 5).vat_cents == 2 and renew(tiny, "tiny", 3).vat_cents == 1


def test_quotes_are_deterministic(catalogue):
    assert renew(catalogue, "premiere", 9) == renew(catalogue, "premiere", 9)


# --- counts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "count", "reason"),
    [
        ("business", 0, "not_positive"),
        ("business", -3, "not_positive"),
        ("business", "4", "not_a_number"),
        ("business", 4.0, "not_a_number"),
        ("business", True, "not_a_number"),
        ("business", None, "not_a_number"),
        ("business_plus", 2, "below_minimum"),
        ("corporate", 9, "below_minimum"),
        ("business", 501, "above_maximum"),
        ("business", 10**9, "above_maximum"),
        ("gold", 4, "unknown_plan"),
    ],
)
def test_counts_out_of_range_are_refused_with_a_reason(catalogue, plan, count, reason):
    with pytest.raises(QuoteError) as caught:
        renew(catalogue, plan, count)
    assert caught.value.reason == reason


def test_refusal_carries_the_bounds_for_the_reply(catalogue):
    with pytest.raises(QuoteError) as caught:
        renew(catalogue, "corporate", 9)
    assert (caught.value.minimum, caught.value.maximum) == (10, 500)


def test_the_activated_resources_are_a_floor(catalogue):
    assert minimum_resources(catalogue, "business", 4) == 4
    assert minimum_resources(catalogue, "business", 0) == 1
    assert minimum_resources(catalogue, "corporate", 4) == 10
    assert minimum_resources(catalogue, "corporate", 25) == 25
    with pytest.raises(QuoteError) as caught:
        renew(catalogue, "business", 3, active_resources=4)
    assert caught.value.reason == "below_minimum" and caught.value.minimum == 4
    assert renew(catalogue, "business", 4, active_resources=4).resources == 4
    assert renew(catalogue, "business", 500).resources == 500


@pytest.mark.parametrize(
    ("text", "value"), [("12", 12), (" 7 ", 7), ("1 000", 1000), ("0", 0), ("-2", -2)]
)
def test_typed_counts(text, value):
    assert parse_resource_count(text) == value


@pytest.mark.parametrize("text", ["", "douze", "3.5", "3,5", "1e3", "½", "9999999999", "12 avions"])
def test_typed_non_numbers(text):
    with pytest.raises(QuoteError) as caught:
        parse_resource_count(text)
    assert caught.value.reason == "not_a_number"


# --- new period ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current_end", "today", "start", "end"),
    [
        # not lapsed: from the day after the current end, one year on
        (D(2026, 12, 16), TODAY, D(2026, 12, 17), D(2027, 12, 16)),
        # ends today: still not lapsed
        (TODAY, TODAY, D(2026, 11, 27), D(2027, 11, 26)),
        # lapsed 7 days ago: one year from today
        (D(2026, 11, 19), TODAY, TODAY, D(2027, 11, 25)),
        # 29 February end → 28 February next year
        (D(2028, 2, 29), D(2028, 2, 1), D(2028, 3, 1), D(2029, 2, 28)),
        # lapsed and renewed on 29 February: a year is up to 28 February
        (D(2028, 1, 31), D(2028, 2, 29), D(2028, 2, 29), D(2029, 2, 28)),
        # lapsed, renewed on 1 March before a leap year: the year takes in 29 February
        (D(2027, 2, 1), D(2027, 3, 1), D(2027, 3, 1), D(2028, 2, 29)),
        # end of year
        (D(2026, 12, 31), D(2026, 12, 1), D(2027, 1, 1), D(2027, 12, 31)),
    ],
)
def test_new_period(catalogue, current_end, today, start, end):
    assert new_period(current_end, today) == (start, end)
    quote = renew(catalogue, "business", 4, current_end=current_end, today=today)
    assert (quote.period_start, quote.period_end) == (start, end)


def test_add_one_year():
    assert add_one_year(D(2026, 11, 26)) == D(2027, 11, 26)
    assert add_one_year(D(2028, 2, 29)) == D(2029, 2, 28)
    assert add_one_year(D(2027, 2, 28)) == D(2028, 2, 28)


# --- one-off fees -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["password_reset", "email_update"])
def test_first_price_pays_for_a_manual_intervention(catalogue, kind):
    quote = quote_intervention(
        catalogue, plan_id="first_price", kind=kind, country="FR", vat_number=None
    )
    assert quote.lines == (QuoteLine("intervention", 1, 3000, 3000),)
    assert (quote.ht_cents, quote.vat_cents, quote.ttc_cents) == (3000, 600, 3600)
    assert quote.resources is None and quote.period_start is None and quote.period_end is None


@pytest.mark.parametrize("plan", ["business", "business_plus", "premiere", "corporate", "solo"])
def test_other_plans_get_interventions_free(catalogue, plan):
    assert (
        quote_intervention(
            catalogue, plan_id=plan, kind="password_reset", country=None, vat_number=None
        )
        is None
    )


def test_intervention_follows_the_vat_regime_and_refuses_unknown_kinds(catalogue):
    quote = quote_intervention(
        catalogue,
        plan_id="first_price",
        kind="email_update",
        country="BE",
        vat_number="BE0123456749",
    )
    assert (quote.ht_cents, quote.vat_cents, quote.ttc_cents) == (3000, 0, 3000)
    assert quote.vat_regime == VatRegime.EU_REVERSE_CHARGE
    with pytest.raises(QuoteError) as caught:
        quote_intervention(
            catalogue, plan_id="first_price", kind="haircut", country=None, vat_number=None
        )
    assert caught.value.reason == "unknown_intervention"


def test_version_migration_is_billed_50_euros_on_first_price_only(catalogue):
    quote = quote_migration(catalogue, plan_id="first_price", country="FR", vat_number=None)
    assert quote.lines == (QuoteLine("migration", 1, 5000, 5000),)
    assert (quote.ht_cents, quote.vat_cents, quote.ttc_cents) == (5000, 1000, 6000)
    assert quote_migration(catalogue, plan_id="business", country="FR", vat_number=None) is None


# --- money ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "fr", "en"),
    [
        (123456, "1\u202f234,56\u00a0€", "€1,234.56"),
        (5, "0,05\u00a0€", "€0.05"),
        (0, "0,00\u00a0€", "€0.00"),
        (12000, "120,00\u00a0€", "€120.00"),
        (123456789, "1\u202f234\u202f567,89\u00a0€", "€1,234,567.89"),
        (-150, "-1,50\u00a0€", "-€1.50"),
    ],
)
def test_format_cents(cents, fr, en):
    assert format_cents(cents, "fr") == fr
    assert format_cents(cents, "en") == en


@pytest.mark.parametrize("bad", [12.5, True, "100"])
def test_format_cents_refuses_anything_but_integers(bad):
    with pytest.raises(TypeError):
        format_cents(bad, "fr")


# --- the shipped sample clubs ------------------------------------------------------------


def test_the_sample_clubs_import_and_cover_every_plan_and_reminder_milestone(catalogue):
    clubs = parse_clubs_csv((DATA / "clubs.csv").read_text(encoding="utf-8"), set(catalogue.plans))
    by_subdomain = {club["subdomain"]: club for club in clubs}
    assert {club["plan"] for club in clubs} == set(catalogue.plans)
    days = {
        (D.fromisoformat(club["subscription_ends"]) - TODAY).days: sub
        for sub, club in by_subdomain.items()
    }
    assert {30, 15, 7, 1, 0, -7} <= set(days)
    mermoz = by_subdomain["mermoz"]
    assert mermoz["name"] == "Aéroclub Jean Mermoz" and mermoz["plan"] == "business"
    assert any(c["structure_email"] == c["contact_email"] for c in clubs)
    assert {"lesailes", "lesaile"} <= set(by_subdomain)
    for club in clubs:
        # every sample club can renew at its activated count
        minimum = minimum_resources(catalogue, club["plan"], club["active_resources"])
        assert minimum == club["active_resources"], club["subdomain"]
    regimes = {vat_regime(c["country"], c["vat_number"]) for c in clubs}
    assert regimes == set(VatRegime)
