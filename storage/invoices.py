"""Queries on invoices, their lines and the per-year number counter.

Writes take the caller's connection so that numbering, insert and cancellation share one transaction."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass

from storage.db import Connection, Database

NUMBER_PREFIX = "OF"
CREDIT_NOTE_PREFIX = "AV"


def format_number(year: int, seq: int, prefix: str = NUMBER_PREFIX) -> str:
    """OF-2026-000123 (AV-2026-000001 for a credit note): six digits, more only past the
    millionth document of a year."""
    return f"{prefix}-{year:04d}-{seq:06d}"


@dataclass(frozen=True)
class Line:
    kind: str
    quantity: int
    unit_cents: int
    total_cents: int


@dataclass(frozen=True)
class Invoice:
    id: int
    number: str
    year: int
    seq: int
    club_id: int
    kind: str
    status: str
    plan: str
    resources: int | None
    renews_end: dt.date | None
    period_start: dt.date | None
    period_end: dt.date | None
    currency: str
    ht_cents: int
    vat_rate_bp: int
    vat_cents: int
    ttc_cents: int
    vat_regime: str
    buyer: dict
    payee: dict
    escalation_id: int | None
    subject: str | None
    issued_at: str
    issued_by: str
    paid_at: str | None
    cancelled_at: str | None
    replaced_by: int | None
    lines: tuple[Line, ...] = ()
    seller: dict | None = None  # as invoiced; None on invoices issued before migration 008
    due_on: dt.date | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def issued_on(self) -> dt.date:
        return dt.date.fromisoformat(self.issued_at[:10])

    @classmethod
    def from_row(cls, row: sqlite3.Row, lines: tuple[Line, ...] = ()) -> Invoice:
        def day(name: str) -> dt.date | None:
            return dt.date.fromisoformat(row[name]) if row[name] else None

        return cls(
            id=row["id"],
            number=row["number"],
            year=row["year"],
            seq=row["seq"],
            club_id=row["club_id"],
            kind=row["kind"],
            status=row["status"],
            plan=row["plan"],
            resources=row["resources"],
            renews_end=day("renews_end"),
            period_start=day("period_start"),
            period_end=day("period_end"),
            currency=row["currency"],
            ht_cents=row["ht_cents"],
            vat_rate_bp=row["vat_rate_bp"],
            vat_cents=row["vat_cents"],
            ttc_cents=row["ttc_cents"],
            vat_regime=row["vat_regime"],
            buyer=json.loads(row["buyer_json"]),
            payee=json.loads(row["payee_json"]),
            escalation_id=row["escalation_id"],
            subject=row["subject"],
            issued_at=row["issued_at"],
            issued_by=row["issued_by"],
            paid_at=row["paid_at"],
            cancelled_at=row["cancelled_at"],
            replaced_by=row["replaced_by"],
            lines=lines,
            seller=json.loads(row["seller_json"]) if row["seller_json"] else None,
            due_on=day("due_on"),
        )


@dataclass(frozen=True)
class CreditNote:
    """Cancels one whole invoice: its lines and amounts (positive), `reason` replaced/cancelled."""

    id: int
    number: str
    year: int
    seq: int
    invoice_id: int
    club_id: int
    reason: str
    currency: str
    ht_cents: int
    vat_rate_bp: int
    vat_cents: int
    ttc_cents: int
    vat_regime: str
    buyer: dict
    seller: dict
    issued_at: str
    issued_by: str

    @property
    def issued_on(self) -> dt.date:
        return dt.date.fromisoformat(self.issued_at[:10])

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> CreditNote:
        values = {
            name: row[name] for name in cls.__dataclass_fields__ if name not in ("buyer", "seller")
        }
        return cls(
            **values, buyer=json.loads(row["buyer_json"]), seller=json.loads(row["seller_json"])
        )


async def _one(conn: Connection, sql: str, params: tuple) -> sqlite3.Row | None:
    async with conn.execute(sql, params) as cursor:
        return await cursor.fetchone()


async def _lines(conn: Connection, invoice_id: int) -> tuple[Line, ...]:
    async with conn.execute(
        "SELECT kind, quantity, unit_cents, total_cents FROM invoice_lines"
        " WHERE invoice_id = ? ORDER BY position",
        (invoice_id,),
    ) as cursor:
        return tuple(Line(*row) for row in await cursor.fetchall())


async def _load(conn: Connection, row: sqlite3.Row | None) -> Invoice | None:
    if row is None:
        return None
    return Invoice.from_row(row, await _lines(conn, row["id"]))


def _conn(source: Database | Connection) -> Connection:
    return source.conn if isinstance(source, Database) else source


async def get(source: Database | Connection, invoice_id: int) -> Invoice | None:
    conn = _conn(source)
    return await _load(conn, await _one(conn, "SELECT * FROM invoices WHERE id = ?", (invoice_id,)))


async def get_by_number(source: Database | Connection, number: str) -> Invoice | None:
    conn = _conn(source)
    row = await _one(conn, "SELECT * FROM invoices WHERE number = ?", (number,))
    return await _load(conn, row)


async def live_renewal(
    source: Database | Connection, club_id: int, renews_end: dt.date
) -> Invoice | None:
    """The open or paid renewal invoice extending `renews_end`, if any."""
    conn = _conn(source)
    row = await _one(
        conn,
        "SELECT * FROM invoices WHERE club_id = ? AND renews_end = ? AND kind = 'renewal'"
        " AND status != 'cancelled'",
        (club_id, renews_end.isoformat()),
    )
    return await _load(conn, row)


async def paid_renewal_ending(
    source: Database | Connection, club_id: int, period_end: dt.date
) -> Invoice | None:
    """The paid renewal whose period ends on `period_end` (the one that set the club's end)."""
    conn = _conn(source)
    row = await _one(
        conn,
        "SELECT * FROM invoices WHERE club_id = ? AND period_end = ? AND kind = 'renewal'"
        " AND status = 'paid' ORDER BY id DESC LIMIT 1",
        (club_id, period_end.isoformat()),
    )
    return await _load(conn, row)


async def live_for_escalation(source: Database | Connection, escalation_id: int) -> Invoice | None:
    conn = _conn(source)
    row = await _one(
        conn,
        "SELECT * FROM invoices WHERE escalation_id = ? AND status != 'cancelled'",
        (escalation_id,),
    )
    return await _load(conn, row)


async def for_club(db: Database, club_id: int, limit: int = 20) -> list[Invoice]:
    """The club's invoices, newest first, without their lines."""
    rows = await db.fetchall(
        "SELECT * FROM invoices WHERE club_id = ? ORDER BY id DESC LIMIT ?", (club_id, limit)
    )
    return [Invoice.from_row(row) for row in rows]


async def open_invoices(db: Database, club_id: int | None = None) -> list[Invoice]:
    """Open invoices (of one club, or all), oldest first, without their lines."""
    if club_id is None:
        rows = await db.fetchall("SELECT * FROM invoices WHERE status = 'open' ORDER BY id")
    else:
        rows = await db.fetchall(
            "SELECT * FROM invoices WHERE status = 'open' AND club_id = ? ORDER BY id", (club_id,)
        )
    return [Invoice.from_row(row) for row in rows]


async def next_number(conn: Connection, year: int) -> int:
    """Take the next sequence number of `year`, inside the caller's (invoice insert) transaction."""
    row = await _one(
        conn,
        "INSERT INTO invoice_counters (year, last) VALUES (?, 1)"
        " ON CONFLICT (year) DO UPDATE SET last = last + 1 RETURNING last",
        (year,),
    )
    return row[0]


async def insert(
    conn: Connection,
    *,
    year: int,
    seq: int,
    club_id: int,
    kind: str,
    plan: str,
    resources: int | None,
    renews_end: dt.date | None,
    period_start: dt.date | None,
    period_end: dt.date | None,
    currency: str,
    ht_cents: int,
    vat_rate_bp: int,
    vat_cents: int,
    ttc_cents: int,
    vat_regime: str,
    buyer: dict,
    payee: dict,
    escalation_id: int | None,
    subject: str | None,
    issued_at: str,
    issued_by: str,
    lines: list[Line],
    seller: dict | None = None,
    due_on: dt.date | None = None,
) -> int:
    """Insert an open invoice and its lines; raises sqlite3.IntegrityError on a live duplicate."""

    def iso(day: dt.date | None) -> str | None:
        return day.isoformat() if day else None

    cursor = await conn.execute(
        "INSERT INTO invoices (year, seq, number, club_id, kind, plan, resources, renews_end,"
        " period_start, period_end, currency, ht_cents, vat_rate_bp, vat_cents, ttc_cents,"
        " vat_regime, buyer_json, payee_json, escalation_id, subject, issued_at, issued_by,"
        " seller_json, due_on)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            year,
            seq,
            format_number(year, seq),
            club_id,
            kind,
            plan,
            resources,
            iso(renews_end),
            iso(period_start),
            iso(period_end),
            currency,
            ht_cents,
            vat_rate_bp,
            vat_cents,
            ttc_cents,
            vat_regime,
            json.dumps(buyer, ensure_ascii=False, sort_keys=True),
            json.dumps(payee, ensure_ascii=False, sort_keys=True),
            escalation_id,
            subject,
            issued_at,
            issued_by,
            json.dumps(seller, ensure_ascii=False, sort_keys=True) if seller else None,
            iso(due_on),
        ),
    )
    invoice_id = cursor.lastrowid
    await conn.executemany(
        "INSERT INTO invoice_lines (invoice_id, position, kind, quantity, unit_cents, total_cents)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (invoice_id, position, line.kind, line.quantity, line.unit_cents, line.total_cents)
            for position, line in enumerate(lines, start=1)
        ],
    )
    return invoice_id


