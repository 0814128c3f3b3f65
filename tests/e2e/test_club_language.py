"""The conversation's language (docs/LANGUAGES.md): /language, else the Telegram user's when
French or English, else — once the chat named its club — the club record's `language`, else
French (tester's finding: a German user of a club whose record says `language=en` got French)."""

from __future__ import annotations

from tests.conftest import Chat, read_code, sample_club

GERMAN = 1051
NO_LANGUAGE = 1052
FRENCH = 1053
BODENSEE = sample_club("bodensee")  # language=en in the sample CSV


async def test_a_german_user_of_an_english_club_is_answered_in_english(telegram, bot, smtp):
    telegram.add_user(GERMAN, "Klaus", language_code="de")
    chat = Chat(telegram, bot, GERMAN)
    replies = await chat.say("/start")
    assert "Bonjour" in replies[-1]["text"]  # no club named yet: French by default
    replies = await chat.say("bodensee")
    assert "e-mail" in replies[-1]["text"] and "adresse" not in replies[-1]["text"], replies
    address = BODENSEE["structure_email"]
    count = len(smtp.mailbox.messages_to(address))
    await chat.say(address)
    code = await read_code(smtp, address, after_count=count)
    replies = await chat.say(code)
    assert "Renew" in " ".join(chat.buttons(replies[-1])), chat.transcript()
    # Later messages (receipts, reminders) follow the contact's language, recorded in English.
    language = await bot.services.db.fetchval(
        "SELECT language FROM contacts WHERE chat_id = ?", (GERMAN,)
    )
    assert language == "en"


async def test_no_telegram_language_follows_the_club_record(telegram, bot, smtp):
    telegram.add_user(NO_LANGUAGE, "Sam", language_code=None)
    chat = Chat(telegram, bot, NO_LANGUAGE)
    await chat.say("/start")
    replies = await chat.say("dublin")
    assert "e-mail" in replies[-1]["text"] and "adresse" not in replies[-1]["text"], replies


async def test_the_users_own_french_or_english_wins_over_the_club_record(
    telegram, bot, smtp, chat_en
):
    telegram.add_user(FRENCH, "Anne", language_code="fr")
    chat = Chat(telegram, bot, FRENCH)
    await chat.say("/start")
    replies = await chat.say("bodensee")
    assert "adresse" in replies[-1]["text"], replies  # French, her Telegram language
    await chat_en.say("/start")
    replies = await chat_en.say("mermoz")  # language=fr, an English-speaking user
    assert "address" in replies[-1]["text"] and "adresse" not in replies[-1]["text"]
    # /language wins over both.
    await chat.say("/language")
    replies = await chat.press("English")
    assert "adresse" not in replies[-1]["text"], replies
