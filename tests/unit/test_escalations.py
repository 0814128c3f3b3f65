"""Escalations, relay storage and staff views without Telegram: fees and invoices, guarded status
changes (two staff at once), the record change with its audit row, /forget, manual payments."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest

from bot import escalations, privacy, relay, staff
from bot.clock import Clock
from bot.clubs import import_clubs, read_clubs_file
from bot.escalations import NewEmailProblem
from bot.mail import Mailer
from bot.payments import record_payment
from bot.runtime import load_catalogue
from bot.services import Services
from bot.settings import Settings
from bot.texts import Texts
from storage import clubs as club_rows
from storage import relay as relay_rows
from tests.conftest import SAMPLE_CLUBS, sample_club

STAFF_CHAT = -1009
ALICE, BRUNO = 9001, 9002
CHAT = 1001


@pytest.fixture
async def services(tmp_path):
    settings = Settings(
        db=tmp_path / "e.sqlite3", staff_chat_id=STAFF_CHAT, staff_user_ids=frozenset({ALICE})
    )
    from storage.db import open_database

    db = await open_database(settings.db)
    catalogue = load_catalogue(settings)
    await import_clubs(db, read_clubs_file(SAMPLE_CLUBS), set(catalogue.plans))
    yield Services(
        settings=settings,
        db=db,
        texts=Texts(),
        clock=Clock(settings.tz),
        mailer=Mailer(settings),
        catalogue=catalogue,
    )
    await db.close()


async def club(services, subdomain):
    return await club_rows.get_by_subdomain(services.db, subdomain)


async def open_request(services, subdomain, kind="password_reset", **extra):
    return await escalations.request_intervention(
        services,
        await club(services, subdomain),
        chat_id=CHAT,
        user_id=CHAT,
        requester="Jeanne",
        lang="fr",
        kind=kind,
        **extra,
    )


async def audit_rows(services, action):
    rows = await services.db.fetchall("SELECT * FROM audit WHERE action = ? ORDER BY id", (action,))
    return [dict(row) for row in rows]


async def test_business_request_is_free_and_audited(services):
    opened = await open_request(services, "mermoz")
    assert opened.created and opened.invoice is None
    assert opened.escalation.fee == "free" and opened.escalation.status == "open"
    [row] = await audit_rows(services, "escalation.open")
    assert row["actor"] == f"chat:{CHAT}" and row["target"] == f"escalation:{opened.escalation.id}"
    assert "chat_id" not in json.loads(row["after_json"])  # the person is not in the audit


async def test_first_price_request_is_invoiced_once(services):
    fee = escalations.intervention_quote(
        services, await club(services, "lesailes"), "password_reset"
    )
    assert fee is not None and fee.ht_cents == 3000 and fee.ttc_cents == 3600
    opened = await open_request(services, "lesailes")
    invoice = opened.invoice
    assert opened.escalation.fee == "due" and opened.escalation.invoice_id == invoice.id
    assert invoice.kind == "intervention" and invoice.ttc_cents == 3600
    assert invoice.escalation_id == opened.escalation.id and invoice.is_open
    again = await open_request(services, "lesailes")  # confirm pressed twice
    assert not again.created and again.escalation.id == opened.escalation.id
    assert again.invoice.id == invoice.id
    assert await services.db.fetchval("SELECT count(*) FROM invoices") == 1


async def test_two_contacts_confirming_at_once_open_one_request(services):
    first, second = await asyncio.gather(
        open_request(services, "icare"), open_request(services, "icare")
    )
    assert first.escalation.id == second.escalation.id
    assert sorted([first.created, second.created]) == [False, True]
    assert await services.db.fetchval("SELECT count(*) FROM escalations") == 1
    assert await services.db.fetchval("SELECT count(*) FROM invoices") == 1


async def test_two_staff_taking_at_once_one_wins(services):
    opened = await open_request(services, "mermoz")
    a, b = await asyncio.gather(
        escalations.take(services, opened.escalation.id, ALICE, "Alice"),
        escalations.take(services, opened.escalation.id, BRUNO, "Bruno"),
    )
    assert sorted([a.ok, b.ok]) == [False, True]
    loser = b if a.ok else a
    assert loser.why == "taken" and loser.escalation.taken_by_name in ("Alice", "Bruno")
    again = await escalations.take(services, opened.escalation.id, ALICE, "Alice")
    assert not again.ok and again.why in ("mine", "taken")


async def test_done_waits_for_the_fee_then_the_payment_unlocks_it(services):
    opened = await open_request(services, "lesailes")
    escalation_id = opened.escalation.id
    refused = await escalations.complete(services, escalation_id, ALICE, "Alice")
    assert not refused.ok and refused.why == "fee_due"
    result = await record_payment(services, opened.invoice.number, "transfer", f"staff:{ALICE}")
    assert result.status == "paid"
    paid = await escalations.get_escalation(services, escalation_id)
    assert paid.fee == "paid" and paid.status == "open"
    [row] = await audit_rows(services, "escalation.fee_paid")
    assert json.loads(row["after_json"])["invoice"] == opened.invoice.number
    again = await record_payment(services, opened.invoice.number, "cheque", f"staff:{ALICE}")
    assert again.status == "already_paid"
    done = await escalations.complete(services, escalation_id, ALICE, "Alice")
    assert done.ok and done.escalation.status == "done" and done.escalation.closed_by == ALICE


async def test_email_change_done_changes_the_record_with_an_audit_row(services):
    mermoz = await club(services, "mermoz")
    new = escalations.check_new_email(
        mermoz, "structure_email", " Nouveau.Bureau@Mermoz.example.fr "
    )
    opened = await open_request(
        services, "mermoz", kind="email_update", email_field="structure_email", new_email=new
    )
    decision = await escalations.complete(services, opened.escalation.id, ALICE, "Alice")
    assert decision.ok
    assert (await club(services, "mermoz")).structure_email == new
    [row] = await audit_rows(services, "club.update")
    assert row["actor"] == f"staff:{ALICE}" and row["target"] == "mermoz"
    assert json.loads(row["before_json"]) == {
        "structure_email": sample_club("mermoz")["structure_email"]
    }
    assert json.loads(row["after_json"]) == {"structure_email": new}
    [done] = await audit_rows(services, "escalation.done")
    assert json.loads(done["after_json"])["status"] == "done"


async def test_refusal_keeps_the_record_and_cancels_an_unpaid_fee(services):
    opened = await open_request(
        services,
        "icare",
        kind="email_update",
        email_field="contact_email",
        new_email="autre@icare.example.fr",
    )
    decision = await escalations.refuse(
        services, opened.escalation.id, ALICE, "Alice", "Adresse inconnue du bureau"
    )
    assert decision.ok and decision.escalation.refusal_reason == "Adresse inconnue du bureau"
    assert (await club(services, "icare")).contact_email == sample_club("icare")["contact_email"]
    status = await services.db.fetchval(
        "SELECT status FROM invoices WHERE id = ?", (opened.invoice.id,)
    )
    assert status == "cancelled"
    late = await escalations.complete(services, opened.escalation.id, ALICE, "Alice")
    assert not late.ok and late.why == "closed"
    # A new request on the same subject may be opened once the old one is closed.
    assert (
        await open_request(
            services,
            "icare",
            kind="email_update",
            email_field="contact_email",
            new_email="x@icare.example.fr",
        )
    ).created


@pytest.mark.parametrize(
    "typed, reason",
    [
        ("not an address", "invalid"),
        ("a@b", "invalid"),
        ("", "invalid"),
        ("BUREAU@mermoz.example.fr", "same"),
    ],
)
async def test_new_address_is_validated(services, typed, reason):
    with pytest.raises(NewEmailProblem) as problem:
        escalations.check_new_email(await club(services, "mermoz"), "structure_email", typed)
    assert problem.value.reason == reason


async def test_pending_refusal_is_remembered_per_staff_member_and_chat(services):
    opened = await open_request(services, "mermoz")
    await escalations.ask_refusal_reason(services, opened.escalation.id, ALICE, STAFF_CHAT, 77)
    pending = await escalations.pending_refusal(services, ALICE, STAFF_CHAT)
    assert pending.escalation_id == opened.escalation.id and pending.prompt_message_id == 77
    assert await escalations.pending_refusal(services, BRUNO, STAFF_CHAT) is None
    await escalations.refuse(
        services, opened.escalation.id, ALICE, "Alice", "non", chat_id=STAFF_CHAT
    )
    assert await escalations.pending_refusal(services, ALICE, STAFF_CHAT) is None
    # A "refuse" left unanswered for long is forgotten rather than eating a later message.
    other = await open_request(services, "lesailes")
    await escalations.ask_refusal_reason(services, other.escalation.id, BRUNO, STAFF_CHAT, 78)
    services.clock.advance(dt.timedelta(seconds=escalations.REFUSAL_TTL + 1))
    assert await escalations.pending_refusal(services, BRUNO, STAFF_CHAT) is None


async def test_relay_pairs_route_back_and_forget_removes_them(services):
    mermoz = await club(services, "mermoz")
    talk, opened = await relay_rows.open_talk(
        services.db, chat_id=CHAT, user_id=CHAT, club_id=mermoz.id, verified=True, lang="en"
    )
    same, again = await relay_rows.open_talk(
        services.db, chat_id=CHAT, user_id=CHAT, club_id=mermoz.id, verified=True, lang="fr"
    )
    assert opened and not again and same.id == talk.id and same.lang == "fr"
    await relay_rows.add_pair(
        services.db,
        staff_chat_id=STAFF_CHAT,
        staff_message_id=10,
        club_chat_id=CHAT,
        club_message_id=5,
        kind="club",
        talk_id=talk.id,
    )
    target = await relay.target_of(services, STAFF_CHAT, 10)
    assert (target.club_chat_id, target.club_message_id, target.talk_id) == (CHAT, 5, talk.id)
    assert await relay.target_of(services, STAFF_CHAT, 11) is None
    await open_request(services, "mermoz")
    done = await privacy.forget_person(services, None, CHAT)
    assert (done.messages, done.talks, done.requests) == (1, 1, 1)
    assert await relay.target_of(services, STAFF_CHAT, 10) is None
    assert await relay.current_talk(services, CHAT) is None
    row = await services.db.fetchone("SELECT chat_id, requester FROM escalations")
    assert row["chat_id"] is None and row["requester"] is None
    [audit] = await audit_rows(services, "relay.forgotten")
    assert audit["actor"] == "chat:forgotten"  # the audit keeps what, not who


async def test_closing_a_talk_happens_once(services):
    talk, _ = await relay_rows.open_talk(
        services.db, chat_id=CHAT, user_id=CHAT, club_id=None, verified=False, lang="fr"
    )
    closed = await relay.close_talk(services, talk.id, f"staff:{ALICE}")
    assert closed.status == "closed"
    assert await relay.close_talk(services, talk.id, f"staff:{BRUNO}") is None
    assert len(await audit_rows(services, "talk.close")) == 1


async def test_staff_views_count_what_is_pending(services):
    await open_request(services, "mermoz")
    fee = await open_request(services, "lesailes")
    pending = await staff.pending_view(services)
    assert pending["escalations_total"] == 2 and pending["invoices_total"] == 1
    assert pending["invoices"][0]["number"] == fee.invoice.number
    figures = await staff.stats_view(services)
    assert figures["clubs"] == await services.db.fetchval("SELECT count(*) FROM clubs") > 0
    assert figures["escalations"]["open"] == 2 and figures["invoices"]["open"]["count"] == 1
    assert staff.read_method("Virement") == "transfer" and staff.read_method("chèque") == "cheque"
    assert staff.read_method("cash") is None
    summary = await staff.daily_summary(services, services.clock.today())
    assert summary["escalations_open"] == 2 and summary["open_invoices"]["count"] == 1
    text = services.texts.render(
        "fr",
        "staff/daily_summary",
        day=summary["day"],
        reminders=summary["reminders"],
        renewals=summary["renewals"],
        open_invoices=summary["open_invoices"],
        escalations_open=summary["escalations_open"],
        escalations_taken=summary["escalations_taken"],
        talks=summary["talks"],
    )
    assert "Demandes ouvertes : 2" in text


async def test_club_view_and_lookup_by_any_address_form(services):
    found, _ = await staff.find_club(services, "https://mermoz.openflyers.fr/x")
    assert found.subdomain == "mermoz"
    missing, suggestions = await staff.find_club(services, "mermos")
    assert missing is None and ("mermoz", sample_club("mermoz")["name"]) in suggestions
    view = await staff.club_view(services, found)
    assert view["contacts"] == 0 and view["club"]["plan_label"] == "Business"
