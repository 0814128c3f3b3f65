"""Queries on payments, Stripe Checkout Sessions and stored Stripe events.

A payment row is unique per invoice: whoever records it first wins, the others see it."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from storage import audit
from storage.db import Connection, Database

MESSAGE_SENT = "payment.message_sent"


@dataclass(frozen=True)
class Payment:
    id: int
    invoice_id: int
    method: str
    amount_cents: int
    reference: str | None
    actor: str
    paid_at: str
    notified_at: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Payment:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    invoice_id: int
    attempt: int
    url: str | None
    status: str
    expires_at: int
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> CheckoutSession:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


def _conn(source: Database | Connection) -> Connection:
    return source.conn if isinstance(source, Database) else source


async def _one(source, sql: str, params: tuple) -> sqlite3.Row | None:
    async with _conn(source).execute(sql, params) as cursor:
        return await cursor.fetchone()


async def _all(source, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    async with _conn(source).execute(sql, params) as cursor:
        return list(await cursor.fetchall())


# --- payments ---------------------------------------------------------------------------------


async def for_invoice(source: Database | Connection, invoice_id: int) -> Payment | None:
    row = await _one(source, "SELECT * FROM payments WHERE invoice_id = ?", (invoice_id,))
    return Payment.from_row(row) if row else None


async def insert(
    conn: Connection,
    *,
    invoice_id: int,
    method: str,
    amount_cents: int,
    reference: str | None,
    actor: str,
    paid_at: str,
) -> int:
    cursor = await conn.execute(
        "INSERT INTO payments (invoice_id, method, amount_cents, reference, actor, paid_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (invoice_id, method, amount_cents, reference, actor, paid_at),
    )
    return cursor.lastrowid


async def get(db: Database, payment_id: int) -> Payment | None:
    row = await _one(db, "SELECT * FROM payments WHERE id = ?", (payment_id,))
    return Payment.from_row(row) if row else None


async def mark_notified(db: Database, payment_id: int, at: str) -> None:
    await db.execute("UPDATE payments SET notified_at = ? WHERE id = ?", (at, payment_id))


async def record_message_sent(db: Database, payment_id: int, club_id: int, recipient: str) -> None:
    """One line per receipt (`recipient` "chat:<id>") or staff line ("staff") sent for a payment,
    written as soon as it is sent: a restart sends again only what was not."""
    async with db.transaction() as conn:
        await audit.record(
            conn,
            actor="bot",
            action=MESSAGE_SENT,
            club_id=club_id,
            target=f"payment:{payment_id}:{recipient}",
        )


async def messages_sent(db: Database, payment_id: int, club_id: int) -> set[str]:
    """The recipients already sent a message about this payment (see record_message_sent)."""
    prefix = f"payment:{payment_id}:"
    rows = await db.fetchall(
        "SELECT target FROM audit WHERE club_id = ? AND action = ? AND substr(target, 1, ?) = ?",
        (club_id, MESSAGE_SENT, len(prefix), prefix),
    )
    return {row["target"][len(prefix) :] for row in rows}


async def unnotified(db: Database) -> list[Payment]:
    rows = await db.fetchall("SELECT * FROM payments WHERE notified_at IS NULL ORDER BY id")
    return [Payment.from_row(row) for row in rows]


# --- checkout sessions ------------------------------------------------------------------------


async def latest_session(db: Database, invoice_id: int) -> CheckoutSession | None:
    row = await _one(
        db,
        "SELECT * FROM checkout_sessions WHERE invoice_id = ? ORDER BY attempt DESC LIMIT 1",
        (invoice_id,),
    )
    return CheckoutSession.from_row(row) if row else None


async def open_session_ids(db: Database, invoice_id: int) -> list[str]:
    rows = await _all(
        db,
        "SELECT id FROM checkout_sessions WHERE invoice_id = ? AND status = 'open'",
        (invoice_id,),
    )
    return [row["id"] for row in rows]


async def get_session(db: Database, session_id: str) -> CheckoutSession | None:
    row = await _one(db, "SELECT * FROM checkout_sessions WHERE id = ?", (session_id,))
    return CheckoutSession.from_row(row) if row else None


async def save_session(
    db: Database,
    *,
    session_id: str,
    invoice_id: int,
    attempt: int,
    url: str | None,
    status: str,
    expires_at: int,
    created_at: str,
) -> None:
    """Store a session as Stripe returned it; a second store of the same id changes nothing."""
    await db.execute(
        "INSERT INTO checkout_sessions (id, invoice_id, attempt, url, status, expires_at,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (session_id, invoice_id, attempt, url, status, expires_at, created_at),
    )


async def set_session_status(source: Database | Connection, session_id: str, status: str) -> None:
    """Move a session on; a completed session never goes back to open or expired."""
    sql = (
        "UPDATE checkout_sessions SET status = ?, url = CASE WHEN ? = 'open' THEN url END"
        " WHERE id = ? AND status != 'complete'"
    )
    # Database.execute runs it in its own transaction; a connection is the caller's transaction.
    await source.execute(sql, (status, status, session_id))


async def mark_session_failed(db: Database, session_id: str) -> bool:
    """Open or pending → failed (its delayed payment failed); False when it was not (told already,
    or complete)."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE checkout_sessions SET status = 'failed', url = NULL"
            " WHERE id = ? AND status IN ('open', 'pending')",
            (session_id,),
        )
        return cursor.rowcount == 1