async def cancel(
    conn: Connection, invoice_id: int, at: str, replaced_by: int | None = None
) -> bool:
    """Cancel an open invoice; False when it was not open any more (paid or cancelled).
    The schema refuses it unless its credit note was inserted first (`insert_credit_note`)."""
    cursor = await conn.execute(
        "UPDATE invoices SET status = 'cancelled', cancelled_at = ?, replaced_by = ?"
        " WHERE id = ? AND status = 'open'",
        (at, replaced_by, invoice_id),
    )
    return cursor.rowcount == 1


async def set_replaced_by(conn: Connection, invoice_id: int, replaced_by: int) -> None:
    await conn.execute(
        "UPDATE invoices SET replaced_by = ? WHERE id = ?", (replaced_by, invoice_id)
    )


async def mark_paid(conn: Connection, invoice_id: int, at: str) -> bool:
    """Open → paid; False when it was not open."""
    cursor = await conn.execute(
        "UPDATE invoices SET status = 'paid', paid_at = ? WHERE id = ? AND status = 'open'",
        (at, invoice_id),
    )
    return cursor.rowcount == 1


async def numbers_of_year(db: Database, year: int) -> list[int]:
    """Every sequence number used in `year`, in order (for gap checks)."""
    rows = await db.fetchall("SELECT seq FROM invoices WHERE year = ? ORDER BY seq", (year,))
    return [row[0] for row in rows]


