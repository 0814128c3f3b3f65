"""The people talking to the bot: users, groups, blocking, and what they send or press.

Each call produces the update Telegram would deliver to the bot (message, callback_query, my_chat_member)."""

from __future__ import annotations

import copy
import mimetypes
import re
from typing import Any

from bot.sandbox.telegram.entities import utf16_len
from bot.sandbox.telegram.state import _Chat, _public


class UsersMixin:
    """The people: their accounts, chats and groups, and what they send to the bot."""

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        language_code: str | None = "fr",
        username: str | None = None,
        last_name: str | None = None,
        started: bool = True,
    ) -> dict:
        """Register a person and their private chat with the bot (chat id == user id).

        `started=False`: they never opened the bot, so the bot cannot write to them first."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        info = {"id": user_id, "type": "private", "first_name": first_name}
        if last_name:
            info["last_name"] = last_name
        if username:
            info["username"] = username
        if user_id in self._chats:
            self._chats[user_id].info = info
        else:
            self._chats[user_id] = self._new_chat(info, {user_id}, started=started)
        return copy.deepcopy(user)

    def add_group(
        self, chat_id: int, title: str, members: list[int], *, forum: bool = False
    ) -> dict:
        """Register a group the bot is in; ids starting with -100 are supergroups, and only they
        can be forums (`forum=True`: topics are on)."""
        if chat_id >= 0:
            raise ValueError("group ids are negative")
        unknown = [m for m in members if m not in self._users]
        if unknown:
            raise ValueError(f"unknown users {unknown}: add_user them first")
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        info: dict[str, Any] = {"id": chat_id, "title": title, "type": kind}
        if forum:
            if kind != "supergroup":
                raise ValueError("only supergroups can be forums")
            info["is_forum"] = True
        if chat_id in self._chats:
            self._chats[chat_id].info = info
            self._chats[chat_id].members = set(members)
        else:
            self._chats[chat_id] = self._new_chat(info, set(members))
        return copy.deepcopy(info)

    def user(self, user_id: int) -> dict:
        return copy.deepcopy(self._require_user(user_id))

    def block_bot(self, user_id: int) -> None:
        self._set_blocked(user_id, True)

    def unblock_bot(self, user_id: int) -> None:
        self._set_blocked(user_id, False)

    def set_forward_privacy(self, user_id: int, hidden: bool) -> None:
        """Hidden: messages forwarded from this person do not link to their account."""
        self._require_user(user_id)
        if hidden:
            self._hidden_forwards.add(user_id)
        else:
            self._hidden_forwards.discard(user_id)

    def _set_blocked(self, user_id: int, blocked: bool) -> None:
        self._require_user(user_id)
        chat = self._chats[user_id]
        if chat.blocked == blocked:
            return
        chat.blocked = blocked
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        self._enqueue(
            "my_chat_member",
            {
                "chat": copy.deepcopy(chat.info),
                "from": copy.deepcopy(self._users[user_id]),
                "date": int(self.wall_clock()),
                "old_chat_member": self._bot_member(old),
                "new_chat_member": self._bot_member(new),
            },
        )

    def _bot_member(self, status: str) -> dict:
        member: dict[str, Any] = {"user": dict(self.bot_user), "status": status}
        if status == "kicked":
            member["until_date"] = 0  # forever
        return member

    def _require_user(self, user_id: int) -> dict:
        if user_id not in self._users:
            raise KeyError(f"no user {user_id}: add_user it first")
        return self._users[user_id]

    def _user_chat(self, user_id: int, chat_id: int | None) -> _Chat:
        self._require_user(user_id)
        chat_id = user_id if chat_id is None else chat_id
        chat = self._chats.get(chat_id)
        if chat is None:
            raise KeyError(f"no chat {chat_id}")
        if user_id not in chat.members:
            raise ValueError(f"user {user_id} is not a member of chat {chat_id}")
        if chat.migrated_to is not None:
            raise ValueError(f"chat {chat_id} was upgraded: it is chat {chat.migrated_to} now")
        if chat.info["type"] == "private":
            # Writing to a bot one blocked restarts it, as the "Restart" button does.
            chat.started = True
            self._set_blocked(user_id, False)
        return chat

    async def send_text(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        anonymous: bool = False,
    ) -> dict:
        """A person sends `text` (in a forum: in topic `message_thread_id`, else General);
        returns the Message (the bot gets it as an update, unless privacy mode hides it).

        `anonymous`: a group admin with "Remain anonymous" on writes as the group (`from` is
        @GroupAnonymousBot, `sender_chat` the group)."""
        if not text.strip():
            raise ValueError("Telegram does not send empty messages")
        chat = self._user_chat(user_id, chat_id)
        fields: dict[str, Any] = {"text": text}
        command = re.match(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![^\s])", text)
        if command:
            fields["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))}
            ]
        sender = self._anonymous_sender(chat, fields) if anonymous else None
        return self._user_message(
            chat, user_id, fields, reply_to_message_id, message_thread_id, sender=sender
        )

    async def send_photo(
        self,
        user_id: int,
        *,
        chat_id: int | None = None,
        caption: str | None = None,
        data: bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01",
    ) -> dict:
        chat = self._user_chat(user_id, chat_id)
        stored = self._store_file("photo", data, "photo.jpg", "image/jpeg")
        fields: dict[str, Any] = {"photo": self._photo_sizes(stored)}
        if caption:
            fields["caption"] = caption
        return self._user_message(chat, user_id, fields, None)

    async def send_document(
        self,
        user_id: int,
        *,
        filename: str,
        data: bytes,
        mime_type: str | None = None,
        chat_id: int | None = None,
        caption: str | None = None,
    ) -> dict:
        chat = self._user_chat(user_id, chat_id)
        mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = self._store_file("document", data, filename, mime)
        fields: dict[str, Any] = {"document": self._document(stored)}
        if caption:
            fields["caption"] = caption
        return self._user_message(chat, user_id, fields, None)

    async def send_voice(
        self,
        user_id: int,
        *,
        chat_id: int | None = None,
        data: bytes = b"OggS\0\2" + b"\0" * 26,
        duration: int = 3,
        caption: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict:
        """A voice note (OGG/Opus)."""
        stored = self._store_file("voice", data, "voice.ogg", "audio/ogg")
        fields: dict[str, Any] = {
            "voice": {**self._file_fields(stored), "duration": duration, "mime_type": "audio/ogg"}
        }
        return self._user_media(user_id, chat_id, fields, caption, reply_to_message_id)

    async def send_video(
        self,
        user_id: int,
        *,
        chat_id: int | None = None,
        data: bytes = b"\0\0\0\x18ftypmp42" + b"\0" * 12,
        duration: int = 5,
        caption: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict:
        """A video (MP4)."""
        stored = self._store_file("video", data, "video.mp4", "video/mp4")
        fields: dict[str, Any] = {
            "video": {
                **self._file_fields(stored),
                "width": 640,
                "height": 360,
                "duration": duration,
                "mime_type": "video/mp4",
            }
        }
        return self._user_media(user_id, chat_id, fields, caption, reply_to_message_id)

    async def send_sticker(
        self,
        user_id: int,
        *,
        chat_id: int | None = None,
        emoji: str = "👍",
        reply_to_message_id: int | None = None,
    ) -> dict:
        """A sticker (a static WebP one; stickers have no caption)."""
        stored = self._store_file("sticker", b"RIFF\0\0\0\0WEBPVP8 ", "sticker.webp", "image/webp")
        fields: dict[str, Any] = {
            "sticker": {
                **self._file_fields(stored),
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": emoji,
            }
        }
        return self._user_media(user_id, chat_id, fields, None, reply_to_message_id)

    def _user_media(
        self,
        user_id: int,
        chat_id: int | None,
        fields: dict,
        caption: str | None,
        reply_to_message_id: int | None,
    ) -> dict:
        chat = self._user_chat(user_id, chat_id)
        if caption:
            fields["caption"] = caption
        return self._user_message(chat, user_id, fields, reply_to_message_id)

    @staticmethod
    def _file_fields(stored) -> dict:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
        }

    async def forward(
        self, user_id: int, from_chat_id: int, message_id: int, to_chat_id: int
    ) -> dict:
        """A person forwards a message they can see to another chat (usually the bot)."""
        source_chat = self._user_chat(user_id, from_chat_id)
        source = source_chat.messages.get(message_id)
        if source is None:
            raise KeyError(f"no message {message_id} in chat {from_chat_id}")
        chat = self._user_chat(user_id, to_chat_id)
        return self._user_message(chat, user_id, self._forwarded_fields(source), None)

    def _user_message(
        self,
        chat: _Chat,
        user_id: int,
        fields: dict,
        reply_to_message_id: int | None,
        message_thread_id: int | None = None,
        *,
        sender: dict | None = None,
    ) -> dict:
        reply = None
        if reply_to_message_id is not None:
            reply = chat.messages.get(reply_to_message_id)
            if reply is None:
                raise KeyError(f"no message {reply_to_message_id} to reply to")
            if message_thread_id is None:
                message_thread_id = reply.get("message_thread_id")
        in_topic = self._user_thread(chat, message_thread_id, fields)
        reply = reply if reply is not None else in_topic
        message = self._store_message(chat, sender or self._users[user_id], fields, reply)
        if self._reaches_bot(chat, message):  # privacy mode hides most group messages
            self._enqueue("message", _public(message))
        return _public(message)
