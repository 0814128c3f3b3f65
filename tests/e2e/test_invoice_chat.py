"""Invoices and credit notes in the chat: a contact gets only its own club's documents, whatever
callback data a modified client sends (an id of another club's credit note, an absurd id)."""

from __future__ import annotations

import re

from bot import invoices
from storage import clubs as club_rows
from tests.conftest import verify
from tests.security.conftest import forge_press

NUMBER = re.compile(r"OF-\d{4}-\d{6}")


async def _credit_note_of_another_club(bot) -> int:
    services = bot.services
    club = await club_rows.get_by_subdomain(services.db, "icare")
    issued = await invoices.issue_renewal(
        services, club_id=club.id, plan_id="first_price", resources=3, actor="test"
    )
    note = await invoices.cancel_invoice(services, issued.invoice.id, actor="staff:1")
    return note.id


async def test_another_clubs_credit_note_is_never_sent(chat, telegram, bot, smtp):
    note_id = await _credit_note_of_another_club(bot)
    await verify(chat, smtp)
    await chat.press("Mes factures")
    for data in (f"creditnote:{note_id}", "creditnote:99999999999999999999", "creditnote:0"):
        replies = await forge_press(chat, data)
        assert not any("document" in message for message in replies), replies
    assert not any("document" in m for m in telegram.bot_messages(chat.chat_id))


async def test_staff_see_credit_notes_in_club(chat, smtp, bot, alice):
    await verify(chat, smtp)
    await chat.press("Renouveler")
    await chat.press("(minimum)")
    first = NUMBER.search((await chat.press("Confirmer"))[-1]["text"]).group(0)
    await chat.say("/menu")
    await chat.press("Renouveler")
    await chat.say("6")
    await chat.press("Confirmer")
    await chat.press("Remplacer")
    text = (await alice.say("/club mermoz"))[-1]["text"]
    assert "Avoirs :" in text and "AV-2026-000001 — 720,00\u00a0€ TTC" in text
    assert f"annule {first}" in text
