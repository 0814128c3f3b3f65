"""Looking up chats and members: `getChat`, `getChatMember`, `getChatMemberCount`, `sendChatAction`.

Also the lookups every other method family uses (`chat_id` and `message_id` checked as Telegram checks them)."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from bot.sandbox.telegram.errors import ApiError, bad_request
from bot.sandbox.telegram.state import _Chat

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)


class ChatsMixin:
    """Chat and member lookups, and `sendChatAction`."""

    api_methods: ClassVar[dict[str, str]] = {
        "sendchataction": "_send_chat_action",
        "getchat": "_get_chat",
        "getchatmember": "_get_chat_member",
        "getchatmembercount": "_get_chat_member_count",
    }

    def _chat(self, p: dict, key: str = "chat_id") -> _Chat:
        value = p.get(key)
        if value is None or value == "":
            raise bad_request(f"{key} is empty")
        if isinstance(value, str) and value.startswith("@"):
            for chat in self._chats.values():
                if (
                    chat.info.get("username", "").lower() == value[1:].lower()
                    and chat.info["type"] != "private"
                ):
                    return chat
            raise bad_request("chat not found")
        if not isinstance(value, int) or value not in self._chats:
            raise bad_request("chat not found")
        return self._chats[value]

    def _writable_chat(self, p: dict) -> _Chat:
        chat = self._chat(p)
        if chat.info["type"] == "private":
            if chat.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if not chat.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return chat

    @staticmethod
    def _message_id(p: dict, key: str = "message_id") -> int:
        value = p.get(key)
        if value is None or value == "":
            raise bad_request(f"{key} is empty")
        if not isinstance(value, int):
            raise bad_request(f"invalid {key} specified")
        return value

    def _send_chat_action(self, p: dict, files: dict) -> bool:
        chat = self._writable_chat(p)
        if p.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._emit("chat_action", chat.info["id"], {}, action=p["action"])
        return True

    def _get_chat(self, p: dict, files: dict) -> dict:
        chat = self._chat(p)
        return {
            **copy.deepcopy(chat.info),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _get_chat_member(self, p: dict, files: dict) -> dict:
        chat = self._chat(p)
        user_id = p.get("user_id")
        if user_id == self.bot_user["id"]:
            return {"status": "member", "user": dict(self.bot_user)}
        if user_id not in self._users:
            raise bad_request("PARTICIPANT_ID_INVALID")
        status = "member" if user_id in chat.members else "left"
        if chat.info["type"] == "private" and chat.blocked:
            status = "kicked"
        member: dict[str, Any] = {"status": status, "user": copy.deepcopy(self._users[user_id])}
        if status == "kicked":
            member["until_date"] = 0
        return member

    def _get_chat_member_count(self, p: dict, files: dict) -> int:
        return len(self._chat(p).members) + 1
