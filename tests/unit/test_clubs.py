"""Club records: address reading, close-match suggestions, and the all-or-nothing CSV import."""

from __future__ import annotations

import pytest

from bot.addresses import normalize_email, read_platform_address
from bot.clubs import ClubImportError, identify_club, import_clubs, parse_clubs_csv
from storage import audit
from storage import clubs as club_rows
from storage.db import open_database

HEADER = "subdomain,name,structure_email,contact_email,plan,active_resources,subscription_ends"
PLANS = {"business", "first_price"}
GOOD = [
    "mermoz,Aéroclub Mermoz,bureau@mermoz.example.fr,chef@mermoz.example.fr,business,4,2027-01-15",
    "lesailes,Les Ailes,contact@ailes.example.fr,contact@ailes.example.fr,first_price,1,2026-12-01",
]


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


@pytest.mark.parametrize(
    ("typed", "subdomain"),
    [
        ("mermoz", "mermoz"),
        (" Mermoz ", "mermoz"),
        ("mermoz.openflyers.fr", "mermoz"),
        ("https://mermoz.openflyers.fr/some/path?x=1", "mermoz"),
        ("openflyers.com/mermoz", "mermoz"),
        ("www.openflyers.com/mermoz/index.php", "mermoz"),
        ("HTTP://MERMOZ.OPENFLYERS.FR", "mermoz"),
    ],
)
def test_platform_address_forms(typed, subdomain):
    assert read_platform_address(typed).subdomain == subdomain


@pytest.mark.parametrize(
    ("typed", "kind"),
    [("jean.dupont", "name"), ("j.dupont@club.fr", "email"), ("1234", "number")],
)
def test_personal_logins_are_recognised(typed, kind):
    reading = read_platform_address(typed)
    assert reading.personal == kind and reading.subdomain is None


def test_email_normalisation():
    assert normalize_email(" Bureau@Mermoz.Example.FR ") == "Bureau@mermoz.example.fr"
    for bad in ("", "no-at", "a@b", "a b@c.fr", "x@" + "a" * 300 + ".fr"):
        assert normalize_email(bad) is None


async def test_import_upserts_and_audits(tmp_path):
    db = await open_database(tmp_path / "a.db")
    report = await import_clubs(db, csv_text(*GOOD), PLANS)
    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    changed = GOOD[0].replace(",4,", ",6,")
    report = await import_clubs(db, csv_text(changed, GOOD[1]), PLANS)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    club = await club_rows.get_by_subdomain(db, "mermoz")
    assert club.active_resources == 6
    trail = await audit.for_club(db, club.id)
    assert trail[0]["action"] == "club.update"
    assert (
        trail[0]["before"]["active_resources"] == 4 and trail[0]["after"]["active_resources"] == 6
    )
    await db.close()


@pytest.mark.parametrize(
    ("rows", "header", "line", "words"),
    [
        ([GOOD[0], GOOD[0]], HEADER, 3, "already on line 3"),
        ([GOOD[0].replace("bureau@", "bureau-at-")], HEADER, 2, "structure_email"),
        ([GOOD[0].replace("2027-01-15", "15/01/2027")], HEADER, 2, "subscription_ends"),
        ([GOOD[0].replace(",4,", ",-1,")], HEADER, 2, "active_resources"),
        ([GOOD[0].replace("business", "gold")], HEADER, 2, "plan"),
        ([GOOD[0] + ",x"], HEADER + ",colour", 1, "unknown column"),
        ([GOOD[0], "short,row"], HEADER, 3, "fields"),
    ],
)
async def test_bad_file_reports_the_line_and_imports_nothing(tmp_path, rows, header, line, words):
    db = await open_database(tmp_path / "a.db")
    with pytest.raises(ClubImportError) as error:
        await import_clubs(db, csv_text(GOOD[1], *rows, header=header), PLANS)
    lines = [problem_line for problem_line, _ in error.value.problems]
    wanted = line + (1 if line > 1 else 0)  # GOOD[1] sits on line 2
    assert wanted in lines, error.value.problems
    assert words in str(error.value)
    assert await club_rows.count(db) == 0
    await db.close()


def test_optional_columns_and_bom():
    header = HEADER + ",country,vat_number,language"
    data = "\ufeff" + csv_text(GOOD[0] + ",be,BE 0123.456.789,EN", header=header)
    [record] = parse_clubs_csv(data, PLANS)
    assert record["country"] == "BE" and record["language"] == "en"


@pytest.mark.parametrize("country", ["XX", "FT", "UK", "EU", "É1"])
def test_a_country_that_is_no_iso_3166_code_is_refused(country):
    """The country decides the VAT regime: any two letters were taken, and a typo read as
    "outside the EU" gave invoices without VAT."""
    header = HEADER + ",country"
    with pytest.raises(ClubImportError, match="not an ISO 3166-1 alpha-2 country code"):
        parse_clubs_csv(csv_text(GOOD[0] + f",{country}", header=header), PLANS)
    for known in ("fr", "IE", "gb", "MC"):
        [record] = parse_clubs_csv(csv_text(GOOD[0] + f",{known}", header=header), PLANS)
        assert record["country"] == known.upper()


async def test_the_optional_address_is_imported_on_one_line_and_bounded(tmp_path):
    header = HEADER + ",address"
    data = csv_text(GOOD[0] + ',"  Aérodrome,  12  rue X , 31000 Toulouse "', header=header)
    [record] = parse_clubs_csv(data, PLANS)
    assert record["address"] == "Aérodrome, 12 rue X , 31000 Toulouse"
    too_long = csv_text(GOOD[0] + "," + "x" * 201, header=header)
    with pytest.raises(ClubImportError, match="address is longer than 200"):
        parse_clubs_csv(too_long, PLANS)
    db = await open_database(tmp_path / "a.db")
    await import_clubs(db, data, PLANS)
    assert (await club_rows.get_by_subdomain(db, "mermoz")).address.endswith("31000 Toulouse")
    # The same record without its address is a change (the address is gone), audited.
    report = await import_clubs(db, csv_text(GOOD[0]), PLANS)
    assert report.updated == 1
    assert (await club_rows.get_by_subdomain(db, "mermoz")).address is None
    await db.close()


async def test_suggestions_by_subdomain_and_by_name(tmp_path):
    db = await open_database(tmp_path / "a.db")
    await import_clubs(db, csv_text(*GOOD), PLANS)
    found = await identify_club(db, "mermos")
    assert found.club is None and found.suggestions[0][0] == "mermoz"
    found = await identify_club(db, "aeroclub mermoz")
    assert found.suggestions and found.suggestions[0][0] == "mermoz"
    found = await identify_club(db, "https://mermoz.openflyers.fr/")
    assert found.club and found.club.subdomain == "mermoz"
    await db.close()
