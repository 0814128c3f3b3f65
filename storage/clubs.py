"""Queries on club records (the OpenFlyers customer records imported from CSV).

`Club` is the row as the rest of the code sees it; dates stay ISO strings in the database."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from storage.db import Connection, Database

COLUMNS = (
    "subdomain",
    "name",
    "structure_email",
    "contact_email",
    "plan",
    "active_resources",
    "subscription_ends",
    "country",
    "vat_number",
    "language",
    "address",
)


@dataclass(frozen=True)
class Club:
    id: int
    subdomain: str
    name: str
    structure_email: str
    contact_email: str
    plan: str
    active_resources: int
    subscription_ends: dt.date
    country: str | None
    vat_number: str | None
    language: str | None
    subscribed_resources: int | None
    synced_at: dt.datetime | None = None  # UTC: when an import last held this record
    address: str | None = None  # postal, one line: "12 rue X, 31000 Toulouse"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Club:
        return cls(
            id=row["id"],
            subdomain=row["subdomain"],
            name=row["name"],
            structure_email=row["structure_email"],
            contact_email=row["contact_email"],
            plan=row["plan"],
            active_resources=row["active_resources"],
            subscription_ends=dt.date.fromisoformat(row["subscription_ends"]),
            country=row["country"],
            vat_number=row["vat_number"],
            language=row["language"],
            subscribed_resources=row["subscribed_resources"],
            synced_at=dt.datetime.fromisoformat(row["synced_at"]) if row["synced_at"] else None,
            address=row["address"],
        )

    def as_record(self) -> dict:
        """The CSV-shaped fields, for audit before/after."""
        record = {name: getattr(self, name) for name in COLUMNS}
        record["subscription_ends"] = self.subscription_ends.isoformat()
        return record


async def get_by_subdomain(db: Database, subdomain: str) -> Club | None:
    row = await db.fetchone("SELECT * FROM clubs WHERE subdomain = ?", (subdomain,))
    return Club.from_row(row) if row else None


async def get(db: Database, club_id: int) -> Club | None:
    row = await db.fetchone("SELECT * FROM clubs WHERE id = ?", (club_id,))
    return Club.from_row(row) if row else None


async def list_names(db: Database) -> list[tuple[str, str]]:
    """(subdomain, name) of every club, for close-match suggestions."""
    rows = await db.fetchall("SELECT subdomain, name FROM clubs")
    return [(row["subdomain"], row["name"]) for row in rows]


async def count(db: Database) -> int:
    return await db.fetchval("SELECT count(*) FROM clubs")


async def get_many_by_subdomain(conn: Connection, subdomains: list[str]) -> dict:
    """Existing records for an import, read inside the import's transaction."""
    found: dict[str, Club] = {}
    for start in range(0, len(subdomains), 500):
        chunk = subdomains[start : start + 500]
        marks = ",".join("?" * len(chunk))
        async with conn.execute(f"SELECT * FROM clubs WHERE subdomain IN ({marks})", chunk) as cur:
            for row in await cur.fetchall():
                found[row["subdomain"]] = Club.from_row(row)
    return found


async def upsert_many(conn: Connection, records: list[dict]) -> None:
    """Insert or update by subdomain, inside the caller's transaction. `address` is optional
    (None when a record has none)."""
    records = [{"address": None, **record} for record in records]
    await conn.executemany(
        "INSERT INTO clubs (subdomain, name, structure_email, contact_email, plan,"
        " active_resources, subscription_ends, country, vat_number, language, address,"
        " synced_at)"
        " VALUES (:subdomain, :name, :structure_email, :contact_email, :plan,"
        " :active_resources, :subscription_ends, :country, :vat_number, :language, :address,"
        " strftime('%Y-%m-%dT%H:%M:%SZ','now'))"
        " ON CONFLICT (subdomain) DO UPDATE SET name = excluded.name,"
        " structure_email = excluded.structure_email, contact_email = excluded.contact_email,"
        " plan = excluded.plan, active_resources = excluded.active_resources,"
        " subscription_ends = excluded.subscription_ends, country = excluded.country,"
        " vat_number = excluded.vat_number, language = excluded.language,"
        " address = excluded.address, synced_at = excluded.synced_at,"
        " updated_at = CASE WHEN (name, structure_email, contact_email, plan, active_resources,"
        " subscription_ends, country, vat_number, language, address) IS (excluded.name,"
        " excluded.structure_email, excluded.contact_email, excluded.plan,"
        " excluded.active_resources, excluded.subscription_ends, excluded.country,"
        " excluded.vat_number, excluded.language, excluded.address) THEN updated_at"
        " ELSE strftime('%Y-%m-%dT%H:%M:%SZ','now') END",
        records,
    )


async def ids_by_subdomain(conn: Connection, subdomains: list[str]) -> dict[str, int]:
    found = {}
    for start in range(0, len(subdomains), 500):
        chunk = subdomains[start : start + 500]
        marks = ",".join("?" * len(chunk))
        async with conn.execute(
            f"SELECT id, subdomain FROM clubs WHERE subdomain IN ({marks})", chunk
        ) as cur:
            for row in await cur.fetchall():
                found[row["subdomain"]] = row["id"]
    return found


async def update_fields(conn: Connection, club_id: int, **values: object) -> None:
    """Change some columns of one record, inside the caller's transaction (audit is theirs)."""
    allowed = set(COLUMNS) | {"subscribed_resources"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"not club columns: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    await conn.execute(
        f"UPDATE clubs SET {assignments}, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now')"
        " WHERE id = :club_id",
        {**values, "club_id": club_id},
    )