# --- credit notes -----------------------------------------------------------------------------


async def next_credit_note_number(conn: Connection, year: int) -> int:
    """Take the next credit-note sequence number of `year`, inside the caller's transaction."""
    row = await _one(
        conn,
        "INSERT INTO credit_note_counters (year, last) VALUES (?, 1)"
        " ON CONFLICT (year) DO UPDATE SET last = last + 1 RETURNING last",
        (year,),
    )
    return row[0]


async def insert_credit_note(
    conn: Connection,
    invoice: Invoice,
    *,
    year: int,
    seq: int,
    reason: str,
    seller: dict,
    issued_at: str,
    issued_by: str,
) -> int:
    """A credit note for the whole of `invoice` (still open: the schema checks it and the
    amounts); raises sqlite3.IntegrityError when the invoice already has one."""
    cursor = await conn.execute(
        "INSERT INTO credit_notes (year, seq, number, invoice_id, club_id, reason, currency,"
        " ht_cents, vat_rate_bp, vat_cents, ttc_cents, vat_regime, buyer_json, seller_json,"
        " issued_at, issued_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            year,
            seq,
            format_number(year, seq, CREDIT_NOTE_PREFIX),
            invoice.id,
            invoice.club_id,
            reason,
            invoice.currency,
            invoice.ht_cents,
            invoice.vat_rate_bp,
            invoice.vat_cents,
            invoice.ttc_cents,
            invoice.vat_regime,
            json.dumps(invoice.buyer, ensure_ascii=False, sort_keys=True),
            json.dumps(seller, ensure_ascii=False, sort_keys=True),
            issued_at,
            issued_by,
        ),
    )
    return cursor.lastrowid


