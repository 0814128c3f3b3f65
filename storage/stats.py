"""Read-only counts across aggregates for the staff views (/stats, /pending, the daily summary).

Nothing here writes; each query reads the tables their own modules maintain."""

from __future__ import annotations

import datetime as dt

from storage.db import Database


async def clubs(db: Database) -> int:
    return await db.fetchval("SELECT count(*) FROM clubs")


async def verified_contacts(db: Database, club_id: int | None = None) -> int:
    """Active verified chats (all clubs, or one)."""
    if club_id is None:
        return await db.fetchval("SELECT count(*) FROM contacts WHERE active = 1")
    return await db.fetchval(
        "SELECT count(*) FROM contacts WHERE active = 1 AND club_id = ?", (club_id,)
    )


async def invoices_by_status(db: Database) -> dict[str, dict[str, int]]:
    """{status: {"count": n, "ttc_cents": sum}} for open, paid and cancelled invoices."""
    rows = await db.fetchall(
        "SELECT status, count(*) AS n, coalesce(sum(ttc_cents), 0) AS total"
        " FROM invoices GROUP BY status"
    )
    found = {s: {"count": 0, "ttc_cents": 0} for s in ("open", "paid", "cancelled")}
    for row in rows:
        found[row["status"]] = {"count": row["n"], "ttc_cents": row["total"]}
    return found


async def renewals_paid_on(db: Database, day: dt.date) -> dict[str, int]:
    """Renewal invoices whose payment was recorded on `day` (local date of `paid_at`)."""
    row = await db.fetchone(
        "SELECT count(*) AS n, coalesce(sum(i.ttc_cents), 0) AS total FROM payments p"
        " JOIN invoices i ON i.id = p.invoice_id"
        " WHERE i.kind = 'renewal' AND substr(p.paid_at, 1, 10) = ?",
        (day.isoformat(),),
    )
    return {"count": row["n"], "ttc_cents": row["total"]}


async def open_talks(db: Database) -> int:
    return await db.fetchval("SELECT count(*) FROM talks WHERE status = 'open'")


async def metrics_figures(db: Database) -> dict:
    """What GET /metrics reads at each scrape: open invoices (count, TTC cents), open escalations
    by status, reminders by status, Stripe events by (type, outcome; 'pending' when unprocessed)."""
    invoices = await db.fetchone(
        "SELECT count(*) AS n, coalesce(sum(ttc_cents), 0) AS total FROM invoices"
        " WHERE status = 'open'"
    )
    escalations = await db.fetchall(
        "SELECT status, count(*) AS n FROM escalations WHERE status IN ('open', 'taken')"
        " GROUP BY status"
    )
    reminders = await db.fetchall("SELECT status, count(*) AS n FROM reminders GROUP BY status")
    events = await db.fetchall(
        "SELECT type, coalesce(outcome, CASE WHEN processed_at IS NULL THEN 'pending'"
        " ELSE 'processed' END) AS outcome, count(*) AS n FROM stripe_events GROUP BY 1, 2"
    )
    return {
        "invoices": invoices["n"],
        "invoices_cents": invoices["total"],
        "escalations": {row["status"]: row["n"] for row in escalations},
        "reminders": {row["status"]: row["n"] for row in reminders},
        "stripe_events": {(row["type"], row["outcome"]): row["n"] for row in events},
    }
