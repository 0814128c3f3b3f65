"""Identify and verify (SPEC §3.1–3.3) end to end: the real bot against the sandbox Bot API and
SMTP server over loopback, as a club contact would use it."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest

from bot.verification import hash_code
from tests.conftest import Chat, read_code, sample_club, verify

MERMOZ = sample_club("mermoz")


@pytest.mark.parametrize(
    "typed",
    [
        "mermoz",
        "Mermoz",
        "MERMOZ",
        "mermoz.openflyers.fr",
        "https://mermoz.openflyers.fr/some/path",
        "http://mermoz.openflyers.fr",
        "openflyers.com/mermoz",
        "http://openflyers.com/mermoz/",
        "  mermoz.openflyers.fr  ",
        "\u200fmermoz\u200e",
    ],
)
async def test_every_address_form_finds_the_club(chat: Chat, typed):
    await chat.say("/start")
    replies = await chat.say(typed)
    assert MERMOZ["name"] in replies[-1]["text"], chat.transcript()
    assert "e-mail" in replies[-1]["text"]


async def test_unknown_subdomain_suggests_close_matches_as_buttons(chat: Chat):
    await chat.say("/start")
    replies = await chat.say("mermos")
    assert "mermos" in replies[-1]["text"]
    assert any("mermoz" in label for label in chat.buttons(replies[-1]))
    replies = await chat.press("(mermoz)")
    assert MERMOZ["name"] in replies[-1]["text"]


async def test_unknown_subdomain_without_match_asks_again(chat: Chat):
    await chat.say("/start")
    replies = await chat.say("zzqqxxyy")
    assert "zzqqxxyy" in replies[-1]["text"]
    assert chat.buttons(replies[-1]) == []
    replies = await chat.say("mermoz")
    assert MERMOZ["name"] in replies[-1]["text"]


@pytest.mark.parametrize("typed", ["jean.dupont", "jean.dupont@gmail.com", "4521"])
async def test_personal_login_is_explained(chat: Chat, typed):
    await chat.say("/start")
    replies = await chat.say(typed)
    text = replies[-1]["text"]
    assert "identifiant personnel" in text and "compte client" in text and "mermoz" in text
    replies = await chat.say("mermoz")  # still on the identify step
    assert MERMOZ["name"] in replies[-1]["text"]


async def test_verify_with_the_other_case_sends_the_code_to_the_stored_address(chat, smtp):
    address = MERMOZ["contact_email"]
    await chat.say("/start")
    await chat.say("mermoz")
    replies = await chat.say(address.upper())
    assert "6 chiffres" in replies[-1]["text"]
    assert address not in replies[-1]["text"]  # shown masked only
    message = await smtp.mailbox.wait_for(to=address, timeout=5)
    assert message["rcpt_tos"] == [address]
    code = await read_code(smtp, address)
    replies = await chat.say(code)
    assert "vérifié" in replies[0]["text"]
    assert "Renouveler" in " ".join(chat.buttons(replies[-1]))


async def test_the_code_is_stored_as_an_hmac_keyed_outside_the_database(chat, smtp, bot):
    address = MERMOZ["structure_email"]
    await chat.say("/start")
    await chat.say("mermoz")
    await chat.say(address)
    code = await read_code(smtp, address)
    row = await bot.services.db.fetchone(
        "SELECT code_hash, salt FROM verification_codes WHERE used_at IS NULL"
    )
    assert code not in row["code_hash"] and code not in row["salt"]
    key = bot.services.settings.code_key
    assert key and bot.services.settings.telegram_token.encode() not in key
    assert row["code_hash"] == hash_code(code, row["salt"], key)
    assert row["code_hash"] != hash_code(code, row["salt"], b"another bot's key")
    assert row["code_hash"] != hash_code(code, secrets.token_hex(16), key)  # salted
    replies = await chat.say(code)
    assert "vérifié" in replies[0]["text"]


async def test_the_address_given_twice_gets_one_code_and_resend_a_new_one(chat, smtp, bot):
    address = MERMOZ["structure_email"]
    await chat.say("/start")
    await chat.say("mermoz")
    await chat.say(address)
    code = await read_code(smtp, address)
    # The e-mail step handles the same address again (the person came back to it, or Telegram
    # resent the update after a crash): the code mailed a moment ago stands.
    await chat.press("Autre adresse")
    replies = await chat.say(address)
    assert "vient d’être envoyé" in replies[-1]["text"]
    assert len(smtp.mailbox.messages_to(address)) == 1
    bot.services.clock.advance(dt.timedelta(seconds=30))
    await chat.press("Renvoyer")  # asked for explicitly: a new code
    new_code = await read_code(smtp, address, after_count=1)
    assert new_code != code or len(smtp.mailbox.messages_to(address)) == 2
    replies = await chat.say(new_code)
    assert "vérifié" in replies[0]["text"]


async def test_wrong_email_gives_a_masked_hint_and_sends_nothing(chat, smtp):
    await chat.say("/start")
    await chat.say("mermoz")
    replies = await chat.say("someone@else.example.org")
    text = replies[-1]["text"]
    assert "ne figure pas" in text and "•••" in text
    assert MERMOZ["structure_email"] not in text and MERMOZ["contact_email"] not in text
    assert smtp.mailbox.messages_to("someone@else.example.org") == []


async def test_five_wrong_emails_lock_the_chat_until_the_hour_ends(chat, smtp, bot):
    await chat.say("/start")
    await chat.say("mermoz")
    for attempt in range(5):
        replies = await chat.say(f"wrong{attempt}@else.example.org")
    assert "bloquée" in replies[-1]["text"]
    replies = await chat.say(MERMOZ["structure_email"])  # even the right one, while locked
    assert "bloquée" in replies[-1]["text"]
    assert smtp.mailbox.messages_to(MERMOZ["structure_email"]) == []
    replies = await chat.press("équipe")
    assert "prévenue" in replies[-1]["text"]
    staff = chat.telegram.bot_messages(bot.services.settings.staff_chat_id)
    assert "mermoz" in staff[-1]["text"]
    bot.services.clock.advance(dt.timedelta(hours=1, seconds=1))
    replies = await chat.say(MERMOZ["structure_email"])
    assert "6 chiffres" in replies[-1]["text"]


async def test_expired_code_is_refused_and_a_new_one_works(chat, smtp, bot):
    address = MERMOZ["structure_email"]
    await chat.say("/start")
    await chat.say("mermoz")
    await chat.say(address)
    code = await read_code(smtp, address)
    bot.services.clock.advance(dt.timedelta(minutes=10, seconds=1))
    replies = await chat.say(code)
    assert "expiré" in replies[-1]["text"]
    count = len(smtp.mailbox.messages_to(address))
    await chat.press("Renvoyer")
    new_code = await read_code(smtp, address, after_count=count)
    replies = await chat.say(new_code)
    assert "vérifié" in replies[0]["text"]


async def test_five_wrong_codes_exhaust_the_code(chat, smtp):
    address = MERMOZ["structure_email"]
    await chat.say("/start")
    await chat.say("mermoz")
    await chat.say(address)
    code = await read_code(smtp, address)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(4):
        replies = await chat.say(wrong)
        assert "pas le bon code" in replies[-1]["text"]
    replies = await chat.say(wrong)
    assert "Trop d’essais" in replies[-1]["text"]
    replies = await chat.say(code)  # the right code no longer works
    assert "Trop d’essais" in replies[-1]["text"]


async def test_not_a_code_does_not_use_a_try(chat, smtp):
    address = MERMOZ["structure_email"]
    await chat.say("/start")
    await chat.say("mermoz")
    await chat.say(address)
    code = await read_code(smtp, address)
    for junk in ("abc", "12345", "1234567", "🙂"):
        replies = await chat.say(junk)
        assert "6 chiffres" in replies[-1]["text"]
    replies = await chat.say(code)
    assert "vérifié" in replies[0]["text"]


async def test_at_most_three_codes_per_club_per_hour(chat, smtp, telegram, bot):
    address = MERMOZ["structure_email"]
    await chat.say("/start")
    await chat.say("mermoz")
    await chat.say(address)
    await chat.press("Renvoyer")
    replies = await chat.press("Renvoyer")
    # One chat has two of the club's three codes an hour.
    assert "deux codes" in replies[-1]["text"]
    # The mail goes out right after the reply (bot/outbox.py): wait for the second.
    await smtp.mailbox.wait_for(address, after_count=1)
    assert len(smtp.mailbox.messages_to(address)) == 2
    # Another person, on the other address, still gets the third.
    other = Chat(telegram, bot, 1003)
    await other.say("/start")
    await other.say("mermoz")
    replies = await other.say(MERMOZ["contact_email"])
    assert "6 chiffres" in replies[-1]["text"]
    # The club's limit: a fourth code is refused to anyone.
    telegram.add_user(1004, "Marc", language_code="fr")
    third = Chat(telegram, bot, 1004)
    await third.say("/start")
    await third.say("mermoz")
    replies = await third.say(MERMOZ["contact_email"])
    assert "Trois codes" in replies[-1]["text"]
    assert len(smtp.mailbox.messages_to(MERMOZ["contact_email"])) == 1


async def test_english_speaker_gets_english_and_language_switches(chat_en, smtp):
    replies = await chat_en.say("/start")
    assert "what is the address" in replies[-1]["text"]
    await chat_en.say("/language")
    replies = await chat_en.press("Français")
    assert "français" in replies[0]["text"]
    # The step the person was at, asked again in the new language (issue 17 item 13).
    assert "adresse de la plateforme OpenFlyers" in replies[-1]["text"]
    replies = await chat_en.say("mermoz")
    assert "adresses e-mail" in replies[-1]["text"]


async def test_english_flow_end_to_end(chat_en, smtp):
    menu = await verify(chat_en, smtp)
    assert "What would you like to do?" in menu["text"]
    assert any("Renew" in label for label in chat_en.buttons(menu))


@pytest.mark.parametrize("step", ["identify", "email", "code", "menu"])
async def test_cancel_at_each_step(chat: Chat, smtp, step):
    await chat.say("/start")
    if step == "menu":
        await verify(chat, smtp)
        replies = await chat.say("/cancel")
        assert "Retour au menu" in replies[0]["text"]
        return
    if step in ("email", "code"):
        await chat.say("mermoz")
    if step == "code":
        await chat.say(MERMOZ["structure_email"])
    replies = await chat.say("/cancel")
    assert "annulé" in replies[-1]["text"]
    replies = await chat.say("123456")  # no longer read as a code or an address
    assert "l’adresse de la plateforme" in replies[-1]["text"]


async def test_back_button_returns_from_the_email_step(chat: Chat):
    """ "Back" is one step back (to "which platform?"), not the end of the conversation."""
    await chat.say("/start")
    await chat.say("mermoz")
    replies = await chat.press("Retour")
    assert "annulé" not in replies[-1]["text"]
    assert "adresse de la plateforme OpenFlyers" in replies[-1]["text"]
    replies = await chat.say("lesailes")
    assert "Les Ailes du Lauragais" in replies[-1]["text"]


async def test_start_with_a_deep_link_payload(chat: Chat):
    replies = await chat.say("/start mermoz")
    assert MERMOZ["name"] in replies[-1]["text"]


async def test_verified_chat_goes_straight_to_the_menu(chat: Chat, smtp):
    await verify(chat, smtp)
    replies = await chat.say("/start")
    assert MERMOZ["name"] in replies[-1]["text"]
    assert "Que voulez-vous faire" in replies[-1]["text"]


async def test_old_button_is_refused_politely(chat: Chat, smtp, telegram):
    await chat.say("/start")
    replies = await chat.say("mermos")
    suggestion = replies[-1]
    await chat.say("mermoz")
    _, data = chat.find_button("mermoz", suggestion)
    # Its keyboard was not removed (no button pressed), but the step moved on.
    await telegram.press(chat.user_id, suggestion["message_id"], data)
    await chat.bot.idle()
    assert telegram.callback_answers[-1]["text"].startswith("Ce message n’est plus à jour")


async def test_forget_removes_the_link_and_verification_is_needed_again(chat: Chat, smtp, bot):
    await verify(chat, smtp)
    await chat.say("/forget")
    replies = await chat.press("Oui")
    assert "supprimé" in replies[-1]["text"]
    assert await bot.services.db.fetchval("SELECT count(*) FROM contacts") == 0
    replies = await chat.say("/start")
    assert "l’adresse de la plateforme" in replies[-1]["text"]


async def test_text_at_the_menu_shows_the_menu_again_under_a_notice(chat: Chat, chat_en, smtp):
    await verify(chat, smtp)
    replies = await chat.say("474051")  # e.g. the code typed again after it was taken
    assert "pas compris" in replies[0]["text"]
    assert "Renouveler" in " ".join(chat.buttons(replies[-1]))
    await verify(chat_en, smtp, "lesailes")
    replies = await chat_en.say("hello?")
    assert "did not understand" in replies[0]["text"]
    assert "Renew" in " ".join(chat_en.buttons(replies[-1]))


async def test_a_mail_the_relay_refuses_is_reported_after_the_reply_and_does_not_count(
    chat: Chat, smtp, bot, telegram
):
    """The code step answers at once; the relay refusing the mail (every try) is told to the
    person in a follow-up message, and that code does not count
    toward the club's three codes per hour."""
    refused = 0

    async def refuse(server, session, envelope):
        nonlocal refused
        refused += 1
        return "451 4.3.0 Try again later"  # a temporary refusal: tried three times

    original = smtp.mailbox.handle_DATA
    smtp.mailbox.handle_DATA = refuse
    await chat.say("/start")
    await chat.say("mermoz")
    replies = await chat.say(MERMOZ["structure_email"])
    assert "6 chiffres" in replies[-1]["text"]
    failed = await telegram.wait_for_bot_message(
        chat.chat_id, after=replies[-1]["message_id"], contains="n’a pas pu partir", timeout=15
    )
    assert refused == 3
    assert "Renvoyer un code" in failed["text"]
    db = bot.services.db
    assert await db.fetchval("SELECT COUNT(*) FROM verification_codes") == 0
    assert await db.fetchval("SELECT COUNT(*) FROM mail_outbox WHERE body IS NOT NULL") == 0

    smtp.mailbox.handle_DATA = original
    await chat.press("Renvoyer un code")  # under the "code sent" message just above
    code = await read_code(smtp, MERMOZ["structure_email"])
    replies = await chat.say(code)
    assert "vérifié" in replies[0]["text"], chat.transcript()
    sent = await db.fetchone("SELECT sent_at, body FROM mail_outbox WHERE sent_at IS NOT NULL")
    assert sent is not None and sent["body"] is None  # the code does not stay in the database


