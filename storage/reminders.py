"""Queries on renewal reminders: runs, the clubs and contacts a day's run considers, and the
per-(club, period, milestone, chat) rows whose primary key is the "exactly once" of SPEC §5."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass

from storage.db import Database

NOW = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"


@dataclass(frozen=True)
class Key:
    """What is sent exactly once."""

    club_id: int
    period_end: dt.date
    milestone: int
    chat_id: int

    def params(self) -> tuple:
        return (self.club_id, self.period_end.isoformat(), self.milestone, self.chat_id)


@dataclass(frozen=True)
class Candidate:
    """A club whose end date falls in the run's window, with one of its contacts (or none)."""

    club_id: int
    subdomain: str
    name: str
    plan: str
    active_resources: int
    subscription_ends: dt.date
    chat_id: int | None
    language: str | None
    reminders_on: bool
    active: bool
    renewed: bool  # a paid renewal for the next period exists

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Candidate:
        return cls(
            club_id=row["id"],
            subdomain=row["subdomain"],
            name=row["name"],
            plan=row["plan"],
            active_resources=row["active_resources"],
            subscription_ends=dt.date.fromisoformat(row["subscription_ends"]),
            chat_id=row["chat_id"],
            language=row["language"],
            reminders_on=bool(row["reminders_on"]),
            active=bool(row["active"]),
            renewed=bool(row["renewed"]),
        )


@dataclass(frozen=True)
class Row:
    key: Key
    status: str
    subdomain: str
    run_date: dt.date
    attempts: int
    message_id: int | None
    error: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Row:
        return cls(
            key=Key(
                row["club_id"],
                dt.date.fromisoformat(row["period_end"]),
                row["milestone"],
                row["chat_id"],
            ),
            status=row["status"],
            subdomain=row["subdomain"],
            run_date=dt.date.fromisoformat(row["run_date"]),
            attempts=row["attempts"],
            message_id=row["message_id"],
            error=row["error"],
        )


_ROWS = (
    "SELECT r.*, c.subdomain FROM reminders r JOIN clubs c ON c.id = r.club_id"
    " WHERE {where} ORDER BY r.claimed_at, r.club_id, r.chat_id"
)


# -- runs ------------------------------------------------------------------------------------


async def start_run(db: Database, run_date: dt.date, trigger: str) -> int:
    return await db.execute(
        "INSERT INTO reminder_runs (run_date, trigger) VALUES (?, ?)",
        (run_date.isoformat(), trigger),
    )


async def finish_run(db: Database, run_id: int, summary: dict, *, complete: bool = True) -> None:
    """Store the summary; a run stopped early keeps finished_at NULL (its day is not done)."""
    finished = NOW if complete else "NULL"
    await db.execute(
        f"UPDATE reminder_runs SET finished_at = {finished}, summary_json = ? WHERE id = ?",
        (json.dumps(summary, sort_keys=True), run_id),
    )


async def last_finished_run_date(db: Database) -> dt.date | None:
    """The latest day a run completed for, or None before the first one."""
    value = await db.fetchval(
        "SELECT max(run_date) FROM reminder_runs WHERE finished_at IS NOT NULL"
    )
    return dt.date.fromisoformat(value) if value else None


# -- selection -------------------------------------------------------------------------------


async def candidates(db: Database, first_end: dt.date, last_end: dt.date) -> list[Candidate]:
    """Clubs ending between the two dates (inclusive), one row per contact, or one row with no
    contact; ordered so the most urgent come first."""
    rows = await db.fetchall(
        "SELECT c.id, c.subdomain, c.name, c.plan, c.active_resources, c.subscription_ends,"
        " k.chat_id, k.language, coalesce(k.reminders_on, 0) AS reminders_on,"
        " coalesce(k.active, 0) AS active,"
        # A paid renewal invoice that extends this end date (or a later one): normally paying
        # moved subscription_ends already; this holds if a CSV import brought the old date back.
        " EXISTS (SELECT 1 FROM invoices i WHERE i.club_id = c.id AND i.kind = 'renewal'"
        "  AND i.status = 'paid' AND i.renews_end >= c.subscription_ends) AS renewed"
        " FROM clubs c LEFT JOIN contacts k ON k.club_id = c.id"
        " WHERE c.subscription_ends BETWEEN ? AND ?"
        " ORDER BY c.subscription_ends, c.id, k.verified_at",
        (first_end.isoformat(), last_end.isoformat()),
    )
    return [Candidate.from_row(row) for row in rows]


