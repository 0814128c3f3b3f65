"""Groups as Telegram runs them for bots: privacy mode, whom a ForceReply targets, a group upgraded
to a supergroup (new id, 400 with `migrate_to_chat_id`, service messages), anonymous admins, and
people editing their messages (`edited_message`).

Rules and sources are listed in docs/TELEGRAM.md; where Telegram's rule is not published, the
stricter reading is taken (said where it is)."""

from __future__ import annotations

import copy
import re
from typing import Any

from bot.sandbox.telegram.entities import utf16_len
from bot.sandbox.telegram.errors import ApiError
from bot.sandbox.telegram.state import _Chat, _public

# @GroupAnonymousBot: the `from` of a message an admin sends "anonymously", as the group
# (Bot API, Message.sender_chat; python-telegram-bot's ChatID.ANONYMOUS_ADMIN).
ANONYMOUS_ADMIN = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
# What every method answers for the old id of a group upgraded to a supergroup.
MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"
# Service messages: a bot receives them whatever its privacy mode.
SERVICE_KEYS = frozenset(
    {
        "new_chat_members",
        "left_chat_member",
        "new_chat_title",
        "new_chat_photo",
        "delete_chat_photo",
        "group_chat_created",
        "supergroup_chat_created",
        "migrate_to_chat_id",
        "migrate_from_chat_id",
        "pinned_message",
        "forum_topic_created",
        "forum_topic_edited",
        "forum_topic_closed",
        "forum_topic_reopened",
        "general_forum_topic_hidden",
        "general_forum_topic_unhidden",
    }
)
_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![^\s])")


