"""`ofbot invoices export`: the CSV an accountant opens, one row per invoice and credit note of
the range, read back with the csv module; amounts checked against the database, formulas
neutralised, credit notes negative."""

# ruff: noqa: F811  (the `services` fixture comes from test_invoices)

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys

from bot import invoices
from bot.accounting import neutralise
from bot.payments import record_payment
from storage import clubs as club_rows
from tests.e2e.test_cli import ROOT
from tests.unit.test_invoices import renew, services  # noqa: F401


def export(services, *args: str) -> subprocess.CompletedProcess:
    """`ofbot invoices export …` in a process, on the services' database file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFBOT_")}
    env["OFBOT_DB"] = str(services.settings.db)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "invoices", "export", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )


def read(data: bytes) -> list[dict]:
    assert data.startswith("\ufeff".encode())  # UTF-8 with BOM
    text = data.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))


def cents(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    euros, rest = text.lstrip("-").split(",")
    return sign * (int(euros) * 100 + int(rest))


async def test_the_export_has_one_row_per_invoice_and_credit_note_with_the_databases_amounts(
    services, tmp_path
):
    mermoz = (await renew(services, "mermoz", count=4)).invoice
    await record_payment(services, mermoz.number, "card", "stripe:evt_1", reference="pi_42")
    namur = (await renew(services, "namur", count=5)).invoice
    geneve = (await renew(services, "geneve", count=4)).invoice
    club = await club_rows.get_by_subdomain(services.db, "icare")
    async with services.db.transaction() as conn:
        await club_rows.update_fields(conn, club.id, name='=HYPERLINK("http://x";"y")')
    icare = (await renew(services, "icare", plan="first_price", count=3)).invoice
    replaced = await invoices.replace_renewal(
        services,
        club_id=club.id,
        invoice_id=icare.id,
        plan_id="first_price",
        resources=4,
        actor="t",
    )
    services.clock.advance(dt.timedelta(days=40))  # 2027: outside the range
    await renew(services, "lesailes", plan="first_price", count=2)

    result = export(
        services,
        "--from",
        "2026-11-01",
        "--to",
        "2026-12-31",
        "--output",
        str(tmp_path / "out.csv"),
    )
    assert result.returncode == 0, result.stderr
    rows = read((tmp_path / "out.csv").read_bytes())
    by_number = {row["number"]: row for row in rows}
    assert list(by_number) == [
        mermoz.number,
        namur.number,
        geneve.number,
        icare.number,
        replaced.credit_note.number,
        replaced.invoice.number,
    ]
    stored = {
        row["number"]: row
        for row in await services.db.fetchall(
            "SELECT number, ht_cents, vat_cents, ttc_cents FROM invoices"
            " UNION ALL SELECT number, -ht_cents, -vat_cents, -ttc_cents FROM credit_notes"
        )
    }
    for number, row in by_number.items():
        amounts = (cents(row["ht"]), cents(row["vat"]), cents(row["ttc"]))
        assert amounts == (
            stored[number]["ht_cents"],
            stored[number]["vat_cents"],
            stored[number]["ttc_cents"],
        )
    paid = by_number[mermoz.number]
    assert (paid["type"], paid["date"], paid["club"], paid["status"]) == (
        "invoice",
        "2026-11-26",
        "mermoz",
        "paid",
    )
    assert (paid["payment_date"], paid["payment_method"], paid["payment_reference"]) == (
        "2026-11-26",
        "card",
        "pi_42",
    )
    assert (paid["ht_S_20"], paid["vat_S_20"], paid["ttc_S_20"]) == ("600,00", "120,00", "720,00")
    assert paid["ht_AE_0"] == "" and paid["ht_O_0"] == ""
    reverse = by_number[namur.number]
    assert reverse["buyer_vat_number"] == "BE0123456749"
    assert (reverse["ht_AE_0"], reverse["vat_AE_0"], reverse["status"]) == (
        "690,00",
        "0,00",
        "open",
    )
    assert by_number[geneve.number]["ttc_O_0"] == "600,00"
    note = by_number[replaced.credit_note.number]
    assert (note["type"], note["related"], note["ttc"]) == ("credit_note", icare.number, "-360,00")
    assert by_number[icare.number]["status"] == "cancelled"
    assert by_number[icare.number]["related"] == replaced.credit_note.number
    # A name a spreadsheet would run as a formula is neutralised.
    assert by_number[icare.number]["club_name"] == '\'=HYPERLINK("http://x";"y")'
    # The columns per rate add up to the totals.
    assert sum(cents(r["ttc"]) for r in rows) == sum(
        cents(r[c]) for r in rows for c in ("ttc_S_20", "ttc_AE_0", "ttc_O_0") if r[c]
    )


async def test_export_to_standard_output_and_bad_ranges(services, tmp_path):
    await renew(services)
    result = export(services, "--from", "2026-11-26", "--to", "2026-11-26")
    assert result.returncode == 0
    assert len(read(result.stdout)) == 1
    empty = export(services, "--from", "2026-11-27", "--to", "2026-12-31")
    assert empty.returncode == 0 and read(empty.stdout) == []
    backwards = export(services, "--from", "2026-12-01", "--to", "2026-11-01")
    assert backwards.returncode == 2 and b"--from" in backwards.stderr
    bad = export(services, "--from", "2026-13-01", "--to", "2026-12-01")
    assert bad.returncode == 2


def test_cells_a_spreadsheet_would_run_are_neutralised():
    for text in ("=1+1", "+33 6", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(text) == "'" + text
    for text in ("-12,00", "720,00", "Aéroclub", "", None):
        assert neutralise(text) == (text or "")