async def existing(db: Database, first_end: dt.date, last_end: dt.date) -> dict[Key, str]:
    """Every reminder row of the periods ending between the two dates: key → status."""
    rows = await db.fetchall(
        "SELECT club_id, period_end, milestone, chat_id, status FROM reminders"
        " WHERE period_end BETWEEN ? AND ?",
        (first_end.isoformat(), last_end.isoformat()),
    )
    return {
        Key(r["club_id"], dt.date.fromisoformat(r["period_end"]), r["milestone"], r["chat_id"]): r[
            "status"
        ]
        for r in rows
    }


# -- the send loop ---------------------------------------------------------------------------


async def recover_pending(db: Database) -> list[Row]:
    """Rows a dead run left 'pending' become 'unknown': the message may or may not have gone out,
    and Telegram offers no way to ask. Only call while holding the run lock."""
    async with db.transaction() as conn:
        async with conn.execute(_ROWS.format(where="r.status = 'pending'")) as cursor:
            found = [Row.from_row(row) for row in await cursor.fetchall()]
        await conn.execute(
            "UPDATE reminders SET status = 'unknown', finished_at = " + NOW + ","
            " error = 'the run ended while sending' WHERE status = 'pending'"
        )
    return found


async def claim(db: Database, key: Key, *, run_id: int, run_date: dt.date, language: str) -> bool:
    """Write the row as 'pending' before sending. False when it exists already, except a
    'failed' one (Telegram answered with an error, so nothing was delivered), claimed again."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO reminders (club_id, period_end, milestone, chat_id, run_id, run_date,"
            " language) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (club_id, period_end, milestone, chat_id) DO UPDATE SET"
            f" status = 'pending', run_id = excluded.run_id, run_date = excluded.run_date,"
            f" language = excluded.language, error = NULL, claimed_at = {NOW}, finished_at = NULL"
            " WHERE reminders.status = 'failed'",
            (*key.params(), run_id, run_date.isoformat(), language),
        )
        return cursor.rowcount == 1


async def finish(
    db: Database,
    key: Key,
    status: str,
    *,
    attempts: int,
    message_id: int | None = None,
    error: str | None = None,
) -> None:
    await db.execute(
        f"UPDATE reminders SET status = ?, message_id = ?, error = ?, finished_at = {NOW},"
        " attempts = attempts + ?"
        " WHERE club_id = ? AND period_end = ? AND milestone = ? AND chat_id = ?"
        " AND status = 'pending'",
        (status, message_id, error, attempts, *key.params()),
    )


# -- reading back ----------------------------------------------------------------------------


async def rows(db: Database, *, status: str | None = None, run_id: int | None = None) -> list[Row]:
    clauses, params = ["1"], []
    if status is not None:
        clauses.append("r.status = ?")
        params.append(status)
    if run_id is not None:
        clauses.append("r.run_id = ?")
        params.append(run_id)
    found = await db.fetchall(_ROWS.format(where=" AND ".join(clauses)), params)
    return [Row.from_row(row) for row in found]


async def count_sent_on(db: Database, day: dt.date) -> int:
    """Reminders delivered by the runs that stood for `day` (the staff daily summary)."""
    return await db.fetchval(
        "SELECT count(*) FROM reminders WHERE run_date = ? AND status = 'sent'",
        (day.isoformat(),),
    )


async def counts_on(db: Database, day: dt.date) -> dict[str, int]:
    """status → number of reminder rows of the runs that stood for `day`."""
    found = await db.fetchall(
        "SELECT status, count(*) AS n FROM reminders WHERE run_date = ? GROUP BY status",
        (day.isoformat(),),
    )
    return {row["status"]: row["n"] for row in found}


async def forget_chat(conn, chat_id: int) -> None:
    """/forget: the reminder log keeps its counts (the daily summary's figures) without the chat:
    each row gets a random number no chat has (Telegram's ids are below 2^52; these are below
    -2^60), so the table's key stays unique."""
    await conn.execute(
        "UPDATE reminders SET chat_id = -(1 << 60) - (random() & ((1 << 60) - 1))"
        " WHERE chat_id = ?",
        (chat_id,),
    )