async def get_credit_note(source: Database | Connection, credit_note_id: int) -> CreditNote | None:
    row = await _one(_conn(source), "SELECT * FROM credit_notes WHERE id = ?", (credit_note_id,))
    return CreditNote.from_row(row) if row else None


async def credit_note_of(source: Database | Connection, invoice_id: int) -> CreditNote | None:
    """The credit note that cancelled `invoice_id`, if any."""
    row = await _one(
        _conn(source), "SELECT * FROM credit_notes WHERE invoice_id = ?", (invoice_id,)
    )
    return CreditNote.from_row(row) if row else None


async def credit_notes_for_club(db: Database, club_id: int, limit: int = 20) -> list[CreditNote]:
    """The club's credit notes, newest first."""
    rows = await db.fetchall(
        "SELECT * FROM credit_notes WHERE club_id = ? ORDER BY id DESC LIMIT ?", (club_id, limit)
    )
    return [CreditNote.from_row(row) for row in rows]


async def credit_note_numbers_of_year(db: Database, year: int) -> list[int]:
    rows = await db.fetchall("SELECT seq FROM credit_notes WHERE year = ? ORDER BY seq", (year,))
    return [row[0] for row in rows]


async def issued_between(db: Database, first: dt.date, last: dt.date) -> list[sqlite3.Row]:
    """Invoices and credit notes issued from `first` to `last` (local dates, both included),
    by issue time: one row each with the club's subdomain and, for a paid invoice, its payment.
    Columns: type (invoice / credit_note), number, issued_at, subdomain, club_name, buyer_json,
    currency, ht_cents, vat_rate_bp, vat_cents, ttc_cents, vat_regime, status, related (the
    credit note of a cancelled invoice / the invoice a credit note cancels), paid_at, method,
    reference."""
    return await db.fetchall(
        "SELECT 'invoice' AS type, i.number, i.issued_at, c.subdomain, c.name AS club_name,"
        " i.buyer_json, i.currency, i.ht_cents, i.vat_rate_bp, i.vat_cents, i.ttc_cents,"
        " i.vat_regime, i.status, n.number AS related, p.paid_at, p.method, p.reference,"
        " i.id AS sort_id"
        " FROM invoices i JOIN clubs c ON c.id = i.club_id"
        " LEFT JOIN payments p ON p.invoice_id = i.id"
        " LEFT JOIN credit_notes n ON n.invoice_id = i.id"
        " WHERE substr(i.issued_at, 1, 10) BETWEEN ? AND ?"
        " UNION ALL"
        " SELECT 'credit_note', n.number, n.issued_at, c.subdomain, c.name, n.buyer_json,"
        " n.currency, n.ht_cents, n.vat_rate_bp, n.vat_cents, n.ttc_cents, n.vat_regime,"
        " 'issued', i.number, NULL, NULL, NULL, i.id"
        " FROM credit_notes n JOIN clubs c ON c.id = n.club_id"
        " JOIN invoices i ON i.id = n.invoice_id"
        " WHERE substr(n.issued_at, 1, 10) BETWEEN ? AND ?"
        # A credit note right after the invoice it cancels (they may share a second).
        " ORDER BY 3, sort_id, 1 DESC",
        (first.isoformat(), last.isoformat(), first.isoformat(), last.isoformat()),
    )


async def forget_issuer(conn: Connection, chat_id: int) -> int:
    """/forget: invoices and credit notes issued from the chat stay (10 years, French law) and
    stop naming it (the only change migration 014 allows them). Returns how many."""
    me = f"chat:{chat_id}"
    cursor = await conn.execute(
        "UPDATE invoices SET issued_by = 'chat:forgotten' WHERE issued_by = ?", (me,)
    )
    count = cursor.rowcount
    cursor = await conn.execute(
        "UPDATE credit_notes SET issued_by = 'chat:forgotten' WHERE issued_by = ?", (me,)
    )
    return count + cursor.rowcount
