"""Sending messages: `sendMessage`, `sendPhoto`, `sendDocument`, `copyMessage`, `forwardMessage`.

Each send is checked (lengths, markup, reply target) then counted against the rate limits."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from bot.sandbox.telegram.entities import format_text, utf16_len
from bot.sandbox.telegram.errors import bad_request
from bot.sandbox.telegram.limits import MAX_CAPTION, MAX_TEXT
from bot.sandbox.telegram.markup import _inline, check_reply_markup
from bot.sandbox.telegram.state import _Chat, _public

# What copyMessage copies (Bot API, copyMessage: any message but service messages, paid media
# and invoices); the copy has no link to the original.
COPIED = frozenset(
    {
        "text",
        "entities",
        "photo",
        "document",
        "caption",
        "caption_entities",
        "voice",
        "video",
        "audio",
        "animation",
        "video_note",
        "sticker",
        "location",
        "contact",
    }
)
NO_CAPTION = frozenset({"text", "sticker", "video_note", "location", "contact"})


class SendingMixin:
    """The send family of Bot API methods."""

    api_methods: ClassVar[dict[str, str]] = {
        "sendmessage": "_send_message",
        "sendphoto": "_send_photo",
        "senddocument": "_send_document",
        "copymessage": "_copy_message",
        "forwardmessage": "_forward_message",
    }

    def _store_message(
        self, chat: _Chat, sender: dict, fields: dict, reply_to: dict | None
    ) -> dict:
        message: dict[str, Any] = {
            "message_id": chat.next_id,
            "from": copy.deepcopy(sender),
            "chat": copy.deepcopy(chat.info),
            "date": int(self.wall_clock()),
        }
        if reply_to is not None:
            message["reply_to_message"] = _public(
                {k: v for k, v in reply_to.items() if k != "reply_to_message"}
            )
        message.update(copy.deepcopy(fields))
        message["_edits"] = 0
        chat.next_id += 1
        self._save_ids()
        chat.messages[message["message_id"]] = message
        self._emit("message", chat.info["id"], message)
        return message

    def _forwarded_fields(self, source: dict) -> dict:
        fields = {
            k: copy.deepcopy(v)
            for k, v in source.items()
            if k in ("text", "entities", "photo", "document", "caption", "caption_entities")
        }
        if "forward_origin" in source:
            for key in ("forward_origin", "forward_from", "forward_sender_name", "forward_date"):
                if key in source:
                    fields[key] = copy.deepcopy(source[key])
            return fields
        sender = source["from"]
        if sender["id"] in self._hidden_forwards:
            name = " ".join(filter(None, (sender.get("first_name"), sender.get("last_name"))))
            fields["forward_origin"] = {
                "type": "hidden_user",
                "date": source["date"],
                "sender_user_name": name,
            }
            fields["forward_sender_name"] = name
        else:
            fields["forward_origin"] = {
                "type": "user",
                "date": source["date"],
                "sender_user": copy.deepcopy(sender),
            }
            fields["forward_from"] = copy.deepcopy(sender)
        fields["forward_date"] = source["date"]
        return fields

    def _reply_target(self, chat: _Chat, p: dict) -> dict | None:
        reply = p.get("reply_parameters")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply"))
            if reply.get("chat_id") not in (None, chat.info["id"]):
                chat = self._chat(reply)
        else:
            message_id = p.get("reply_to_message_id")
            allow_missing = bool(p.get("allow_sending_without_reply"))
        if message_id is None:
            return None
        target = chat.messages.get(message_id) if isinstance(message_id, int) else None
        if target is None and not allow_missing:
            raise bad_request("message to be replied not found")
        return target

    def _text_fields(self, text: Any, p: dict, entities_key: str = "entities") -> tuple[str, list]:
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        plain, entities = format_text(text, p.get("parse_mode"), p.get(entities_key))
        resolved = []
        for entity in entities:
            if entity.get("type") == "text_mention":
                # Telegram drops mentions of people the bot cannot see.
                user = self._users.get((entity.get("user") or {}).get("id"))
                if user is None:
                    continue
                entity = {**entity, "user": copy.deepcopy(user)}
            resolved.append(entity)
        return plain, resolved

    def _message_text(self, p: dict) -> tuple[str, list]:
        text, entities = self._text_fields(p.get("text"), p)
        if not text:
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        return text, entities

    def _caption(self, p: dict) -> dict:
        if p.get("caption") in (None, ""):
            return {}
        caption, entities = self._text_fields(p["caption"], p, "caption_entities")
        if utf16_len(caption) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        fields: dict[str, Any] = {"caption": caption} if caption else {}
        if caption and entities:
            fields["caption_entities"] = entities
        return fields

    def _take_rate(self, chat: _Chat) -> None:
        self.limits.take(chat.info["id"])

    def _deliver(self, chat: _Chat, fields: dict, reply_to: dict | None, p: dict) -> dict:
        reply_to = self._place_in_thread(chat, p, fields, reply_to)
        self._take_rate(chat)
        message = self._store_message(chat, self.bot_user, fields, reply_to)
        self.delivered[chat.info["id"]] = self.delivered.get(chat.info["id"], 0) + 1
        return message

    def _send_message(self, p: dict, files: dict) -> dict:
        chat = self._writable_chat(p)
        text, entities = self._message_text(p)
        markup = check_reply_markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        fields: dict[str, Any] = {"text": text}
        if entities:
            fields["entities"] = entities
        return _public(self._deliver(chat, self._with_markup(fields, markup), reply_to, p))

    @staticmethod
    def _with_markup(fields: dict, markup: dict | None) -> dict:
        # Only inline keyboards belong to the message; reply keyboards live on the client.
        if _inline(markup):
            fields["reply_markup"] = markup
        elif markup:
            fields["_keyboard"] = markup
        return fields

    def _send_photo(self, p: dict, files: dict) -> dict:
        chat = self._writable_chat(p)
        caption = self._caption(p)
        markup = check_reply_markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        stored = self._input_file(p, files, "photo", "photo")
        fields = {"photo": self._photo_sizes(stored), **caption}
        return _public(self._deliver(chat, self._with_markup(fields, markup), reply_to, p))

    def _send_document(self, p: dict, files: dict) -> dict:
        chat = self._writable_chat(p)
        caption = self._caption(p)
        markup = check_reply_markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        stored = self._input_file(p, files, "document", "document")
        fields = {"document": self._document(stored), **caption}
        return _public(self._deliver(chat, self._with_markup(fields, markup), reply_to, p))

    def _source_message(self, p: dict, action: str) -> dict:
        source_chat = self._chat(p, "from_chat_id")
        message = source_chat.messages.get(self._message_id(p))
        if message is None:
            raise bad_request(f"message to {action} not found")
        return message

    def _copy_message(self, p: dict, files: dict) -> dict:
        chat = self._writable_chat(p)
        source = self._source_message(p, "copy")
        fields = {k: copy.deepcopy(v) for k, v in source.items() if k in COPIED}
        if not fields or not (fields.keys() - {"entities", "caption", "caption_entities"}):
            raise bad_request("message can't be copied")  # service messages, among others
        if "caption" in p and not (fields.keys() & NO_CAPTION):
            fields.pop("caption", None)
            fields.pop("caption_entities", None)
            fields.update(self._caption(p))
        elif utf16_len(fields.get("caption") or "") > MAX_CAPTION:
            # The copy is the bot's message: the bot's caption limit applies again (a Telegram
            # Premium user's caption can be longer than a bot may send).
            raise bad_request("message caption is too long")
        markup = check_reply_markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        message = self._deliver(chat, self._with_markup(fields, markup), reply_to, p)
        return {"message_id": message["message_id"]}

    def _forward_message(self, p: dict, files: dict) -> dict:
        chat = self._writable_chat(p)
        source = self._source_message(p, "forward")
        return _public(self._deliver(chat, self._forwarded_fields(source), None, p))
