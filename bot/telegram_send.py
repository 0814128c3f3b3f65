"""The bot's one send path to the Bot API (mixed into OfbotBot): no request Telegram will refuse
for its length, and a group upgraded to a supergroup followed instead of lost.

Every text, caption and notice goes through `_post`, whatever service or handler sends it; see
docs/TELEGRAM.md for each rule, its source and the sandbox test that enforces it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram.error import ChatMigrated

from bot.telegram_limits import (
    MAX_CAPTION,
    MAX_NOTICE,
    MAX_TEXT,
    split_html,
    truncate_html,
    visible_length,
)

log = logging.getLogger(__name__)

# Methods whose `caption` Telegram checks against 1024 characters (after entities parsing).
CAPTIONED = frozenset(
    {
        "sendPhoto",
        "sendDocument",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendAnimation",
        "copyMessage",
    }
)
# Requests sent again to a migrated group's new id: those that create a message there. An edit or
# a deletion names a message of the old chat, which the new one does not have (its ids start
# afresh): those fail with ChatMigrated after the migration is recorded, and their caller acts.
# Requests whose result is a new message in the chat.
CREATES_MESSAGE = CAPTIONED | {"sendMessage", "forwardMessage"}
RESENT_WHEN_MIGRATED = CREATES_MESSAGE | {"sendChatAction"}
ChatMigration = Callable[[int, int], Awaitable[None]]


def _is_html(data: dict) -> bool:
    return str(data.get("parse_mode") or "").lower() == "html"


def _too_long(value: Any, limit: int, data: dict) -> bool:
    return isinstance(value, str) and visible_length(value, _is_html(data)) > limit


class TelegramSendPath:
    """Mixed into the Bot: `_post` keeps texts within Telegram's limits and follows migrations.

    - sendMessage over 4096 (UTF-16 units, after HTML parsing): several messages, cut at line
      ends with tags balanced; the first keeps the reply, the last the keyboard.
    - editMessageText over 4096, editMessageCaption over 1024: cut, ending with "…".
    - a caption over 1024: the media without it, then the caption as text replying to it.
    - answerCallbackQuery text over 200: cut.
    - 400 with `migrate_to_chat_id` (a group became a supergroup): `on_chat_migrated(old, new)`
      is told (it stores the new id) and a new message is sent again to the new chat."""

    on_chat_migrated: ChatMigration | None = None

    async def _post(self, endpoint: str, data: dict | None = None, **kwargs: Any) -> Any:
        data = dict(data or {})
        if endpoint == "sendMessage" and _too_long(data.get("text"), MAX_TEXT, data):
            return await self._send_in_pieces(data, kwargs)
        if endpoint == "editMessageText" and _too_long(data.get("text"), MAX_TEXT, data):
            data["text"] = truncate_html(data["text"], MAX_TEXT, _is_html(data))
            data.pop("entities", None)
        if endpoint == "editMessageCaption" and _too_long(data.get("caption"), MAX_CAPTION, data):
            data["caption"] = truncate_html(data["caption"], MAX_CAPTION, _is_html(data))
            data.pop("caption_entities", None)
        if endpoint in CAPTIONED and _too_long(data.get("caption"), MAX_CAPTION, data):
            return await self._send_caption_apart(endpoint, data, kwargs)
        if endpoint == "answerCallbackQuery" and _too_long(data.get("text"), MAX_NOTICE, {}):
            data["text"] = truncate_html(data["text"], MAX_NOTICE, html=False)
        return await self._post_following(endpoint, data, kwargs)

    async def _post_following(self, endpoint: str, data: dict, kwargs: dict) -> Any:
        try:
            return await super()._post(endpoint, dict(data), **kwargs)
        except ChatMigrated as migrated:
            old = data.get("chat_id")
            if not isinstance(old, int):
                raise
            new = migrated.new_chat_id
            if self.on_chat_migrated is not None:
                await self.on_chat_migrated(old, new)
            if endpoint not in RESENT_WHEN_MIGRATED:
                raise
            # The message replied to is in the old chat: the new chat's same id is another one.
            resent = {
                k: v
                for k, v in data.items()
                if k not in ("reply_parameters", "reply_to_message_id")
            }
            return await super()._post(endpoint, {**resent, "chat_id": new}, **kwargs)

    async def _send_in_pieces(self, data: dict, kwargs: dict) -> Any:
        html = _is_html(data)
        pieces = split_html(data["text"], MAX_TEXT, html)
        result = None
        for index, piece in enumerate(pieces):
            part = {**data, "text": piece}
            if not html:
                part.pop("entities", None)  # offsets of the whole text: they fit no piece
            if index > 0:
                part.pop("reply_parameters", None)
                part.pop("reply_to_message_id", None)
            if index < len(pieces) - 1:
                part.pop("reply_markup", None)
            result = await self._post_following("sendMessage", part, kwargs)
            if isinstance(result, dict) and "chat" in result:
                # Later pieces go where the first went (a migrated group's new id).
                data = {**data, "chat_id": result["chat"]["id"]}
        return result

    async def _send_caption_apart(self, endpoint: str, data: dict, kwargs: dict) -> Any:
        caption = data.pop("caption")
        data.pop("caption_entities", None)
        if endpoint == "copyMessage":
            data["caption"] = ""  # without it, copyMessage keeps the too long original
        sent = await self._post_following(endpoint, data, kwargs)
        message_id = sent.get("message_id") if isinstance(sent, dict) else None
        chat_id = sent["chat"]["id"] if isinstance(sent, dict) and "chat" in sent else None
        text = {"chat_id": chat_id or data["chat_id"], "text": caption}
        if data.get("parse_mode"):
            text["parse_mode"] = data["parse_mode"]
        if message_id is not None:
            text["reply_parameters"] = {
                "message_id": message_id,
                "allow_sending_without_reply": True,
            }
        await self._post("sendMessage", text, **kwargs)
        return sent
