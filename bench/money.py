"""Money checks of the resilience runs: paying on FakeStripe's checkout page (card or SEPA Direct
Debit) as a person does, and what the database must show afterwards — above all, no money taken
unseen: every payment Stripe holds is a recorded payment or an over-payment staff were told of."""

from __future__ import annotations

from pathlib import Path

import httpx

from bench.harness import STAFF_CHAT, club_subdomain
from bot.sandbox.stripe.money import DEBIT_SUCCEEDS
from storage.db import open_database

RECEIPT = ("Paiement reçu", "Payment received")


def is_receipt(message: dict) -> bool:
    return (message.get("text") or "").lstrip("✅ ").startswith(RECEIPT)


async def pay_on_checkout(url: str, *, debit: bool = False) -> str:
    """What a person does on the checkout page: type the test card (or the test IBAN) and press
    Pay. Returns "paid", "closed" (already paid: 409), "expired" (410) or "failed"."""
    form = {
        "card_number": "4242 4242 4242 4242",
        "expiry": "12 / 34",
        "cvc": "123",
        "name": "Pilote Banc",
        "email": "pilote@example.fr",
    }
    if debit:
        form = {"iban": DEBIT_SUCCEEDS, "account_holder": "Pilote Banc"}
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        page = await client.post(url, data=form)
    return {200: "paid", 409: "closed", 410: "expired"}.get(page.status_code, "failed")


async def money_taken_unseen(db, stripe) -> list[str]:
    """Each payment Stripe holds (a paid session) that the bot recorded neither as an invoice's
    payment nor as an over-payment to refund: money a club paid that nobody would know of."""
    unseen = []
    for session in stripe.sessions.values():
        if session.get("payment_status") != "paid":
            continue
        intent = session.get("payment_intent")
        paid = await db.fetchval(
            "SELECT count(*) FROM payments WHERE reference IN (?, ?)", (intent, session["id"])
        )
        extra = await db.fetchval(
            "SELECT count(*) FROM overpayments WHERE session_id = ? AND alerted_at IS NOT NULL",
            (session["id"],),
        )
        if not paid and not extra:
            number = (session.get("metadata") or {}).get("invoice")
            unseen.append(f"{number}: {session['id']} ({session['amount_total']} cents)")
    return unseen


