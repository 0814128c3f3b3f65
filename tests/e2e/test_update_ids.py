"""Update ids are not an update's identity: a bot's ids can start again at a random value
(Telegram, after a week without updates) and must never make the bot skip a new update as one
handled before a restart; the sandbox's fake Telegram keeps its ids increasing across
`ofbot sandbox --keep`, starting at a large value as Telegram's do."""

from __future__ import annotations

import re

from bot.sandbox.run import CLUB_CONTACT, STAFF, STAFF_CHAT, start_sandbox
from bot.settings import Settings


async def test_a_new_update_with_an_id_handled_before_a_restart_is_handled(chat, bot, telegram):
    first = telegram._next_update_id
    answered = await chat.say("/start")
    assert answered, chat.transcript()
    await bot.restart()
    # Telegram chose ids again from a value the chat's handled list holds.
    telegram.restart_update_ids(first)
    again = await chat.say("/start")
    assert again, chat.transcript()
    assert again[-1]["text"] == answered[-1]["text"]


async def say(sandbox, user: int, text: str, contains: str, chat_id: int | None = None) -> dict:
    telegram = sandbox.telegram
    where = chat_id or user
    last = max((m["message_id"] for m in telegram.messages(where)), default=0)
    await telegram.send_text(user, text, chat_id=chat_id)
    return await telegram.wait_for_bot_message(where, after=last, contains=contains, timeout=10)


async def test_sandbox_keep_goes_on_with_larger_update_and_message_ids(tmp_path):
    data = tmp_path / "sandbox"
    sandbox = await start_sandbox(Settings(), data)
    try:
        assert sandbox.telegram._next_update_id >= 100_000_000  # as large as Telegram's
        await say(sandbox, CLUB_CONTACT, "/start", "adresse de la plateforme")
        last_update = sandbox.telegram._next_update_id - 1
        last_message = max(m["message_id"] for m in sandbox.telegram.messages(CLUB_CONTACT))
    finally:
        await sandbox.stop()
    kept = await start_sandbox(Settings(), data, reset=False)
    try:
        assert kept.telegram._next_update_id > last_update
        reply = await say(kept, CLUB_CONTACT, "/start", "adresse de la plateforme")
        assert reply["message_id"] > last_message
    finally:
        await kept.stop()


async def press(sandbox, message: dict, label: str, contains: str) -> dict:
    telegram = sandbox.telegram
    last = max(m["message_id"] for m in telegram.messages(CLUB_CONTACT))
    button = next(
        b for row in message["reply_markup"]["inline_keyboard"] for b in row if label in b["text"]
    )
    await telegram.press(CLUB_CONTACT, message["message_id"], button["callback_data"])
    return await telegram.wait_for_bot_message(
        CLUB_CONTACT, after=last, contains=contains, timeout=10, pressed=message
    )


def mermoz_topic(sandbox) -> int:
    [topic] = [t for t in sandbox.telegram.topics(STAFF_CHAT) if "mermoz" in t["name"]]
    return topic["message_thread_id"]


async def staff_answer_reaches_the_club(sandbox, text: str) -> None:
    """Alice writes in the club's topic; the club receives it."""
    await sandbox.telegram.send_text(
        STAFF[0], text, chat_id=STAFF_CHAT, message_thread_id=mermoz_topic(sandbox)
    )
    await sandbox.telegram.wait_for_bot_message(CLUB_CONTACT, contains=text, timeout=10)


async def test_after_keep_staff_writing_in_a_club_topic_still_reach_the_club(tmp_path):
    """The tester's case: after `ofbot sandbox --keep` staff messages in a club topic were
    skipped as "handled before a restart" (the fake gave update ids from 1 again)."""
    data = tmp_path / "sandbox"
    sandbox = await start_sandbox(Settings(), data)
    try:
        await say(sandbox, CLUB_CONTACT, "/start", "adresse de la plateforme")
        await say(sandbox, CLUB_CONTACT, "mermoz", "adresses e-mail")
        await sandbox.telegram.send_text(CLUB_CONTACT, "bureau@mermoz.example.fr")
        mail = await sandbox.smtp.mailbox.wait_for("bureau@mermoz.example.fr", timeout=10)
        code = re.search(r"\d{6}", mail["text"]).group(0)
        menu = await say(sandbox, CLUB_CONTACT, code, "Que voulez-vous faire")
        await press(sandbox, menu, "Parler", "")
        await say(sandbox, CLUB_CONTACT, "Bonjour, une question", "")
        for number in range(3):
            await staff_answer_reaches_the_club(sandbox, f"Réponse {number} avant")
    finally:
        await sandbox.stop()
    kept = await start_sandbox(Settings(), data, reset=False)
    try:
        # The club writes again: its topic (gone with the stand-in's memory) is made anew.
        await kept.telegram.send_text(CLUB_CONTACT, "Encore une question")
        await kept.telegram.wait_for_bot_message(STAFF_CHAT, contains="Encore une question")
        for number in range(3):
            await staff_answer_reaches_the_club(kept, f"Réponse {number} après")
    finally:
        await kept.stop()
