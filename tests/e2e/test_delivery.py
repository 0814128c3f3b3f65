"""How Telegram updates are delivered to the real bot (bot/updates.py, bot/http.py): an update
Telegram sends again is handled once, and a webhook call is answered once its update is handled."""

from __future__ import annotations

import time

import httpx
from telegram import Update

from tests.conftest import CLUB_USER_FR, Chat


def _start_update(update_id: int) -> dict:
    user = {"id": CLUB_USER_FR, "is_bot": False, "first_name": "Jeanne", "language_code": "fr"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": CLUB_USER_FR, "type": "private", "first_name": "Jeanne"},
            "from": user,
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


async def test_an_update_sent_again_is_handled_once_even_after_a_restart(chat: Chat, bot):
    app = bot.runtime.app
    before = len(chat.telegram.bot_messages(CLUB_USER_FR))
    await app.process_update(Update.de_json(_start_update(900_001), app.bot))
    assert len(chat.telegram.bot_messages(CLUB_USER_FR)) == before + 1
    await app.process_update(Update.de_json(_start_update(900_001), app.bot))
    assert len(chat.telegram.bot_messages(CLUB_USER_FR)) == before + 1

    await bot.restart()  # the ids handled are saved with the chat's state
    app = bot.runtime.app
    await app.process_update(Update.de_json(_start_update(900_001), app.bot))
    assert len(chat.telegram.bot_messages(CLUB_USER_FR)) == before + 1
    await app.process_update(Update.de_json(_start_update(900_002), app.bot))
    assert len(chat.telegram.bot_messages(CLUB_USER_FR)) == before + 2


async def test_a_webhook_call_is_answered_after_its_update_is_handled(webhook_bot, telegram):
    bot = webhook_bot
    settings = bot.services.settings
    headers = {"X-Telegram-Bot-Api-Secret-Token": settings.telegram_secret_token}
    url = bot.runtime.http.url + "/telegram/webhook"
    before = len(telegram.bot_messages(CLUB_USER_FR))
    async with httpx.AsyncClient() as client:
        answer = await client.post(url, json=_start_update(900_010), headers=headers)
        assert answer.status_code == 200
        # The welcome was sent before the call was answered: nothing to wait for.
        assert len(telegram.bot_messages(CLUB_USER_FR)) == before + 1
        again = await client.post(url, json=_start_update(900_010), headers=headers)
        assert again.status_code == 200
    assert len(telegram.bot_messages(CLUB_USER_FR)) == before + 1
