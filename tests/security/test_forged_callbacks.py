"""Cases 3 and 8 of issue 12: callback data a modified client forges for a message of its own chat.
Every id is checked against the chat's club, the chat's state and the object's kind before the bot
does or says anything."""

from __future__ import annotations

import re

from tests.conftest import CLUB_USER_2, Chat, sample_club, verify
from tests.security.conftest import forge_press, staff_messages

MERMOZ = sample_club("mermoz")
NUMBER = re.compile(r"OF-\d{4}-\d{6}")


async def test_staff_help_opens_only_for_a_locked_chat_and_once_per_lock(chat, telegram, bot, smtp):
    await chat.say("/start")
    await chat.say("mermoz")  # the e-mail step, not locked
    before = len(staff_messages(telegram, bot))
    await forge_press(chat, "verify:staff")
    await forge_press(chat, "verify:staff")
    assert len(staff_messages(telegram, bot)) == before
    assert "prévenue" not in chat.last()["text"]
    # "Reply to staff" with no conversation open: nothing reaches the staff group.
    await forge_press(chat, "talk:reply")
    await chat.say("Message au nom du club")
    assert len(staff_messages(telegram, bot)) == before
    assert not await bot.services.db.fetchval("SELECT count(*) FROM talks")

    for attempt in range(5):  # now actually locked
        await chat.say(f"wrong{attempt}@else.example.org")
    await chat.press("équipe")
    assert len(staff_messages(telegram, bot)) == before + 1
    for _ in range(3):  # the same lock: staff are not told again
        replies = await forge_press(chat, "verify:staff")
    # Under a message that never showed that button (issue 14, case 2): answered, nothing done.
    assert not replies and "plus à jour" in telegram.callback_answers[-1]["text"]
    assert len(staff_messages(telegram, bot)) == before + 1


async def _fee_invoice(bot, subdomain: str) -> dict:
    row = await bot.services.db.fetchone(
        "SELECT i.* FROM invoices i JOIN clubs c ON c.id = i.club_id"
        " WHERE c.subdomain = ? AND i.kind != 'renewal'",
        (subdomain,),
    )
    return dict(row)


async def test_forged_replace_touches_only_the_clubs_renewal_of_the_period(
    chat, telegram, bot, smtp
):
    # A First Price club with an intervention fee invoice open.
    await verify(chat, smtp, "lesailes")
    await chat.press("Mot de passe")
    await chat.press("aucune des deux")
    await chat.press("Confirmer la demande")
    fee = await _fee_invoice(bot, "lesailes")
    assert fee["status"] == "open"
    # Another club's renewal invoice.
    other = Chat(telegram, bot, CLUB_USER_2)
    await verify(other, smtp, "mermoz")
    await other.press("Renouveler")
    await other.press("(minimum)")
    replies = await other.press("Confirmer")
    foreign = NUMBER.search(replies[-1]["text"]).group(0)
    foreign_id = await bot.services.db.fetchval(
        "SELECT id FROM invoices WHERE number = ?", (foreign,)
    )

    await chat.say("/menu")
    await chat.press("Renouveler")
    await chat.press("(minimum)")  # the quote, with its confirm button
    count = await bot.services.db.fetchval("SELECT count(*) FROM invoices")
    replies = await forge_press(chat, f"renew:replace:{fee['id']}")
    replies += await forge_press(chat, f"renew:replace:{foreign_id}")
    assert (await _fee_invoice(bot, "lesailes"))["status"] == "open"
    statuses = await bot.services.db.fetchall("SELECT status FROM invoices")
    assert [r[0] for r in statuses].count("cancelled") == 0
    assert await bot.services.db.fetchval("SELECT count(*) FROM invoices") == count
    said = " ".join(m.get("text") or "" for m in replies) + " ".join(
        a.get("text") or "" for a in telegram.callback_answers
    )
    assert foreign not in said and fee["number"] not in said


async def test_forged_renew_of_another_club_in_a_verified_chat_says_so(
    chat_en, telegram, bot, smtp
):
    await verify(chat_en, smtp, "dublin", kind="contact_email")
    mermoz_id = await bot.services.db.fetchval("SELECT id FROM clubs WHERE subdomain = 'mermoz'")
    before = dict(await bot.services.db.fetchone("SELECT * FROM contacts"))
    replies = await forge_press(chat_en, f"renew:start:{mermoz_id}")
    text = replies[-1]["text"]
    assert "not verified for a club yet" not in text
    assert "another club" in text or "not verified for" in text
    assert dict(await bot.services.db.fetchone("SELECT * FROM contacts")) == before
    await chat_en.say("/menu")
    replies = await chat_en.press("Renew")  # still verified for Dublin, renewing Dublin
    assert "Dublin" in replies[-1]["text"]
