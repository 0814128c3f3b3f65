"""The price catalogue (TOML, SPEC §2) and the quote rules: plans, VAT, new period, payee details.

Money is integer cents everywhere. VAT is computed once on the HT total, rounded half up."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

PLAN_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
BIC_RE = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
LANGS = ("fr", "en")

# EU member states other than France and the format of their VAT numbers (without the prefix).
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
    "SE": r"\d{12}",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
}
VAT_PREFIX = {"GR": "EL"}  # Greece's VAT numbers start with EL, its country code is GR


class CatalogueError(Exception):
    """The catalogue file is unusable; str() names the key path and the reason."""


class QuoteError(Exception):
    """A count or plan the quote refuses; `reason` is a code the handlers turn into words."""

    def __init__(self, reason: str, minimum: int | None = None, maximum: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.minimum = minimum
        self.maximum = maximum


@dataclass(frozen=True)
class Plan:
    id: str
    labels: dict[str, str]
    base_fee_cents: int
    per_resource_cents: int
    intervention_fee_cents: int
    migration_fee_cents: int
    min_resources: int
    sample: bool


@dataclass(frozen=True)
class TransferDetails:
    holder: str
    iban: str
    bic: str


@dataclass(frozen=True)
class ChequeDetails:
    payee: str
    address: str


@dataclass(frozen=True)
class Catalogue:
    currency: str
    vat_rate_percent: int
    plans: dict[str, Plan]
    max_resources: int
    plan_change_allowed: bool
    transfer: TransferDetails
    cheque: ChequeDetails
    sample: bool

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
    resources: int | None
    lines: tuple[QuoteLine, ...]
    ht_cents: int
    vat_rate_bp: int
    vat_cents: int
    ttc_cents: int
    vat_regime: str  # "fr", "eu_reverse_charge", "eu_no_number", "non_eu"
    period_start: dt.date | None
    period_end: dt.date | None


def iban_is_valid(iban: str) -> bool:
    """ISO 13616 mod-97 check."""
    compact = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", compact):
        return False
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def _get(table: dict, key: str, path: str, kind: type | tuple, what: str):
    if key not in table:
        raise CatalogueError(f"{path}{key}: missing")
    value = table[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise CatalogueError(f"{path}{key}: must be {what}, got {value!r}")
    if kind is not int and not isinstance(value, kind):
        raise CatalogueError(f"{path}{key}: must be {what}, got {value!r}")
    return value


def _cents(table: dict, key: str, path: str) -> int:
    value = _get(table, key, path, int, "a non-negative integer number of cents")
    if value < 0:
        raise CatalogueError(
            f"{path}{key}: must be a non-negative integer number of cents, got {value}"
        )
    return value


def _text(table: dict, key: str, path: str) -> str:
    value = _get(table, key, path, str, "a text")
    if not value.strip():
        raise CatalogueError(f"{path}{key}: must not be empty")
    return value.strip()


def parse_catalogue(data: dict) -> Catalogue:
    sample = bool(data.get("sample", False))
    currency = _text(data, "currency", "")
    if currency != "EUR":
        raise CatalogueError(f"currency: only EUR is supported, got {currency!r}")
    vat = _get(data, "vat_rate_percent", "", int, "an integer percentage")
    if not 0 <= vat <= 100:
        raise CatalogueError(f"vat_rate_percent: must be between 0 and 100, got {vat}")
    max_resources = _get(data, "max_resources", "", int, "a positive integer")
    if max_resources < 1:
        raise CatalogueError(f"max_resources: must be a positive integer, got {max_resources}")
    change = data.get("plan_change_allowed", True)
    if not isinstance(change, bool):
        raise CatalogueError(f"plan_change_allowed: must be true or false, got {change!r}")
    raw_plans = data.get("plans")
    if not isinstance(raw_plans, list) or not raw_plans:
        raise CatalogueError("plans: missing (at least one [[plans]] table)")
    plans: dict[str, Plan] = {}
    for index, raw in enumerate(raw_plans):
        if not isinstance(raw, dict):
            raise CatalogueError(f"plans[{index}]: must be a table")
        plan_id = _text(raw, "id", f"plans[{index}].")
        if not PLAN_ID_RE.match(plan_id):
            raise CatalogueError(f"plans[{index}].id: {plan_id!r} must match [a-z][a-z0-9_]*")
        if plan_id in plans:
            raise CatalogueError(f"plans.{plan_id}: duplicate plan id")
        path = f"plans.{plan_id}."
        labels = _get(raw, "labels", path, dict, "a table of labels")
        for lang in LANGS:
            if not isinstance(labels.get(lang), str) or not labels[lang].strip():
                raise CatalogueError(f"{path}labels.{lang}: missing")
        minimum = raw.get("min_resources", 1)
        if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
            raise CatalogueError(f"{path}min_resources: must be an integer ≥ 1, got {minimum!r}")
        if minimum > max_resources:
            raise CatalogueError(f"{path}min_resources: above max_resources ({max_resources})")
        plans[plan_id] = Plan(
            id=plan_id,
            labels={lang: labels[lang].strip() for lang in LANGS},
            base_fee_cents=_cents(raw, "base_fee_cents", path),
            per_resource_cents=_cents(raw, "per_resource_cents", path),
            intervention_fee_cents=_cents(raw, "intervention_fee_cents", path),
            migration_fee_cents=_cents(raw, "migration_fee_cents", path)
            if "migration_fee_cents" in raw
            else 0,
            min_resources=minimum,
            sample=sample,
        )
    transfer = _get(data, "transfer", "", dict, "a table")
    iban = _text(transfer, "iban", "transfer.")
    if not iban_is_valid(iban):
        raise CatalogueError(f"transfer.iban: {iban!r} fails the IBAN checksum")
    bic = _text(transfer, "bic", "transfer.").replace(" ", "").upper()
    if not BIC_RE.match(bic):
        raise CatalogueError(f"transfer.bic: {bic!r} is not a BIC")
    cheque = _get(data, "cheque", "", dict, "a table")
    return Catalogue(
        currency=currency,
        vat_rate_percent=vat,
        plans=plans,
        max_resources=max_resources,
        plan_change_allowed=change,
        transfer=TransferDetails(_text(transfer, "holder", "transfer."), iban, bic),
        cheque=ChequeDetails(
            _text(cheque, "payee", "cheque."), _text(cheque, "address", "cheque.")
        ),
        sample=sample,
    )


def load_catalogue(path: str | Path) -> Catalogue:
    try:
        with Path(path).open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise CatalogueError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{path}: not valid TOML ({exc})") from None
    return parse_catalogue(data)


def vat_regime(country: str | None, vat_number: str | None) -> str:
    """France (or unknown) → French VAT; EU with a well-formed VAT number → reverse charge;
    EU without one → French VAT; outside the EU → no VAT (services exported)."""
    code = (country or "FR").strip().upper()
    if code == "FR":
        return "fr"
    prefix = VAT_PREFIX.get(code, code)
    if prefix not in EU_VAT_PATTERNS:
        return "non_eu"
    number = (vat_number or "").replace(" ", "").replace(".", "").replace("-", "").upper()
    if number.startswith(prefix) and re.fullmatch(EU_VAT_PATTERNS[prefix], number[len(prefix) :]):
        return "eu_reverse_charge"
    return "eu_no_number"


def _vat(ht_cents: int, rate_bp: int) -> int:
    """Half up to the cent, integers only: (ht × rate + 5000) // 10000 with the rate in basis points."""
    return (ht_cents * rate_bp + 5000) // 10000


