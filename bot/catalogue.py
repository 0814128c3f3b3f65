"""The price catalogue (TOML, SPEC §2) and the quote rules: plans, VAT regime, new period, payees.
Pure Python and integer cents only: no Telegram, no database, no floats."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

PLAN_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
BIC_RE = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?$")
IBAN_RE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
LANGS = ("fr", "en")
CENTS = "a non-negative integer number of cents"

TOP_KEYS = {
    "sample",
    "currency",
    "vat_rate_percent",
    "max_resources",
    "plan_change_allowed",
    "plans",
    "transfer",
    "cheque",
    "seller",
    "customer_account_url",
}
SELLER_KEYS = {
    "legal_name",
    "legal_form",
    "address",
    "country",
    "siren",
    "siret",
    "rcs",
    "share_capital_cents",
    "vat_number",
    "payment_terms_days",
    "late_penalty_rate_bp",
}
SIREN_RE = re.compile(r"^\d{9}$")
SIRET_RE = re.compile(r"^\d{14}$")
# Code de commerce L441-10 I: payment within 30 days by default, never more than 60 days.
MAX_PAYMENT_TERMS_DAYS = 60
# Where a club logs into its OpenFlyers customer account (and finds « Mot de passe oublié ? »).
# OpenFlyers' documentation sends clients to "the customer account" from its site openflyers.com
# without publishing the login page's exact address: the site itself is the default, and an
# operator who knows the exact page sets `customer_account_url` in the catalogue.
DEFAULT_CUSTOMER_ACCOUNT_URL = "https://openflyers.com/"
PLAN_KEYS = {
    "id",
    "labels",
    "base_fee_cents",
    "per_resource_cents",
    "intervention_fee_cents",
    "migration_fee_cents",
    "min_resources",
}

# The 26 EU member states other than France: VAT-number prefix → offline format of what follows.
# A format check only (no VIES call): a well-formed number is enough to invoice without VAT.
EU_VAT_PATTERNS = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
    "FI": r"\d{8}",
    "HR": r"\d{11}",
    "HU": r"\d{8}",
    "IE": r"\d{7}[A-W][A-I]?|\d[A-Z+*]\d{5}[A-W]",
    "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"\d{2,10}",
    "SE": r"\d{10}01",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
}
# Greece is GR in ISO 3166 but EL on VAT numbers.
VAT_PREFIX_OF_COUNTRY = {"GR": "EL", "EL": "EL"}
# Monaco belongs to the French VAT territory: its clubs pay French VAT like French ones.
FRENCH_VAT_TERRITORY = {"FR", "MC"}


class CatalogueError(Exception):
    """The catalogue file is unusable. str() is one line: `key.path: reason`."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class QuoteError(Exception):
    """A quote refused. `reason` is a code the handlers turn into words:
    unknown_plan, unknown_intervention, not_a_number, not_positive, below_minimum, above_maximum."""

    def __init__(self, reason: str, *, minimum: int | None = None, maximum: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.minimum = minimum
        self.maximum = maximum


class VatRegime(StrEnum):
    """How VAT applies to a club; templates key the legal mention on it."""

    FR = "fr"  # France (or Monaco, or unknown country): French VAT
    EU_REVERSE_CHARGE = "eu_reverse_charge"  # EU + well-formed VAT number: no VAT, reverse charge
    EU_NO_NUMBER = "eu_no_number"  # EU without a usable VAT number: French VAT applies
    NON_EU = "non_eu"  # outside the EU: no VAT, export of services


@dataclass(frozen=True)
class Plan:
    id: str
    labels: dict[str, str]
    base_fee_cents: int
    per_resource_cents: int
    intervention_fee_cents: int  # manual password reset / e-mail update by staff; 0 = free
    migration_fee_cents: int  # version migration; 0 = free
    min_resources: int = 1
    sample: bool = False

    def label(self, lang: str) -> str:
        return self.labels.get(lang) or self.labels["fr"]


@dataclass(frozen=True)
class TransferDetails:
    holder: str
    iban: str  # grouped by four for display: "FR76 3000 6000 …"
    bic: str


@dataclass(frozen=True)
class ChequeDetails:
    payee: str
    address: str  # several lines joined by "\n"


@dataclass(frozen=True)
class Seller:
    """Who issues the invoices, with the identity French law asks every invoice to show
    (Code de commerce R123-237, CGI art. 242 nonies A) and the payment terms (L441-10)."""

    legal_name: str
    legal_form: str  # "SAS", "SARL"…
    address: str  # several lines joined by "\n", the last one being the town
    country: str  # ISO 3166-1 alpha-2
    siren: str  # 9 digits
    siret: str  # 14 digits: SIREN + the establishment's NIC
    rcs: str  # "RCS Toulouse 123 456 789"
    share_capital_cents: int
    vat_number: str  # intra-EU VAT number, "FR" + 2 check digits + SIREN
    payment_terms_days: int  # due date = issue date + this many days
    late_penalty_rate_bp: int  # yearly late-payment penalty rate, basis points (1000 = 10 %)


@dataclass(frozen=True)
class Catalogue:
    currency: str
    vat_rate_percent: int
    plans: dict[str, Plan]  # in file order
    max_resources: int
    plan_change_allowed: bool
    transfer: TransferDetails
    cheque: ChequeDetails
    sample: bool
    seller: Seller
    customer_account_url: str = DEFAULT_CUSTOMER_ACCOUNT_URL  # https://…, shown in password help

    @property
    def vat_rate_bp(self) -> int:
        return self.vat_rate_percent * 100


@dataclass(frozen=True)
class QuoteLine:
    kind: str  # "base", "resources", "intervention", "migration"
    quantity: int
    unit_cents: int
    total_cents: int


@dataclass(frozen=True)
class Quote:
    plan_id: str
    resources: int | None  # None for a one-off fee (intervention, migration)
    lines: tuple[QuoteLine, ...]
    ht_cents: int
    vat_rate_bp: int  # the rate applied: 2000 for 20 %, 0 when no VAT is due
    vat_cents: int
    ttc_cents: int
    vat_regime: VatRegime
    period_start: dt.date | None
    period_end: dt.date | None

    @property
    def vat_exempt(self) -> bool:
        """True when the invoice carries no VAT and needs a legal mention saying why."""
        return self.vat_regime in (VatRegime.EU_REVERSE_CHARGE, VatRegime.NON_EU)


# --- loading ---------------------------------------------------------------------------------


def iban_is_valid(iban: str) -> bool:
    """ISO 13616: shape, then the mod-97 check over the rearranged, letters-as-numbers string."""
    compact = re.sub(r"\s+", "", iban).upper()
    if not IBAN_RE.match(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _is_int(value: object) -> bool:
    # TOML booleans are Python bools, which are ints: true must not pass for 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _require(table: dict, key: str, path: str) -> Any:
    if key not in table:
        raise CatalogueError(path + key, "missing (required)")
    return table[key]


def _table(table: dict, key: str, path: str) -> dict:
    value = _require(table, key, path)
    if not isinstance(value, dict):
        raise CatalogueError(path + key, f"must be a table, got {value!r}")
    return value


def _cents(table: dict, key: str, path: str, default: int | None = None) -> int:
    value = _require(table, key, path) if default is None else table.get(key, default)
    if not _is_int(value) or value < 0:
        raise CatalogueError(path + key, f"must be {CENTS}, got {value!r}")
    return value


def _count(table: dict, key: str, path: str, default: int | None = None) -> int:
    value = _require(table, key, path) if default is None else table.get(key, default)
    if not _is_int(value) or value < 1:
        raise CatalogueError(path + key, f"must be a whole number ≥ 1, got {value!r}")
    return value


def _flag(table: dict, key: str, path: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise CatalogueError(path + key, f"must be true or false, got {value!r}")
    return value


def _text(table: dict, key: str, path: str) -> str:
    value = _require(table, key, path)
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(path + key, f"must be a non-empty text, got {value!r}")
    return value.strip()


def _no_unknown_keys(table: dict, allowed: set[str], path: str) -> None:
    # A misspelt optional key (min_resource) would otherwise be ignored without a word.
    for key in table:
        if key not in allowed:
            raise CatalogueError(
                path + key, f"unknown key (expected one of {', '.join(sorted(allowed))})"
            )


def _parse_plan(raw: object, index: int, max_resources: int, sample: bool) -> Plan:
    if not isinstance(raw, dict):
        raise CatalogueError(f"plans[{index}]", "must be a [[plans]] table")
    plan_id = _text(raw, "id", f"plans[{index}].")
    if not PLAN_ID_RE.match(plan_id):
        raise CatalogueError(
            f"plans[{index}].id", f"{plan_id!r} must match ^[a-z][a-z0-9_]*$ (e.g. business_plus)"
        )
    path = f"plans.{plan_id}."
    _no_unknown_keys(raw, PLAN_KEYS, path)
    labels = _table(raw, "labels", path)
    # fr and en are required; a further language is kept when it is a proper label too.
    checked = {lang: _text(labels, lang, f"{path}labels.") for lang in LANGS}
    for lang in labels:
        checked.setdefault(lang, _text(labels, lang, f"{path}labels."))
    minimum = _count(raw, "min_resources", path, default=1)
    if minimum > max_resources:
        raise CatalogueError(
            f"{path}min_resources", f"{minimum} is above max_resources ({max_resources})"
        )
    return Plan(
        id=plan_id,
        labels=checked,
        base_fee_cents=_cents(raw, "base_fee_cents", path),
        per_resource_cents=_cents(raw, "per_resource_cents", path),
        intervention_fee_cents=_cents(raw, "intervention_fee_cents", path),
        migration_fee_cents=_cents(raw, "migration_fee_cents", path, default=0),
        min_resources=minimum,
        sample=sample,
    )


def _parse_transfer(data: dict) -> TransferDetails:
    transfer = _table(data, "transfer", "")
    _no_unknown_keys(transfer, {"holder", "iban", "bic"}, "transfer.")
    iban = re.sub(r"\s+", "", _text(transfer, "iban", "transfer.")).upper()
    if not IBAN_RE.match(iban):
        raise CatalogueError("transfer.iban", f"{iban!r} is not shaped like an IBAN")
    if not iban_is_valid(iban):
        raise CatalogueError("transfer.iban", f"{iban!r} fails the IBAN mod-97 checksum")
    bic = re.sub(r"\s+", "", _text(transfer, "bic", "transfer.")).upper()
    if not BIC_RE.match(bic):
        raise CatalogueError("transfer.bic", f"{bic!r} is not a BIC (8 or 11 letters and digits)")
    grouped = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return TransferDetails(holder=_text(transfer, "holder", "transfer."), iban=grouped, bic=bic)


def _parse_cheque(data: dict) -> ChequeDetails:
    cheque = _table(data, "cheque", "")
    _no_unknown_keys(cheque, {"payee", "address"}, "cheque.")
    address = _text(cheque, "address", "cheque.")
    lines = [line.strip() for line in address.splitlines() if line.strip()]
    return ChequeDetails(payee=_text(cheque, "payee", "cheque."), address="\n".join(lines))


def luhn_is_valid(digits: str) -> bool:
    """The Luhn check INSEE puts on SIREN and SIRET numbers (every second digit from the right
    doubled, the digit sum a multiple of 10)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def french_vat_number(siren: str) -> str:
    """The French intra-EU VAT number of a SIREN: FR + key + SIREN, key = (12 + 3 × (SIREN mod
    97)) mod 97 (CGI annexe IV, art. 1 of the key's computation as the DGFiP publishes it)."""
    key = (12 + 3 * (int(siren) % 97)) % 97
    return f"FR{key:02d}{siren}"


def _parse_seller(data: dict) -> Seller:
    seller = _table(data, "seller", "")
    _no_unknown_keys(seller, SELLER_KEYS, "seller.")
    siren = re.sub(r"\s+", "", _text(seller, "siren", "seller."))
    if not SIREN_RE.match(siren) or not luhn_is_valid(siren):
        raise CatalogueError("seller.siren", f"{siren!r} is not 9 digits passing the Luhn check")
    siret = re.sub(r"\s+", "", _text(seller, "siret", "seller."))
    if not SIRET_RE.match(siret) or not siret.startswith(siren) or not luhn_is_valid(siret):
        raise CatalogueError(
            "seller.siret",
            f"{siret!r} is not 14 digits starting with the SIREN and passing the Luhn check",
        )
    vat = re.sub(r"\s+", "", _text(seller, "vat_number", "seller.")).upper()
    if vat != french_vat_number(siren):
        raise CatalogueError(
            "seller.vat_number",
            f"{vat!r} is not the VAT number of SIREN {siren} ({french_vat_number(siren)})",
        )
    country = _text(seller, "country", "seller.").upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise CatalogueError("seller.country", f"{country!r} is not an ISO 3166 alpha-2 code")
    terms = _count(seller, "payment_terms_days", "seller.")
    if terms > MAX_PAYMENT_TERMS_DAYS:
        raise CatalogueError(
            "seller.payment_terms_days",
            f"{terms} is over the {MAX_PAYMENT_TERMS_DAYS} days Code de commerce L441-10 allows",
        )
    address = [line.strip() for line in _text(seller, "address", "seller.").splitlines()]
    return Seller(
        legal_name=_text(seller, "legal_name", "seller."),
        legal_form=_text(seller, "legal_form", "seller."),
        address="\n".join(line for line in address if line),
        country=country,
        siren=siren,
        siret=siret,
        rcs=_text(seller, "rcs", "seller."),
        share_capital_cents=_cents(seller, "share_capital_cents", "seller."),
        vat_number=vat,
        payment_terms_days=terms,
        late_penalty_rate_bp=_cents(seller, "late_penalty_rate_bp", "seller."),
    )


def parse_catalogue(data: dict) -> Catalogue:
    """Validate a decoded TOML document; raises CatalogueError on the first problem."""
    _no_unknown_keys(data, TOP_KEYS, "")
    sample = _flag(data, "sample", "", default=False)
    currency = _text(data, "currency", "")
    if currency != "EUR":
        raise CatalogueError("currency", f"only EUR is supported, got {currency!r}")
    vat = _require(data, "vat_rate_percent", "")
    if not _is_int(vat) or not 0 <= vat <= 100:
        raise CatalogueError("vat_rate_percent", f"must be a whole percentage 0–100, got {vat!r}")
    max_resources = _count(data, "max_resources", "")
    raw_plans = _require(data, "plans", "")
    if not isinstance(raw_plans, list) or not raw_plans:
        raise CatalogueError("plans", "must be one or more [[plans]] tables")
    plans: dict[str, Plan] = {}
    for index, raw in enumerate(raw_plans):
        plan = _parse_plan(raw, index, max_resources, sample)
        if plan.id in plans:
            raise CatalogueError(f"plans[{index}].id", f"duplicate plan id {plan.id!r}")
        plans[plan.id] = plan
    return Catalogue(
        currency=currency,
        vat_rate_percent=vat,
        plans=plans,
        max_resources=max_resources,
        plan_change_allowed=_flag(data, "plan_change_allowed", "", default=True),
        transfer=_parse_transfer(data),
        cheque=_parse_cheque(data),
        sample=sample,
        seller=_parse_seller(data),
        customer_account_url=_parse_https_url(data, "customer_account_url"),
    )


def _parse_https_url(data: dict, key: str) -> str:
    """An optional https:// address (a link shown to clients); the default when absent."""
    if key not in data:
        return DEFAULT_CUSTOMER_ACCOUNT_URL
    value = data[key]
    if not isinstance(value, str) or not re.fullmatch(r"https://[^\s/$.?#][^\s<>\"']*", value):
        raise CatalogueError(key, f"must be an https:// address, got {value!r}")
    return value


def load_catalogue(path: str | Path) -> Catalogue:
    """Read and validate the TOML file; every problem is a one-line CatalogueError."""
    try:
        with Path(path).open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise CatalogueError(str(path), f"cannot be read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(str(path), f"not valid TOML ({exc})") from None
    return parse_catalogue(data)


# --- quote rules -----------------------------------------------------------------------------


def vat_regime(country: str | None, vat_number: str | None) -> VatRegime:
    """France, Monaco or no country → FR. Another EU state → EU_REVERSE_CHARGE when the VAT number
    carries that state's prefix (EL for Greece) and format, else EU_NO_NUMBER. Elsewhere → NON_EU.
    Spaces, dots and hyphens in the number are ignored."""
    code = (country or "").strip().upper() or "FR"
    if code in FRENCH_VAT_TERRITORY:
        return VatRegime.FR
    prefix = VAT_PREFIX_OF_COUNTRY.get(code, code)
    if prefix not in EU_VAT_PATTERNS:
        return VatRegime.NON_EU
    number = re.sub(r"[\s.\-]", "", vat_number or "").upper()
    if number.startswith(prefix) and re.fullmatch(EU_VAT_PATTERNS[prefix], number[len(prefix) :]):
        return VatRegime.EU_REVERSE_CHARGE
    return VatRegime.EU_NO_NUMBER


def vat_cents(ht_cents: int, rate_bp: int) -> int:
    """VAT on an HT total, rounded half up to the cent with integers only."""
    return (ht_cents * rate_bp + 5000) // 10000


def add_one_year(day: dt.date) -> dt.date:
    """Same day next year; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def new_period(current_end: dt.date, today: dt.date) -> tuple[dt.date, dt.date]:
    """The period a renewal pays for, both days included.

    Not lapsed (current_end ≥ today): from the day after current_end to current_end + 1 year, so
    periods follow each other without gap or overlap. Lapsed (current_end < today): one year from
    today, i.e. to the day before today's anniversary (from 29 February: to 28 February)."""
    if current_end >= today:
        return current_end + dt.timedelta(days=1), add_one_year(current_end)
    if today.month == 2 and today.day == 29:
        return today, today.replace(year=today.year + 1, day=28)
    return today, add_one_year(today) - dt.timedelta(days=1)


def _plan(catalogue: Catalogue, plan_id: str) -> Plan:
    plan = catalogue.plans.get(plan_id)
    if plan is None:
        raise QuoteError("unknown_plan")
    return plan


def minimum_resources(catalogue: Catalogue, plan_id: str, active_resources: int = 0) -> int:
    """The fewest resources a renewal may offer: the activated ones, the plan's minimum, 1."""
    return max(active_resources, _plan(catalogue, plan_id).min_resources, 1)


def parse_resource_count(text: str) -> int:
    """A count typed by a person ("12", " 12 ") → int; QuoteError("not_a_number") otherwise.
    The range is checked by quote_renewal, which knows the plan."""
    cleaned = text.strip().replace("\u202f", "").replace("\u00a0", "").replace(" ", "")
    if not re.fullmatch(r"[+-]?\d{1,9}", cleaned):
        raise QuoteError("not_a_number")
    return int(cleaned)


def _quote(
    catalogue: Catalogue,
    plan_id: str,
    resources: int | None,
    lines: list[QuoteLine],
    country: str | None,
    vat_number: str | None,
    period: tuple[dt.date, dt.date] | tuple[None, None],
) -> Quote:
    regime = vat_regime(country, vat_number)
    due = regime in (VatRegime.FR, VatRegime.EU_NO_NUMBER)
    rate = catalogue.vat_rate_bp if due else 0
    ht = sum(line.total_cents for line in lines)
    vat = vat_cents(ht, rate)
    return Quote(plan_id, resources, tuple(lines), ht, rate, vat, ht + vat, regime, *period)


def quote_renewal(
    catalogue: Catalogue,
    *,
    plan_id: str,
    resources: int,
    country: str | None,
    vat_number: str | None,
    current_end: dt.date,
    today: dt.date,
    active_resources: int = 0,
) -> Quote:
    """The quote for one year of `plan_id` with `resources` resources. Deterministic.

    Lines: "base" (quantity 1, the plan's base fee) and "resources" (quantity = resources, unit =
    the plan's per-resource price). HT = sum of the line totals. VAT by `vat_regime()`: the
    catalogue rate for FR and EU_NO_NUMBER, 0 for EU_REVERSE_CHARGE and NON_EU. VAT is computed
    once on the HT total and rounded half up to the cent: (ht × rate_bp + 5000) // 10000.
    TTC = HT + VAT. The period is `new_period(current_end, today)`.

    Refused with QuoteError: unknown plan ("unknown_plan"); resources not an int
    ("not_a_number"); 0 or negative ("not_positive"); below max(active_resources,
    plan.min_resources, 1) ("below_minimum"); above catalogue.max_resources ("above_maximum").
    The error carries `minimum` and `maximum` for the reply."""
    plan = _plan(catalogue, plan_id)
    minimum = minimum_resources(catalogue, plan_id, active_resources)
    bounds = {"minimum": minimum, "maximum": catalogue.max_resources}
    if not _is_int(resources):
        raise QuoteError("not_a_number", **bounds)
    if resources < 1:
        raise QuoteError("not_positive", **bounds)
    if resources < minimum:
        raise QuoteError("below_minimum", **bounds)
    if resources > catalogue.max_resources:
        raise QuoteError("above_maximum", **bounds)
    lines = [
        QuoteLine("base", 1, plan.base_fee_cents, plan.base_fee_cents),
        QuoteLine(
            "resources", resources, plan.per_resource_cents, resources * plan.per_resource_cents
        ),
    ]
    period = new_period(current_end, today)
    return _quote(catalogue, plan_id, resources, lines, country, vat_number, period)


def _one_off(
    catalogue: Catalogue, plan_id: str, kind: str, fee: int, country: str | None, vat: str | None
) -> Quote | None:
    if fee == 0:
        return None
    lines = [QuoteLine(kind, 1, fee, fee)]
    return _quote(catalogue, plan_id, None, lines, country, vat, (None, None))


def quote_intervention(
    catalogue: Catalogue,
    *,
    plan_id: str,
    kind: str,
    country: str | None,
    vat_number: str | None,
) -> Quote | None:
    """The fee for a manual password reset or e-mail update done by staff (`kind` is
    "password_reset" or "email_update"): one "intervention" line, VAT as for a renewal, no period.
    None when the plan's intervention fee is 0 (free)."""
    if kind not in ("password_reset", "email_update"):
        raise QuoteError("unknown_intervention")
    plan = _plan(catalogue, plan_id)
    fee = plan.intervention_fee_cents
    return _one_off(catalogue, plan_id, "intervention", fee, country, vat_number)


def quote_migration(
    catalogue: Catalogue, *, plan_id: str, country: str | None, vat_number: str | None
) -> Quote | None:
    """The fee for a version migration: one "migration" line, no period; None when free."""
    fee = _plan(catalogue, plan_id).migration_fee_cents
    return _one_off(catalogue, plan_id, "migration", fee, country, vat_number)


# --- display ---------------------------------------------------------------------------------


def format_cents(cents: int, lang: str) -> str:
    """Integer cents → "1 234,56 €" (fr: U+202F between thousands, U+00A0 before €) or
    "€1,234.56" (en). Floats are refused: money never goes through them."""
    if not _is_int(cents):
        raise TypeError(f"format_cents needs integer cents, got {cents!r}")
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    if lang == "en":
        return f"{sign}€{euros:,}.{rest:02d}"
    grouped = f"{euros:,}".replace(",", "\u202f")
    return f"{sign}{grouped},{rest:02d}\u00a0€"
