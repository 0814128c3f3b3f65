"""Club records: find the club behind what a person typed, suggest close matches, import the CSV.

Import is all-or-nothing: every row is checked first, then one transaction upserts them all."""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from bot.addresses import SUBDOMAIN_RE, AddressReading, normalize_email, read_platform_address
from storage import audit
from storage import clubs as club_rows
from storage.clubs import Club
from storage.db import Database

REQUIRED_COLUMNS = (
    "subdomain",
    "name",
    "structure_email",
    "contact_email",
    "plan",
    "active_resources",
    "subscription_ends",
)
OPTIONAL_COLUMNS = ("country", "vat_number", "language", "address")
MAX_ADDRESS_LENGTH = 200
MAX_RESOURCES_IN_RECORD = 100_000
# Control characters (CR, LF, TAB, NUL…) and the Unicode line and paragraph separators.
_UNPRINTABLE = {"Cc", "Zl", "Zp"}


@dataclass(frozen=True)
class Identification:
    """The outcome of the identify step: a club, or why not and what might have been meant."""

    reading: AddressReading
    club: Club | None = None
    suggestions: list[tuple[str, str]] = field(default_factory=list)  # (subdomain, name)


async def identify_club(db: Database, text: str, limit: int = 3) -> Identification:
    reading = read_platform_address(text)
    if reading.personal:
        return Identification(reading)
    if reading.subdomain:
        club = await club_rows.get_by_subdomain(db, reading.subdomain)
        if club:
            return Identification(reading, club)
    query = reading.subdomain or reading.free_text
    if not query:
        return Identification(reading)
    return Identification(reading, suggestions=await suggest_clubs(db, query, limit))


async def suggest_clubs(db: Database, query: str, limit: int = 3) -> list[tuple[str, str]]:
    """Close subdomains (typos) and club names (people type "aéroclub mermoz")."""
    # rapidfuzz (41 modules) on first use: start-up does not need it (bot/lazy_imports.py).
    from rapidfuzz import fuzz, process

    entries = await club_rows.list_names(db)
    by_subdomain = dict(entries)
    scores: dict[str, float] = {}
    for sub, score, _ in process.extract(
        query, list(by_subdomain), scorer=fuzz.ratio, limit=limit, score_cutoff=70
    ):
        scores[sub] = max(scores.get(sub, 0), score)
    names = {name.lower(): sub for sub, name in entries}
    for name, score, _ in process.extract(
        query, list(names), scorer=fuzz.WRatio, limit=limit, score_cutoff=80
    ):
        sub = names[name]
        scores[sub] = max(scores.get(sub, 0), score)
    best = sorted(scores, key=lambda sub: (-scores[sub], sub))[:limit]
    return [(sub, by_subdomain[sub]) for sub in best]


