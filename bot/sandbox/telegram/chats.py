"""Looking up chats and members: `getChat`, `getChatMember`, `getChatMemberCount`, `sendChatAction`.

Also the lookups every other method family uses (`chat_id` and `message_id` checked as Telegram checks them)."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from bot.sandbox.telegram.errors import ApiError, bad_request
from bot.sandbox.telegram.state import _Chat

# Rights of a ChatMemberAdministrator and of a ChatMemberRestricted (Bot API, "ChatMember";
# python-telegram-bot 22's classes require every one of them).
ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
    "can_manage_topics",
)
MEMBER_RIGHTS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
    "can_edit_tag",
    "can_react_to_messages",
)

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
        chat = self._chats[value]
        self._refuse_migrated(chat)
        return chat

    def _writable_chat(self, p: dict) -> _Chat:
        chat = self._chat(p)
        if chat.info["type"] == "private":
            if chat.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if not chat.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        else:
            self._refuse_outsider(chat)
            member = chat.bot_member
            if member["status"] == "restricted" and not member.get("can_send_messages", False):
                raise bad_request("not enough rights to send text messages to the chat")
        return chat

    def _refuse_outsider(self, chat: _Chat) -> None:
        """A group the bot left or was removed from answers 403 to everything it asks."""
        where = "supergroup chat" if chat.info["type"] == "supergroup" else "group chat"
        status = chat.bot_member["status"]
        if status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {where}")
        if status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {where}")

    def set_bot_member(
        self, chat_id: int, status: str, *, announce: bool = True, **rights: bool
    ) -> dict:
        """The bot's place in a group, as an admin would set it: `member`, `administrator` (with
        rights such as can_manage_topics=True), `restricted` (can_send_messages=False…),
        `left` or `kicked`. The bot gets the `my_chat_member` update Telegram sends; with
        `announce=False` none (the bot was given that place before it started: a test's set-up)."""
        if status not in ("member", "administrator", "restricted", "left", "kicked"):
            raise ValueError(f"unknown status {status!r}")
        chat = self._chats[chat_id]
        if chat.info["type"] == "private":
            raise ValueError("the bot's membership is set in groups")
        old = self._bot_chat_member(chat)
        chat.bot_member = {"status": status, **rights}
        self._signal_change()
        if not announce:
            return self._bot_chat_member(chat)
        admin = self._users[min(chat.members)] if chat.members else dict(self.bot_user)
        self._enqueue(
            "my_chat_member",
            {
                "chat": copy.deepcopy(chat.info),
                "from": copy.deepcopy(admin),
                "date": int(self.wall_clock()),
                "old_chat_member": old,
                "new_chat_member": self._bot_chat_member(chat),
            },
        )
        return self._bot_chat_member(chat)

    def _bot_chat_member(self, chat: _Chat) -> dict:
        """The bot's ChatMember object in a group (Bot API: ChatMemberAdministrator,
        ChatMemberRestricted, ChatMemberLeft, ChatMemberBanned, ChatMemberMember)."""
        member: dict[str, Any] = {"user": dict(self.bot_user), **copy.deepcopy(chat.bot_member)}
        status = member["status"]
        if status == "administrator":
            for right in ADMIN_RIGHTS:
                member.setdefault(right, False)
            member.setdefault("can_be_edited", False)
            member.setdefault("is_anonymous", False)
            if not chat.info.get("is_forum"):
                member.pop("can_manage_topics", None)
        elif status == "restricted":
            member.setdefault("is_member", True)
            member.setdefault("until_date", 0)
            for right in MEMBER_RIGHTS:
                member.setdefault(right, False)
        elif status == "kicked":
            member.setdefault("until_date", 0)
        return member

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
        if chat.info["type"] != "private":
            self._refuse_outsider(chat)
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
            if chat.info["type"] == "private":
                return {"status": "member", "user": dict(self.bot_user)}
            self._refuse_outsider(chat)
            return self._bot_chat_member(chat)
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