async def check_payments(db_path: Path, journeys: list, box) -> tuple[dict, list[str]]:
    """Card and debit payments after a run: each paid journey has one payment, its invoice paid
    once and one receipt in its chat; Stripe holds no session unknown to the bot, none paid
    twice, and every completed session is a recorded payment; every stored event was processed;
    a second try on a paid link took nothing; no money taken unseen."""
    problems: list[str] = []
    figures: dict = {}
    stripe = box.stripe
    sessions_by_number: dict[str, list[dict]] = {}
    for session in stripe.sessions.values():
        number = (session.get("metadata") or {}).get("invoice")
        sessions_by_number.setdefault(number, []).append(session)
    db = await open_database(db_path, migrate=False)
    try:
        stored = {r["id"] for r in await db.fetchall("SELECT id FROM checkout_sessions")}
        card = [j for j in journeys if j.method in ("card", "debit")]
        for j in card:
            chat = j.person.user_id
            receipts = sum(1 for m in box.telegram.bot_messages(chat) if is_receipt(m))
            if receipts > 1:
                problems.append(f"chat {chat}: {receipts} receipts")
            if not j.paid:
                continue
            invoice = await db.fetchone(
                "SELECT i.* FROM invoices i JOIN clubs c ON c.id = i.club_id"
                " WHERE c.subdomain = ? AND i.kind = 'renewal' AND i.status != 'cancelled'",
                (club_subdomain(j.club),),
            )
            if invoice is None:
                problems.append(f"chat {chat}: paid at Stripe, no live invoice")
                continue
            payments = await db.fetchall(
                "SELECT * FROM payments WHERE invoice_id = ?", (invoice["id"],)
            )
            paid_audits = await db.fetchval(
                "SELECT count(*) FROM audit WHERE action = 'invoice.paid' AND target = ?",
                (invoice["number"],),
            )
            if invoice["status"] != "paid" or len(payments) != 1 or paid_audits != 1:
                problems.append(
                    f"{invoice['number']}: {invoice['status']}, {len(payments)} payments,"
                    f" {paid_audits} invoice.paid audit lines (payment lost or doubled)"
                )
            elif payments[0]["amount_cents"] != invoice["ttc_cents"]:
                problems.append(f"{invoice['number']}: paid {payments[0]['amount_cents']} cents")
            if receipts != 1:
                problems.append(f"chat {chat}: {receipts} receipts for {invoice['number']}")
            staff = sum(
                invoice["number"] in (m.get("text") or "") and "payée" in (m.get("text") or "")
                for m in box.telegram.bot_messages(STAFF_CHAT)
            )
            if staff != 1:
                problems.append(f"{invoice['number']}: {staff} 'paid' lines in the staff group")
        complete = 0
        for number, sessions in sessions_by_number.items():
            done = [s for s in sessions if s["status"] == "complete"]
            complete += len(done)
            if len(done) > 1:
                problems.append(f"{number}: {len(done)} Checkout Sessions paid (charged twice)")
            if len(sessions) > 1:
                problems.append(f"{number}: {len(sessions)} Checkout Sessions created")
            for session in sessions:
                if session["id"] not in stored:
                    problems.append(f"{number}: session {session['id']} unknown to the bot")
            for session in done:
                if session.get("payment_status") != "paid":
                    continue  # a debit that failed or is still on its way
                payment = await db.fetchone(
                    "SELECT p.reference FROM payments p JOIN invoices i ON i.id = p.invoice_id"
                    " WHERE i.number = ?",
                    (number,),
                )
                if payment is None or payment["reference"] != session["payment_intent"]:
                    problems.append(f"{number}: Stripe payment {session['id']} not recorded")
        unprocessed = await db.fetchval(
            "SELECT count(*) FROM stripe_events WHERE processed_at IS NULL"
        )
        if unprocessed:
            problems.append(f"{unprocessed} Stripe events stored but never processed")
        unnotified = await db.fetchval("SELECT count(*) FROM payments WHERE notified_at IS NULL")
        if unnotified:
            problems.append(f"{unnotified} payments with receipts or staff line still unsent")
        actors = await db.fetchall(
            "SELECT CASE WHEN actor LIKE 'stripe:evt_%' THEN 'webhook' ELSE actor END AS by,"
            " count(*) AS n FROM payments WHERE method = 'card' GROUP BY by"
        )
        unseen = await money_taken_unseen(db, stripe)
        problems += [f"money taken unseen: {line}" for line in unseen]
        second = [j.second_try for j in card if j.second_try]
        problems += [
            f"chat {j.person.user_id}: paying the paid link again gave {j.second_try!r}"
            for j in card
            if j.second_try not in (None, "closed", "expired")
        ]
        figures.update(
            card_journeys=sum(j.method == "card" for j in card),
            debit_journeys=sum(j.method == "debit" for j in card),
            second_tries={k: second.count(k) for k in sorted(set(second))},
            money_taken_unseen=len(unseen),
            overpayments=await db.fetchval("SELECT count(*) FROM overpayments"),
            card_completed=sum(j.done for j in card),
            paid_at_stripe=sum(1 for j in card if j.paid),
            sessions_created=len(stripe.sessions),
            sessions_complete=complete,
            payments=await db.fetchval("SELECT count(*) FROM payments WHERE method = 'card'"),
            payments_by=dict((r["by"], r["n"]) for r in actors),
            events=len(stripe.events),
            failed_deliveries=sum(1 for d in stripe.deliveries if not d["ok"]),
            events_stored=await db.fetchval("SELECT count(*) FROM stripe_events"),
        )
    finally:
        await db.close()
    return figures, problems
