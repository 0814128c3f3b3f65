"""Helpers for the hostile-user tests: what a modified Telegram client can send.

A modified client can attach any callback data to a press on a message of its own chat; the
sandbox only lets a person press buttons that exist, so the button is planted first."""

from __future__ import annotations

from tests.conftest import Chat


async def forge_press(chat: Chat, data: str, message: dict | None = None) -> list[dict]:
    """Press `data` on `message` (default: the bot's latest message in the chat), whatever
    buttons that message really carries; returns the bot's answers in the chat (the pressed
    message first when the bot edited it into the answer)."""
    telegram = chat.telegram
    target = message or chat.telegram.bot_messages(chat.chat_id)[-1]
    stored = telegram._user_chat(chat.user_id, chat.chat_id).messages[target["message_id"]]
    original = stored.get("reply_markup")
    forged = {"inline_keyboard": [[{"text": "forged", "callback_data": data}]]}
    stored["reply_markup"] = forged
    try:
        before = chat._last_id()
        await telegram.press(chat.user_id, target["message_id"], data, chat_id=chat.chat_id)
    finally:
        if stored.get("reply_markup") is forged:
            if original is None:
                stored.pop("reply_markup", None)
            else:
                stored["reply_markup"] = original
    await chat.bot.idle()
    return chat.answered_in_place(target) + chat.new_since(before)


def staff_messages(telegram, bot) -> list[dict]:
    return telegram.bot_messages(bot.services.settings.staff_chat_id)