class GroupsMixin:
    """Privacy mode, ForceReply targets, migrations, anonymous admins and edits by people."""

    # Telegram's default for a new bot: privacy mode on (BotFather /setprivacy turns it off).
    privacy_mode: bool = True

    # -- privacy mode ------------------------------------------------------------------------

    def set_privacy_mode(self, enabled: bool) -> None:
        """BotFather's /setprivacy: with it off the bot sees every group message."""
        self.privacy_mode = enabled

    def _reaches_bot(self, chat: _Chat, message: dict) -> bool:
        """Whether a bot in privacy mode receives this group message (FAQ, "Privacy mode"):
        commands meant for it (`/cmd@bot`, or a bare `/cmd` when it was the last bot to post in
        the group), replies to its messages, messages mentioning it, service messages. A bot
        that is an administrator of the group receives everything ("Bot features", Privacy mode:
        "bot admins always receive all messages")."""
        if chat.info["type"] == "private" or not self.privacy_mode:
            return True
        if chat.bot_member["status"] in ("administrator", "creator"):
            return True
        if SERVICE_KEYS & message.keys():
            return True
        text = message.get("text") or message.get("caption") or ""
        command = _COMMAND.match(text)
        if command:
            _, _, target = command.group(0).partition("@")
            if target:
                return target.lower() == self.bot_user["username"].lower()
            return self._bot_posted_last(chat, before=message["message_id"])
        reply = message.get("reply_to_message") or {}
        if (reply.get("from") or {}).get("id") == self.bot_user["id"]:
            return True
        return f"@{self.bot_user['username']}".lower() in text.lower()

    def _bot_posted_last(self, chat: _Chat, before: int) -> bool:
        """May a bare `/cmd` go to this bot? The FAQ: "if the bot was the last bot to send a
        message to the group". Read here as: no other bot posted after it (a group where no bot
        has posted yet has no other bot to give it to). A command meant for another bot
        (`/cmd@other_bot`) never reaches this one."""
        for message_id in sorted(chat.messages, reverse=True):
            if message_id >= before:
                continue
            sender = chat.messages[message_id].get("from") or {}
            if sender.get("is_bot") and sender.get("id") != ANONYMOUS_ADMIN["id"]:
                return sender.get("id") == self.bot_user["id"]
        return True

    # -- ForceReply ---------------------------------------------------------------------------

    def force_reply_targets(self, chat_id: int, message_id: int) -> set[int]:
        """The people whose app opens a reply to this bot message (Bot API, ForceReply): every
        member, or with `selective` only the users @mentioned in its text and the sender of the
        message it replies to."""
        chat = self._chats[chat_id]
        message = chat.messages[message_id]
        markup = message.get("_keyboard") or {}
        if not markup.get("force_reply"):
            return set()
        members = set(chat.members)
        if not markup.get("selective"):
            return members
        targets: set[int] = set()
        text = message.get("text") or message.get("caption") or ""
        units = text.encode("utf-16-le")
        for entity in message.get("entities") or message.get("caption_entities") or []:
            if entity.get("type") == "text_mention":
                targets.add(entity["user"]["id"])
            elif entity.get("type") == "mention":
                start, length = entity["offset"] * 2, entity["length"] * 2
                name = units[start : start + length].decode("utf-16-le").lstrip("@").lower()
                targets |= {
                    uid
                    for uid, user in self._users.items()
                    if (user.get("username") or "").lower() == name
                }
        replied = (message.get("reply_to_message") or {}).get("from") or {}
        if not replied.get("is_bot") and replied.get("id"):
            targets.add(replied["id"])
        return targets & members

    # -- group -> supergroup -----------------------------------------------------------------

    def migrate_group(self, chat_id: int, *, announce: bool = True) -> int:
        """An admin upgrades a basic group: it becomes a supergroup with a new id (-100…), every
        member moves, the old id answers 400 with `migrate_to_chat_id` from now on. `announce`:
        the service messages (`migrate_to_chat_id` in the old chat, `migrate_from_chat_id` in the
        new one) reach the bot. Stricter reading: no message moves, the new chat's ids start at
        1, so nothing of the old chat can be edited or replied to there."""
        chat = self._chats.get(chat_id)
        if chat is None or chat.info["type"] != "group":
            raise ValueError(f"chat {chat_id} is not a basic group")
        if chat.migrated_to is not None:
            raise ValueError(f"chat {chat_id} was already upgraded")
        new_id = int(f"-100{abs(chat_id)}")
        while new_id in self._chats:
            new_id -= 1
        info = {"id": new_id, "title": chat.info["title"], "type": "supergroup"}
        self._chats[new_id] = self._new_chat(info, set(chat.members))
        chat.migrated_to = new_id
        if announce:
            admin = self._users[min(chat.members)] if chat.members else ANONYMOUS_ADMIN
            for where, fields in (
                (chat, {"migrate_to_chat_id": new_id}),
                (self._chats[new_id], {"migrate_from_chat_id": chat_id}),
            ):
                message = self._store_message(where, admin, fields, None)
                self._enqueue("message", _public(message))
        self._signal_change()
        return new_id

    def _refuse_migrated(self, chat: _Chat) -> None:
        """The old id of an upgraded group: 400 with parameters.migrate_to_chat_id."""
        if chat.migrated_to is not None:
            raise ApiError(400, MIGRATED, parameters={"migrate_to_chat_id": chat.migrated_to})

    # -- people editing their messages ---------------------------------------------------------

    async def edit_text(
        self, user_id: int, message_id: int, text: str, *, chat_id: int | None = None
    ) -> dict:
        """A person edits the text of a message of theirs: the bot gets an `edited_message`
        update (Bot API, Update.edited_message) with `edit_date`, if it would have received the
        message (privacy mode). An edit that changes nothing sends nothing (Telegram's apps)."""
        if not text.strip():
            raise ValueError("Telegram does not keep empty messages")
        chat = self._user_chat(user_id, chat_id)
        message = chat.messages.get(message_id)
        if message is None or (message.get("from") or {}).get("id") != user_id:
            raise KeyError(f"no message {message_id} of user {user_id} in chat {chat.info['id']}")
        if "text" not in message:
            raise ValueError("only text messages are edited this way")
        if message["text"] == text:
            raise ValueError("the text did not change: Telegram sends no update")
        message["text"] = text
        command = _COMMAND.match(text)
        if command:
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))}
            ]
        else:
            message.pop("entities", None)
        message["edit_date"] = int(self.wall_clock())
        message["_edits"] = message.get("_edits", 0) + 1
        self._emit("edit", chat.info["id"], message)
        if self._reaches_bot(chat, message):
            self._enqueue("edited_message", _public(message))
        return _public(message)

    def _anonymous_sender(self, chat: _Chat, fields: dict[str, Any]) -> dict:
        """An admin writing as the group: `from` is @GroupAnonymousBot, `sender_chat` the group."""
        if chat.info["type"] not in ("group", "supergroup"):
            raise ValueError("only group admins can write anonymously")
        fields["sender_chat"] = copy.deepcopy(chat.info)
        return ANONYMOUS_ADMIN
