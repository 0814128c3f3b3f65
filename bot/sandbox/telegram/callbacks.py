"""Inline button presses: the callback queries people make and `answerCallbackQuery`.

A query can be answered once, and only for a short time: Telegram does not publish how long
(clients stop waiting after a few seconds); the sandbox takes 10 seconds, the stricter reading."""

from __future__ import annotations

import copy
import dataclasses
from typing import ClassVar

from bot.sandbox.telegram.entities import utf16_len
from bot.sandbox.telegram.errors import ApiError, bad_request
from bot.sandbox.telegram.state import _public

CALLBACK_QUERY_TTL = 10.0  # seconds


QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@dataclasses.dataclass
class _CallbackQuery:
    user_id: int
    chat_id: int
    message_id: int
    created: float
    answered: bool = False


class CallbacksMixin:
    """Button presses (user side) and `answerCallbackQuery` (bot side)."""

    api_methods: ClassVar[dict[str, str]] = {
        "answercallbackquery": "_answer_callback_query",
    }

    async def press(
        self, user_id: int, message_id: int, data: str, *, chat_id: int | None = None
    ) -> str:
        """A person presses the inline button carrying `data`; returns the callback query id."""
        chat = self._user_chat(user_id, chat_id)
        message = chat.messages.get(message_id)
        if message is None:
            raise KeyError(f"no message {message_id} in chat {chat.info['id']}")
        buttons = [
            button
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
            for button in row
        ]
        if not any(button.get("callback_data") == data for button in buttons):
            labels = [(b.get("text"), b.get("callback_data")) for b in buttons]
            raise LookupError(f"message {message_id} has no button with data {data!r}: {labels}")
        query_id = str(4_000_000_000_000_000 + next(self._callback_numbers))
        self._callbacks[query_id] = _CallbackQuery(
            user_id, chat.info["id"], message_id, self.clock()
        )
        self._enqueue(
            "callback_query",
            {
                "id": query_id,
                "from": copy.deepcopy(self._users[user_id]),
                "message": _public(message),
                "chat_instance": str(abs(chat.info["id"]) * 7 + 1_000_000_000_000),
                "data": data,
            },
        )
        return query_id

    def _answer_callback_query(self, p: dict, files: dict) -> bool:
        query_id = str(p.get("callback_query_id") or "")
        query = self._callbacks.get(query_id)
        if query is None or query.answered or self.clock() - query.created > CALLBACK_QUERY_TTL:
            raise ApiError(400, QUERY_TOO_OLD)
        text = p.get("text")
        # 0-200 characters (Bot API answerCallbackQuery); counted in UTF-16 units as Telegram
        # counts message lengths (the stricter reading: an emoji is two).
        if text is not None and utf16_len(str(text)) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        query.answered = True
        answer = {
            "callback_query_id": query_id,
            "user_id": query.user_id,
            "chat_id": query.chat_id,
            "message_id": query.message_id,
            "text": text,
            "show_alert": bool(p.get("show_alert")),
            "url": p.get("url"),
            "cache_time": p.get("cache_time"),
        }
        self.callback_answers.append(answer)
        message = self._chats[query.chat_id].messages.get(query.message_id, {})
        self._emit("callback_answer", query.chat_id, message, answer=answer)
        return True