def _add_year(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def new_period(current_end: dt.date, today: dt.date) -> tuple[dt.date, dt.date]:
    """From the day after the current end; from today when the subscription has lapsed."""
    if current_end >= today:
        return current_end + dt.timedelta(days=1), _add_year(current_end)
    return today, _add_year(today) - dt.timedelta(days=1)


def minimum_resources(catalogue: Catalogue, plan_id: str, active_resources: int) -> int:
    return max(active_resources, catalogue.plans[plan_id].min_resources, 1)


def _totals(catalogue: Catalogue, lines: list[QuoteLine], regime: str) -> tuple[int, int, int, int]:
    ht = sum(line.total_cents for line in lines)
    rate = catalogue.vat_rate_bp if regime in ("fr", "eu_no_number") else 0
    vat = _vat(ht, rate)
    return ht, rate, vat, ht + vat


def quote_renewal(
    catalogue: Catalogue,
    *,
    plan_id: str,
    resources: int,
    country: str | None,
    vat_number: str | None,
    current_end: dt.date,
    today: dt.date,
) -> Quote:
    """Base fee + resources × unit price, VAT on the total by the club's regime, the new period."""
    plan = catalogue.plans.get(plan_id)
    if plan is None:
        raise QuoteError("unknown_plan")
    if isinstance(resources, bool) or not isinstance(resources, int):
        raise QuoteError("not_a_number")
    if resources < max(plan.min_resources, 1):
        raise QuoteError("below_minimum", minimum=max(plan.min_resources, 1))
    if resources > catalogue.max_resources:
        raise QuoteError("above_maximum", maximum=catalogue.max_resources)
    lines = [
        QuoteLine("base", 1, plan.base_fee_cents, plan.base_fee_cents),
        QuoteLine(
            "resources", resources, plan.per_resource_cents, resources * plan.per_resource_cents
        ),
    ]
    regime = vat_regime(country, vat_number)
    ht, rate, vat, ttc = _totals(catalogue, lines, regime)
    start, end = new_period(current_end, today)
    return Quote(plan_id, resources, tuple(lines), ht, rate, vat, ttc, regime, start, end)


def quote_intervention(
    catalogue: Catalogue,
    *,
    plan_id: str,
    kind: str,
    country: str | None,
    vat_number: str | None,
) -> Quote | None:
    """The fee for a manual password reset or e-mail update by staff; None when it is free."""
    if kind not in ("password_reset", "email_update"):
        raise QuoteError("unknown_intervention")
    plan = catalogue.plans.get(plan_id)
    if plan is None:
        raise QuoteError("unknown_plan")
    if plan.intervention_fee_cents == 0:
        return None
    lines = [QuoteLine("intervention", 1, plan.intervention_fee_cents, plan.intervention_fee_cents)]
    regime = vat_regime(country, vat_number)
    ht, rate, vat, ttc = _totals(catalogue, lines, regime)
    return Quote(plan_id, None, tuple(lines), ht, rate, vat, ttc, regime, None, None)


def format_cents(cents: int, lang: str) -> str:
    from bot.texts import format_money

    return format_money(cents, lang)
