"""Update ids are not an update's identity: a bot's ids can start again at a random value
(Telegram, after a week without updates) and must never make the bot skip a new update as one
handled before a restart; the sandbox's fake Telegram keeps its ids increasing across
`ofbot sandbox --keep`, starting at a large value as Telegram's do."""

from __future__ import annotations

from bot.sandbox.run import CLUB_CONTACT, start_sandbox
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
