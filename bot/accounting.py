"""The accounting export (`ofbot invoices export`): one CSV row per invoice and credit note issued
in a date range, for an accountant's spreadsheet or import tool.

Format (docs/INVOICES.md): UTF-8 with a byte-order mark, `;` between cells, CRLF line ends (RFC
4180 quoting), amounts in euros with a decimal comma ("1234,56"), dates ISO (YYYY-MM-DD). A
credit note's amounts are negative, so a column's sum is the period's net. Text cells starting
with = + - @, a tab or a carriage return get a leading apostrophe (OWASP's CSV-injection rule)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

from bot.catalogue import VatRegime
from bot.documents import VAT_CATEGORIES
from storage import invoices as invoice_rows
from storage.db import Database

DELIMITER = ";"
BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
AMOUNT_RE = re.compile(r"-?\d+,\d{2}")
FIXED_COLUMNS = (
    "number",
    "type",
    "date",
    "club",
    "club_name",
    "buyer_vat_number",
    "currency",
)
TAIL_COLUMNS = (
    "ht",
    "vat",
    "ttc",
    "status",
    "related",
    "payment_date",
    "payment_method",
    "payment_reference",
)


def amount(cents: int) -> str:
    """Integer cents → "1234,56" / "-12,00" (decimal comma, no grouping); exact."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    return f"{sign}{euros},{rest:02d}"


def neutralise(value: object) -> str:
    """A cell as text; a text a spreadsheet would read as a formula gets a leading apostrophe.
    Amounts this module wrote ("-12,00") stay numbers."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not AMOUNT_RE.fullmatch(text):
        return "'" + text
    return text


def rate_key(vat_rate_bp: int, vat_regime: str) -> str:
    """The column suffix of a VAT rate and category: "S_20", "AE_0", "O_0", "S_5,5"."""
    category = VAT_CATEGORIES[VatRegime(vat_regime)].code
    whole, rest = divmod(vat_rate_bp, 100)
    rate = str(whole) if rest == 0 else f"{whole},{rest:02d}".rstrip("0")
    return f"{category}_{rate}"


async def export_rows(db: Database, first: dt.date, last: dt.date) -> tuple[list[str], list[dict]]:
    """(header, rows) of the export: per VAT rate and category, ht_<key>, vat_<key>,
    ttc_<key> columns (only the rates present), then the document's totals."""
    rows = await invoice_rows.issued_between(db, first, last)
    keys = sorted({rate_key(r["vat_rate_bp"], r["vat_regime"]) for r in rows})
    rate_columns = [f"{part}_{key}" for key in keys for part in ("ht", "vat", "ttc")]
    out = []
    for row in rows:
        sign = -1 if row["type"] == "credit_note" else 1
        buyer = json.loads(row["buyer_json"])
        key = rate_key(row["vat_rate_bp"], row["vat_regime"])
        values = {
            "number": row["number"],
            "type": row["type"],
            "date": row["issued_at"][:10],
            "club": row["subdomain"],
            "club_name": buyer.get("name") or row["club_name"],
            "buyer_vat_number": buyer.get("vat_number") or "",
            "currency": row["currency"],
            **{column: "" for column in rate_columns},
            f"ht_{key}": amount(sign * row["ht_cents"]),
            f"vat_{key}": amount(sign * row["vat_cents"]),
            f"ttc_{key}": amount(sign * row["ttc_cents"]),
            "ht": amount(sign * row["ht_cents"]),
            "vat": amount(sign * row["vat_cents"]),
            "ttc": amount(sign * row["ttc_cents"]),
            "status": row["status"],
            "related": row["related"] or "",
            "payment_date": (row["paid_at"] or "")[:10],
            "payment_method": row["method"] or "",
            "payment_reference": row["reference"] or "",
        }
        out.append(values)
    return [*FIXED_COLUMNS, *rate_columns, *TAIL_COLUMNS], out


def to_csv(header: list[str], rows: list[dict]) -> str:
    """The CSV text, BOM first (write it as UTF-8)."""
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, delimiter=DELIMITER, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise(row[column]) for column in header])
    return buffer.getvalue()


async def export_invoices(db: Database, first: dt.date, last: dt.date) -> tuple[str, int]:
    """The export of `first`..`last` (both included) as CSV text, and its number of rows."""
    header, rows = await export_rows(db, first, last)
    return to_csv(header, rows), len(rows)
