"""Case 6 of issue 12: after `/forget` nothing in the database identifies the person (chat id,
user id, name, the personal address a request carried), invoices stay without them, and the
staff group's copies of their messages are gone."""

from __future__ import annotations

import re

from tests.conftest import STAFF_CHAT, STAFF_USERS, Chat, read_code, sample_club

MERMOZ = sample_club("mermoz")
PERSON = 7_123_456_789
NAME = "Zébulon"
PERSONAL = "zebulon.perso@example.org"
SECRET_WORDS = "Mon numéro perso est le 06 12 34 56 78"
REQUEST = re.compile(r"(?:n°|no\.) (\d+)")

# Tables a keyed hash of the chat lives in for an hour's limits (docs/SECURITY.md), and the
# migrations' own bookkeeping.
NOT_PERSONAL = {"schema_migrations", "verification_attempts"}


async def _everything(db) -> list[tuple[str, str]]:
    """(table, every value of a row as text) for every row of every table."""
    tables = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    found = []
    for (table,) in tables:
        if table in NOT_PERSONAL or table.startswith("sqlite_"):
            continue
        for row in await db.fetchall(f'SELECT * FROM "{table}"'):
            found.append((table, " | ".join(str(v) for v in tuple(row))))
    return found


async def test_forget_leaves_nothing_that_identifies_the_person(bot, telegram, smtp, alice):
    telegram.add_user(PERSON, NAME, language_code="fr", username="zebulon_z")
    chat = Chat(telegram, bot, PERSON)
    await chat.say("/start mermoz")
    await chat.say("faux@example.org")  # a wrong address: counted
    await chat.say(MERMOZ["structure_email"])
    await chat.say(await read_code(smtp, MERMOZ["structure_email"]))
    # A conversation with staff.
    await chat.press("Parler à l’équipe")
    await chat.say(SECRET_WORDS)
    await chat.say("/menu")
    # An invoice issued from this chat.
    await chat.press("Renouveler")
    await chat.press("(minimum)")
    await chat.press("Confirmer")
    await chat.say("/menu")
    # A request carrying a personal address, refused by staff.
    await chat.press("Changer les e-mails")
    await chat.press("E-mail du contact")
    await chat.say(PERSONAL)
    replies = await chat.press("Confirmer la demande")
    escalation_id = int(REQUEST.search(" ".join(m["text"] for m in replies)).group(1))
    card = next(
        m
        for m in telegram.bot_messages(STAFF_CHAT)
        if (m.get("text") or "").startswith(f"🛎 Demande n° {escalation_id} ")
    )
    prompt = (await alice.press("Refuser", card))[-1]
    await telegram.send_text(
        STAFF_USERS[0], "Inconnue", chat_id=STAFF_CHAT, reply_to_message_id=prompt["message_id"]
    )
    await bot.idle()
    invoices_before = await bot.services.db.fetchval("SELECT count(*) FROM invoices")
    # A reminder an `ofbot reminders run` process sent in the chat (bot/notices.py).
    from storage import chats

    await chats.record_notice(bot.services.db, PERSON, 99_999)

    await chat.say("/forget")
    await chat.press("Oui, oublier")
    await bot.idle()

    for table, values in await _everything(bot.services.db):
        for trace in (str(PERSON), NAME, "zebulon", PERSONAL.split("@")[0]):
            assert trace not in values, (table, values)
    # The invoice stays (French law keeps it 10 years), without the person.
    assert await bot.services.db.fetchval("SELECT count(*) FROM invoices") == invoices_before
    assert invoices_before >= 1
    # The staff group keeps neither their words nor their name.
    for message in telegram.bot_messages(STAFF_CHAT):
        shown = (message.get("text") or "") + (message.get("caption") or "")
        assert SECRET_WORDS not in shown and NAME not in shown, shown


async def test_staff_copies_older_than_48_hours_are_edited_not_left(bot, telegram, smtp):
    """Telegram lets a bot delete a message for 48 hours only: an older copy is edited."""
    telegram.add_user(PERSON, NAME, language_code="fr")
    chat = Chat(telegram, bot, PERSON)
    await chat.say("/start mermoz")
    await chat.say(MERMOZ["structure_email"])
    await chat.say(await read_code(smtp, MERMOZ["structure_email"]))
    await chat.press("Parler à l’équipe")
    await chat.say(SECRET_WORDS)
    copy = telegram.bot_messages(STAFF_CHAT)[-1]
    assert SECRET_WORDS in copy["text"]
    stored = telegram._chats[STAFF_CHAT].messages[copy["message_id"]]
    stored["date"] -= 49 * 3600  # sent two days ago
    await chat.say("/forget")
    await chat.press("Oui, oublier")
    await bot.idle()
    shown = {m["message_id"]: m.get("text") or "" for m in telegram.bot_messages(STAFF_CHAT)}
    assert copy["message_id"] in shown and SECRET_WORDS not in shown[copy["message_id"]]
    assert "oubliée" in shown[copy["message_id"]]


async def test_a_later_update_from_someone_else_writes_nothing_of_the_person_back(
    bot, telegram, smtp, alice
):
    """PTB keeps an empty mapping for a dropped id; a later update must not store it again."""
    telegram.add_user(PERSON, NAME, language_code="fr")
    person = Chat(telegram, bot, PERSON)
    await person.say("/start mermoz")
    await person.say(MERMOZ["structure_email"])
    await person.say(await read_code(smtp, MERMOZ["structure_email"]))
    await person.say("/forget")
    await person.press("Oui")
    await bot.idle()
    await alice.say("/pending")  # somebody else uses the bot afterwards
    await bot.idle()
    traces = [(t, v) for t, v in await _everything(bot.services.db) if str(PERSON) in v]
    assert traces == []


async def test_a_request_left_open_at_forget_loses_the_address_when_staff_act(
    bot, telegram, smtp, alice
):
    telegram.add_user(PERSON, NAME, language_code="fr")
    person = Chat(telegram, bot, PERSON)
    await person.say("/start mermoz")
    await person.say(MERMOZ["structure_email"])
    await person.say(await read_code(smtp, MERMOZ["structure_email"]))
    await person.press("Changer les e-mails")
    await person.press("E-mail du contact")
    await person.say(PERSONAL)
    replies = await person.press("Confirmer la demande")
    number = REQUEST.search(" ".join(m.get("text") or "" for m in replies)).group(1)
    await person.say("/forget")
    await person.press("Oui")
    await bot.idle()
    card = next(
        m
        for m in telegram.bot_messages(STAFF_CHAT)
        if f"n° {number} " in (m.get("text") or "") and m.get("reply_markup")
    )
    prompt = (await alice.press("Refuser", card))[-1]
    await telegram.send_text(
        STAFF_USERS[0], "Inconnue", chat_id=STAFF_CHAT, reply_to_message_id=prompt["message_id"]
    )
    await bot.idle()
    status = await bot.services.db.fetchval(
        "SELECT status FROM escalations WHERE id = ?", (int(number),)
    )
    assert status == "refused"
    traces = [(t, v) for t, v in await _everything(bot.services.db) if PERSONAL in v]
    assert traces == []