class ClubImportError(Exception):
    """The file was not imported; `problems` lists (line number, message)."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"line {line}: {msg}" for line, msg in problems))


@dataclass(frozen=True)
class ImportReport:
    created: int
    updated: int
    unchanged: int


def is_country_code(code: str) -> bool:
    """True for an assigned ISO 3166-1 alpha-2 code (`FR`, `BE`, `GB`…), from the standard's
    own list as pycountry ships it (not merely two letters)."""
    import pycountry  # on first use: an import of clubs, not the bot's start-up

    return len(code) == 2 and code.isascii() and pycountry.countries.get(alpha_2=code) is not None


def _check_row(row: dict[str, str], plan_ids: set[str] | None) -> tuple[dict, list[str]]:
    problems = []
    record: dict[str, object] = {}
    sub = (row.get("subdomain") or "").strip().lower()
    if not SUBDOMAIN_RE.match(sub):
        problems.append(f"subdomain {sub!r} is not a valid platform subdomain")
    record["subdomain"] = sub
    name = (row.get("name") or "").strip()
    if not name:
        problems.append("name is empty")
    record["name"] = name
    for column in ("structure_email", "contact_email"):
        raw = (row.get(column) or "").strip()
        address = normalize_email(raw)
        if address is None:
            problems.append(f"{column} {raw!r} is not a valid e-mail address")
        record[column] = address or raw
    plan = (row.get("plan") or "").strip()
    if not plan or (plan_ids is not None and plan not in plan_ids):
        problems.append(f"plan {plan!r} is not in the price catalogue")
    record["plan"] = plan
    raw_count = (row.get("active_resources") or "").strip()
    # ASCII digits only: int() would also take "1_000", "+5" or Arabic-Indic digits.
    if not (raw_count.isascii() and raw_count.isdigit()):
        problems.append(f"active_resources {raw_count!r} is not a whole number ≥ 0")
    elif int(raw_count) > MAX_RESOURCES_IN_RECORD:
        problems.append(
            f"active_resources {raw_count} is too large (at most {MAX_RESOURCES_IN_RECORD})"
        )
    else:
        record["active_resources"] = int(raw_count)
    raw_date = (row.get("subscription_ends") or "").strip()
    try:
        record["subscription_ends"] = dt.date.fromisoformat(raw_date).isoformat()
        if len(raw_date) != 10:
            raise ValueError
    except ValueError:
        problems.append(f"subscription_ends {raw_date!r} is not a date YYYY-MM-DD")
    country = (row.get("country") or "").strip().upper() or None
    if country is not None and not is_country_code(country):
        # The country decides the VAT regime (bot/catalogue.vat_regime): a typo (`FT`, `XX`)
        # read as "outside the EU" would issue invoices without VAT.
        problems.append(f"country {country!r} is not an ISO 3166-1 alpha-2 country code")
    record["country"] = country
    record["vat_number"] = (row.get("vat_number") or "").strip().upper().replace(" ", "") or None
    language = (row.get("language") or "").strip().lower() or None
    if language is not None and language not in ("fr", "en"):
        problems.append(f"language {language!r} must be fr or en")
    record["language"] = language
    # The postal address printed on invoices: one line, parts separated by commas.
    address = " ".join((row.get("address") or "").split()) or None
    if address is not None and len(address) > MAX_ADDRESS_LENGTH:
        problems.append(f"address is longer than {MAX_ADDRESS_LENGTH} characters")
    record["address"] = address
    return record, problems


def parse_clubs_csv(data: str, plan_ids: set[str] | None) -> list[dict]:
    """Every row checked; raises ClubImportError listing each bad line, or returns the records."""
    reader = csv.DictReader(io.StringIO(data.lstrip("\ufeff"), newline=""))
    _check_columns(reader.fieldnames or [], 1)
    problems: list[tuple[int, str]] = []
    rows: list[tuple[int, dict]] = []
    end_of_previous = 1
    for row in reader:
        # The row's first line (a quoted field may run over several).
        line, end = end_of_previous + 1, reader.line_num
        end_of_previous = end
        if None in row or any(value is None for value in row.values()):
            problems.append((line, "wrong number of fields"))
            continue
        rows.append((line, row))
    return _check_rows(rows, plan_ids, problems)


def parse_clubs_json(data: object, plan_ids: set[str] | None) -> list[dict]:
    """A JSON list of objects with the CSV's columns (POST /admin/clubs). Problems are numbered
    by item, from 1. Values are strings, or integers for `active_resources`; null is empty."""
    if not isinstance(data, list):
        raise ClubImportError([(0, "the body must be a JSON list of objects")])
    problems: list[tuple[int, str]] = []
    rows: list[tuple[int, dict]] = []
    wrong_type: dict[int, set[str]] = {}  # fields already reported: one error per field
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            problems.append((number, "not an object"))
            continue
        try:
            _check_columns(list(item), number)
        except ClubImportError as exc:
            problems.extend(exc.problems)
            continue
        row: dict[str, str] = {}
        for key, value in item.items():
            if value is None:
                row[key] = ""
            elif isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
                row[key] = str(value)
            else:
                problems.append((number, f"{key} must be a string or a whole number"))
                wrong_type.setdefault(number, set()).add(key)
        rows.append((number, row))
    return _check_rows(rows, plan_ids, problems, wrong_type)


def _check_columns(header: list[str], line: int) -> None:
    problems = []
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if unknown:
        problems.append((line, f"unknown column(s): {', '.join(unknown)}"))
    if missing:
        problems.append((line, f"missing column(s): {', '.join(missing)}"))
    if len(set(header)) != len(header):
        problems.append((line, "a column appears twice"))
    if problems:
        raise ClubImportError(problems)


def _check_rows(
    rows: list[tuple[int, dict]],
    plan_ids: set[str] | None,
    problems: list[tuple[int, str]],
    reported: dict[int, set[str]] | None = None,
) -> list[dict]:
    records: list[dict] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        unprintable = [
            column
            for column, value in row.items()
            if any(unicodedata.category(ch) in _UNPRINTABLE for ch in value)
        ]
        if unprintable:
            # A line break in a name would end a mail header or a Telegram line early.
            problems.extend(
                (line, f"{column} contains a line break or another control character")
                for column in unprintable
            )
            continue
        record, row_problems = _check_row(row, plan_ids)
        done = (reported or {}).get(line, set())
        row_problems = [m for m in row_problems if m.split(" ", 1)[0] not in done]
        sub = record["subdomain"]
        if sub in seen:
            row_problems.append(f"subdomain {sub!r} already on line {seen[sub]}")
        else:
            seen[sub] = line
        problems.extend((line, message) for message in row_problems)
        records.append(record)
    if problems:
        raise ClubImportError(sorted(problems, key=lambda p: p[0]))
    return records


def read_clubs_file(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ClubImportError([(1, "the file is not UTF-8 text")]) from None


async def import_clubs(
    db: Database, data: str | list, plan_ids: set[str] | None, actor: str = "cli:import"
) -> ImportReport:
    """Upsert every record of the CSV text (or of the JSON list, already decoded), or none;
    changes are written to the audit trail."""
    if isinstance(data, str):
        records = parse_clubs_csv(data, plan_ids)
    else:
        records = parse_clubs_json(data, plan_ids)
    created = updated = 0
    async with db.transaction() as conn:
        existing = await club_rows.get_many_by_subdomain(conn, [r["subdomain"] for r in records])
        await club_rows.upsert_many(conn, records)
        ids = await club_rows.ids_by_subdomain(conn, [r["subdomain"] for r in records])
        for record in records:
            before = existing.get(record["subdomain"])
            old = before.as_record() if before else None
            if old == record:
                continue
            if before:
                updated += 1
            else:
                created += 1
            await audit.record(
                conn,
                actor=actor,
                action="club.update" if before else "club.create",
                club_id=ids[record["subdomain"]],
                target=record["subdomain"],
                before=old,
                after=record,
            )
    return ImportReport(created, updated, len(records) - created - updated)
