"""Issue 14 cases 1, 4 and 6: edits, anonymous admins and privacy mode, against a sandbox that
behaves as Telegram does (edited_message updates, GroupAnonymousBot, privacy mode on by default,
ForceReply's targets). Each test fails on the code before the fix."""

from __future__ import annotations

import logging

from tests.conftest import CLUB_USER_FR, STAFF_CHAT, STAFF_USERS, verify


def staff_texts(telegram) -> list[dict]:
    return [m for m in telegram.bot_messages(STAFF_CHAT) if m.get("text")]


def find_staff(telegram, needle: str) -> list[dict]:
    return [m for m in staff_texts(telegram) if needle in m["text"]]


async def test_an_edit_is_never_an_answer_and_reaches_the_other_side_once(
    chat, smtp, bot, telegram
):
    await verify(chat, smtp, "mermoz")
    first = next(
        m for m in telegram.messages(CLUB_USER_FR) if m.get("text") == "mermoz"
    )  # the very first answer the contact typed
    await chat.press("Renouveler")  # the count step
    mark = chat._last_id()
    await telegram.edit_text(CLUB_USER_FR, first["message_id"], "12")
    await bot.idle()
    assert chat.new_since(mark) == [], chat.transcript()  # no quote for 12 resources
    # The step still takes a real answer.
    replies = await chat.say("5")
    assert "TTC" in replies[-1]["text"]

    # In a conversation with staff, an edit reaches the other side once, as a correction.
    await chat.say("/menu")
    await chat.press("Parler à l’équipe")
    question = await telegram.send_text(CLUB_USER_FR, "Où est la facture 2025 ?")
    await bot.idle()
    [copy] = find_staff(telegram, "facture 2025")
    await telegram.edit_text(CLUB_USER_FR, question["message_id"], "Où est la facture 2024 ?")
    await bot.idle()
    [correction] = find_staff(telegram, "facture 2024")
    assert "correction" in correction["text"]
    assert correction["reply_to_message"]["message_id"] == copy["message_id"]

    answer = await telegram.send_text(
        STAFF_USERS[0],
        "Dans Mes factures.",
        chat_id=STAFF_CHAT,
        reply_to_message_id=copy["message_id"],
    )
    await bot.idle()
    mark = chat._last_id()
    await telegram.edit_text(
        STAFF_USERS[0],
        answer["message_id"],
        "Dans « Mes factures », menu principal.",
        chat_id=STAFF_CHAT,
    )
    await bot.idle()
    [corrected] = chat.new_since(mark)
    assert "menu principal" in corrected["text"] and "Correction" in corrected["text"]
    # A staff member editing a command does not run it again.
    command = await telegram.send_text(STAFF_USERS[0], "/stats", chat_id=STAFF_CHAT)
    await bot.idle()
    count = len(staff_texts(telegram))
    await telegram.edit_text(STAFF_USERS[0], command["message_id"], "/pending", chat_id=STAFF_CHAT)
    await bot.idle()
    assert len(staff_texts(telegram)) == count


async def test_an_anonymous_admin_is_told_what_to_do(chat, smtp, bot, telegram):
    await verify(chat, smtp, "mermoz")
    await chat.press("Parler à l’équipe")
    await telegram.send_text(CLUB_USER_FR, "Bonjour, une question")
    await bot.idle()
    [copy] = find_staff(telegram, "une question")
    mark = chat._last_id()
    sent = await telegram.send_text(
        STAFF_USERS[0],
        "Voici la réponse",
        chat_id=STAFF_CHAT,
        reply_to_message_id=copy["message_id"],
        anonymous=True,
    )
    assert sent["from"]["id"] == 1087968824 and sent["sender_chat"]["id"] == STAFF_CHAT
    await bot.idle()
    [told] = [
        m
        for m in telegram.bot_messages(STAFF_CHAT)
        if (m.get("reply_to_message") or {}).get("message_id") == sent["message_id"]
    ]
    assert "anonyme" in told["text"]
    assert chat.new_since(mark) == []  # nothing reached the club under nobody's name
    # A staff command sent anonymously: the same visible answer, nothing done.
    command = await telegram.send_text(
        STAFF_USERS[0], "/pending", chat_id=STAFF_CHAT, anonymous=True
    )
    await bot.idle()
    [told] = [
        m
        for m in telegram.bot_messages(STAFF_CHAT)
        if (m.get("reply_to_message") or {}).get("message_id") == command["message_id"]
    ]
    assert "anonyme" in told["text"] and "En attente" not in told["text"]


async def test_every_staff_flow_works_in_privacy_mode(chat, smtp, bot, telegram, alice, caplog):
    assert telegram.privacy_mode  # Telegram's default for bots in groups
    await verify(chat, smtp, "mermoz")
    await chat.press("Changer les e-mails")
    await chat.press("E-mail du contact")
    await chat.say("nouveau.chef@mermoz.example.fr")
    await chat.press("Confirmer la demande")
    card = next(m for m in telegram.bot_messages(STAFF_CHAT) if "🛎" in (m.get("text") or ""))
    await alice.press("Refuser", card)
    prompt = telegram.bot_messages(STAFF_CHAT)[-1]
    # The reply field opens in Alice's app, and only there.
    assert telegram.force_reply_targets(STAFF_CHAT, prompt["message_id"]) == {STAFF_USERS[0]}
    # A reason typed as a plain group message never reaches a bot in privacy mode...
    await telegram.send_text(STAFF_USERS[0], "Motif en message simple", chat_id=STAFF_CHAT)
    await bot.idle()
    assert await bot.services.db.fetchval("SELECT status FROM escalations") == "open"
    # ...the reply the app opens does.
    await telegram.send_text(
        STAFF_USERS[0],
        "Adresse impossible à vérifier",
        chat_id=STAFF_CHAT,
        reply_to_message_id=prompt["message_id"],
    )
    await bot.idle()
    assert await bot.services.db.fetchval("SELECT status FROM escalations") == "refused"
    assert "Adresse impossible à vérifier" in chat.last()["text"]
    # Commands still reach it (the bot posted in the group), and replies to relayed messages.
    replies = await alice.say("/pending")
    assert replies and "En attente" in replies[-1]["text"]


async def test_start_up_says_which_mode_the_bot_is_in(bot, telegram, caplog):
    caplog.set_level(logging.INFO, logger="bot.runtime")
    await bot.restart()
    assert any("privacy mode on" in r.getMessage() for r in caplog.records)
