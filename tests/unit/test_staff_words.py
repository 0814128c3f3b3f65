"""Staff texts say things in words (issue 18): the reminders summary, /pending and /club name the
reasons, statuses and invoice kinds in the staff language, and a payment recorded by hand names
the staff member, not `staff:9001`."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from bot.payments import record_payment
from bot.reminders.summary import Problem, Summary, report_to_staff
from bot.texts import Texts
from tests.unit.test_invoices import renew, services_on
from tests.unit.test_payments import FakeBot

STAFF_CHAT = -1001234567890


@pytest.fixture
async def services(tmp_path):
    async with services_on(tmp_path) as built:
        settings = dataclasses.replace(built.settings, staff_chat_id=STAFF_CHAT)
        yield dataclasses.replace(built, settings=settings)


class RecordingBot(FakeBot):
    async def send_message(self, chat_id, text, **kwargs):
        self.sent.append((chat_id, text))


async def test_reminders_summary_names_reasons_and_statuses_in_words(services):
    summary = Summary(today=dt.date(2026, 11, 26))
    summary.due = 3
    summary.skipped.update({"no_contact": 2, "reminders_off": 1, "renewed": 1})
    summary.counts.update({"sent": 1, "blocked": 1})
    summary.by_milestone[7] = summary.counts.copy()
    summary.problems.append(
        Problem("mermoz", 7, 1001, "blocked", "Forbidden: bot was blocked by the user")
    )
    bot = RecordingBot()
    await report_to_staff(services, bot, summary)
    [(chat_id, text)] = bot.sent
    assert chat_id == STAFF_CHAT
    assert "sans contact vérifié : 2" in text and "rappels coupés : 1" in text
    assert "déjà renouvelés : 1" in text and "J-7 : 1 envoyé, 1 bloqué" in text
    assert "<code>mermoz</code> J-7, conversation 1001 : bloqué — Forbidden" in text
    for code in ("no_contact", "reminders_off", "renewed", "1 blocked", "chat 1001"):
        assert code not in text


def test_the_english_summary_uses_words_too():
    text = Texts().render(
        "en",
        "reminders/staff_summary",
        today=dt.date(2026, 11, 26),
        sent=0,
        skipped={"no_contact": 1, "not_reached": 2},
        failed=0,
        blocked=0,
        unknown=1,
        recovered=0,
        milestones=[("J-7", {"unknown": 1})],
        problems=[],
        more=0,
    )
    assert "no verified contact: 1" in text and "not reached (run interrupted): 2" in text
    assert "J-7: 0 sent, 1 unknown" in text and "no_contact" not in text


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_pending_shows_invoice_kinds_in_words(lang):
    invoice = {
        "number": "OF-2026-000001",
        "kind": "renewal",
        "amount": 93600,
        "issued": dt.date(2026, 11, 26),
        "subdomain": "mermoz",
    }
    texts = Texts()
    pending = texts.render(
        lang,
        "staff/pending",
        escalations=[],
        escalations_total=0,
        invoices=[invoice],
        invoices_total=1,
        open_amount=93600,
    )
    if lang == "fr":
        assert "— renouvellement," in pending and "renewal" not in pending
    else:
        assert "— renewal," in pending


async def test_a_payment_recorded_by_hand_names_the_staff_member(services):
    invoice = (await renew(services, count=6)).invoice
    bot = RecordingBot()
    await record_payment(services, invoice.number, "transfer", "staff:9001", bot=bot)
    [staff_line] = [text for chat_id, text in bot.sent if chat_id == STAFF_CHAT]
    assert "enregistrée par Staff 9001" in staff_line
    assert "staff:9001" not in staff_line
    assert "virement" in staff_line
