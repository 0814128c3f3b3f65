"""Each update's chat and user are written once, by the update itself: PTB marks them again when
the update's task ends, after the bot saved them, which made the next update — another chat's —
deep-copy, serialise and compare them a second time (issue 19)."""

from __future__ import annotations

from collections import Counter

from tests.conftest import Chat


async def test_one_update_writes_its_chat_and_user_once(chat: Chat, chat_en: Chat, bot):
    persistence = bot.runtime.app.persistence
    calls: Counter = Counter()
    for name in ("update_user_data", "update_chat_data"):
        original = getattr(persistence, name)

        async def counted(key, data, _original=original, _name=name):
            calls[_name, key] += 1
            return await _original(key, data)

        setattr(persistence, name, counted)
    for person, text in (
        (chat, "/start"),
        (chat_en, "/start"),
        (chat, "mermoz"),
        (chat_en, "mermoz"),
    ):
        await person.say(text)
    assert calls == {
        ("update_user_data", chat.user_id): 2,
        ("update_chat_data", chat.chat_id): 2,
        ("update_user_data", chat_en.user_id): 2,
        ("update_chat_data", chat_en.chat_id): 2,
    }