@pytest.mark.parametrize("first", ["mermoz", "https://mermoz.openflyers.fr/"])
async def test_a_platform_address_as_the_first_message_is_that_club(chat: Chat, smtp, first):
    """A person who writes their platform's address without /start (or again after /cancel)
    was asked « quelle est l’adresse de la plateforme ? » — the very thing they had typed.
    Other first words still get the welcome."""
    replies = await chat.say(first)
    assert MERMOZ["name"] in replies[-1]["text"] and "e-mail" in replies[-1]["text"], (
        chat.transcript()
    )
    await chat.say("/cancel")
    replies = await chat.say("Bonjour")
    assert "quelle est l’adresse" in replies[-1]["text"], chat.transcript()
    await chat.say("/cancel")
    replies = await chat.say(first)
    assert MERMOZ["name"] in replies[-1]["text"], chat.transcript()
    await verify(chat, smtp, "mermoz")
    replies = await chat.say("mermoz")  # a verified chat is at its menu: the menu answers
    assert "Renouveler" in " ".join(chat.buttons(replies[-1])), chat.transcript()


async def test_at_the_menu_another_clubs_address_is_that_club(chat: Chat, smtp):
    """A person who speaks for two clubs types the other's subdomain at the menu: that club's
    e-mail step, then its menu; typing the first one's goes back to it (it was « je n’ai pas
    compris », with no way to reach the second club but /forget or an unlisted /start mermoz)."""
    await verify(chat, smtp, "mermoz")
    replies = await chat.say("lesailes")
    lesailes = sample_club("lesailes")
    assert lesailes["name"] in replies[-1]["text"] and "e-mail" in replies[-1]["text"], (
        chat.transcript()
    )
    await chat.say(lesailes["structure_email"])
    code = await read_code(smtp, lesailes["structure_email"])
    replies = await chat.say(code)
    assert "First Price" in replies[-1]["text"], chat.transcript()
    replies = await chat.say("mermoz.openflyers.fr")
    assert MERMOZ["name"] in replies[-1]["text"] and "Business" in replies[-1]["text"]
    assert "Renouveler" in " ".join(chat.buttons(replies[-1])), chat.transcript()
    replies = await chat.say("bonjour")
    assert "pas compris" in replies[-1]["text"] and MERMOZ["name"] in replies[-1]["text"]