async def has_pending_session(source: Database | Connection, invoice_id: int) -> bool:
    """Whether a delayed payment (SEPA Direct Debit…) of the invoice is on its way."""
    row = await _one(
        source,
        "SELECT 1 FROM checkout_sessions WHERE invoice_id = ? AND status = 'pending' LIMIT 1",
        (invoice_id,),
    )
    return row is not None


async def open_sessions(db: Database) -> list[CheckoutSession]:
    rows = await db.fetchall(
        "SELECT * FROM checkout_sessions WHERE status IN ('open', 'pending') ORDER BY id"
    )
    return [CheckoutSession.from_row(row) for row in rows]


# --- stripe events ----------------------------------------------------------------------------


async def store_event(db: Database, event_id: str, event_type: str, payload: str) -> bool:
    """Keep an event as received; True when it was new."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT OR IGNORE INTO stripe_events (id, type, payload) VALUES (?, ?, ?)",
            (event_id, event_type, payload),
        )
        return cursor.rowcount == 1


async def get_event(db: Database, event_id: str) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM stripe_events WHERE id = ?", (event_id,))


async def mark_event_processed(
    source: Database | Connection, event_id: str, at: str, outcome: str
) -> None:
    sql = (
        "UPDATE stripe_events SET processed_at = ?, outcome = ?"
        " WHERE id = ? AND processed_at IS NULL"
    )
    await source.execute(sql, (at, outcome, event_id))


async def unprocessed_events(db: Database) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT id, type, payload FROM stripe_events WHERE processed_at IS NULL"
        " ORDER BY received_at, id"
    )


# --- invoice keys -----------------------------------------------------------------------------


async def invoice_key(db: Database, invoice_id: int, new_key: str) -> str:
    """The invoice's payment key, stored with `new_key` the first time it is asked for."""
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT OR IGNORE INTO invoice_payment_keys (invoice_id, key) VALUES (?, ?)",
            (invoice_id, new_key),
        )
        row = await _one(
            conn, "SELECT key FROM invoice_payment_keys WHERE invoice_id = ?", (invoice_id,)
        )
    return row["key"]


async def invoice_for_key(db: Database, key: str) -> int | None:
    row = await _one(db, "SELECT invoice_id FROM invoice_payment_keys WHERE key = ?", (key,))
    return row["invoice_id"] if row else None


