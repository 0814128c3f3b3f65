"""A message sent later to a person (a staff answer, a closing notice, the locked-out help's
answers) is in the chat's language as it is now (/language), not the one the conversation was
opened in (tester's finding: an English contact got a French "Répondre à l'équipe")."""

from __future__ import annotations

from tests.conftest import STAFF_CHAT, STAFF_USERS, verify


def staff_messages(telegram, after: int = 0) -> list[dict]:
    return [m for m in telegram.bot_messages(STAFF_CHAT) if m["message_id"] > after]


async def staff_reply(bot, telegram, message_id: int, text: str) -> None:
    await telegram.send_text(
        STAFF_USERS[0], text, chat_id=STAFF_CHAT, reply_to_message_id=message_id
    )
    await bot.idle()


async def test_staff_answer_after_language_switch_is_in_the_new_language(
    chat, smtp, bot, telegram, alice
):
    await verify(chat, smtp, "mermoz")
    await chat.press("Parler à l’équipe")
    await chat.say("Bonjour, une question")
    relayed = staff_messages(telegram)[-1]
    header = next(m for m in staff_messages(telegram) if "Conversation n°" in m.get("text", ""))
    await chat.say("/language")
    await chat.press("English")
    await staff_reply(bot, telegram, relayed["message_id"], "Here is the answer")
    answer = chat.last()
    assert answer["text"] == "Here is the answer"
    assert chat.buttons(answer) == ["↩️ Reply to staff"], chat.buttons(answer)
    # Staff close it: the club is told in English too.
    await alice.press("Clore", header)
    assert "OpenFlyers staff closed this conversation" in chat.last()["text"]


async def test_locked_out_help_answer_follows_a_language_switch(chat, smtp, bot, telegram):
    """Not a contact of any club: the conversation's own language is the one /language keeps."""
    await chat.say("/start")
    await chat.say("mermoz")
    for attempt in range(5):
        await chat.say(f"wrong{attempt}@else.example.org")
    await chat.press("équipe")
    help_card = staff_messages(telegram)[-1]
    await chat.say("/language")
    await chat.press("English")
    await staff_reply(bot, telegram, help_card["message_id"], "Which address do you have?")
    answer = chat.last()
    assert answer["text"] == "Which address do you have?"
    assert chat.buttons(answer) == ["↩️ Reply to staff"], chat.buttons(answer)


async def test_request_update_after_language_switch(chat, smtp, bot, telegram, alice):
    await verify(chat, smtp, "mermoz")
    await chat.press("Mot de passe")
    await chat.press("aucune des deux")
    await chat.press("Confirmer la demande")
    await chat.say("/language")
    await chat.press("English")
    card = next(m for m in staff_messages(telegram) if m.get("text", "").startswith("🛎"))
    await alice.press("Je prends", card)
    text = chat.last()["text"]
    assert "Votre demande" not in text and "request" in text.lower(), text


async def test_a_code_mail_given_up_is_told_in_the_language_chosen_meanwhile(
    chat, smtp, bot, monkeypatch
):
    import asyncio

    from tests.conftest import sample_club

    go = asyncio.Event()

    async def down(to, subject, body, **kwargs):
        await go.wait()
        raise RuntimeError("the relay is down")

    monkeypatch.setattr(bot.services.mailer, "send", down)
    await chat.say("/start mermoz")
    replies = await chat.say(sample_club("mermoz")["structure_email"])
    await chat.say("/language")
    await chat.press("English")
    go.set()
    told = await chat.telegram.wait_for_bot_message(
        chat.chat_id, after=replies[-1]["message_id"], contains="could not be sent", timeout=30
    )
    assert "Sorry" in told["text"]