async def live_sessions(db: Database, invoice_id: int) -> list[CheckoutSession]:
    """The invoice's sessions that may still take or bring money: open or pending."""
    rows = await _all(
        db,
        "SELECT * FROM checkout_sessions WHERE invoice_id = ? AND status IN ('open', 'pending')"
        " ORDER BY attempt",
        (invoice_id,),
    )
    return [CheckoutSession.from_row(row) for row in rows]


# --- over-payments ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Overpayment:
    id: int
    session_id: str
    invoice_id: int | None
    payment_intent: str | None
    amount_cents: int
    currency: str
    reason: str
    recorded_at: str
    alerted_at: str | None
    refund_id: str | None
    refund_status: str | None
    refunded_by: str | None
    refunded_at: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Overpayment:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


async def record_overpayment(
    db: Database,
    *,
    session_id: str,
    invoice_id: int | None,
    payment_intent: str | None,
    amount_cents: int,
    currency: str,
    reason: str,
    at: str,
) -> Overpayment:
    """Once per session (a replayed event finds the first record)."""
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT OR IGNORE INTO overpayments (session_id, invoice_id, payment_intent,"
            " amount_cents, currency, reason, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session_id, invoice_id, payment_intent, amount_cents, currency, reason, at),
        )
        row = await _one(conn, "SELECT * FROM overpayments WHERE session_id = ?", (session_id,))
    return Overpayment.from_row(row)


async def get_overpayment(db: Database, overpayment_id: int) -> Overpayment | None:
    row = await _one(db, "SELECT * FROM overpayments WHERE id = ?", (overpayment_id,))
    return Overpayment.from_row(row) if row else None


async def unalerted_overpayments(db: Database) -> list[Overpayment]:
    rows = await _all(db, "SELECT * FROM overpayments WHERE alerted_at IS NULL ORDER BY id")
    return [Overpayment.from_row(row) for row in rows]


async def mark_overpayment_alerted(db: Database, overpayment_id: int, at: str) -> None:
    await db.execute(
        "UPDATE overpayments SET alerted_at = ? WHERE id = ? AND alerted_at IS NULL",
        (at, overpayment_id),
    )


async def claim_refund(
    db: Database, overpayment_id: int, actor: str, *, now: int, stale_before: int
) -> int | None:
    """The one staff press that starts a refund attempt: its number (1, 2, …: one per press, its
    own idempotency key); None when one was started already (claimed at `stale_before` unix
    seconds or later: it may still be running) or succeeded. An older claim, or one from before
    migration 024, was left by a process that died mid-attempt: it is taken again."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE overpayments SET refund_status = 'requested', refunded_by = ?,"
            " refund_attempts = refund_attempts + 1, refund_claimed_at = ?"
            " WHERE id = ? AND (refund_status IS NULL OR refund_status = 'failed'"
            " OR (refund_status = 'requested'"
            " AND (refund_claimed_at IS NULL OR refund_claimed_at < ?)))",
            (actor, now, overpayment_id, stale_before),
        )
        if cursor.rowcount != 1:
            return None
        cursor = await conn.execute(
            "SELECT refund_attempts FROM overpayments WHERE id = ?", (overpayment_id,)
        )
        return (await cursor.fetchone())[0]


async def set_refund(
    db: Database, overpayment_id: int, *, refund_id: str | None, status: str, at: str | None
) -> None:
    await db.execute(
        "UPDATE overpayments SET refund_id = COALESCE(?, refund_id), refund_status = ?,"
        " refunded_at = COALESCE(?, refunded_at) WHERE id = ?",
        (refund_id, status, at, overpayment_id),
    )


async def overpayment_for_session(db: Database, session_id: str) -> Overpayment | None:
    row = await _one(db, "SELECT * FROM overpayments WHERE session_id = ?", (session_id,))
    return Overpayment.from_row(row) if row else None
