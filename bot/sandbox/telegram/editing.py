"""Changing sent messages: `editMessageText`, `editMessageCaption`, `editMessageReplyMarkup`, `deleteMessage`.

An edit that changes nothing is refused with Telegram's "message is not modified"."""

from __future__ import annotations

from typing import Any, ClassVar

from bot.sandbox.telegram.errors import ApiError, bad_request
from bot.sandbox.telegram.markup import _inline, check_reply_markup
from bot.sandbox.telegram.state import _Chat, _public

DELETE_WINDOW = 48 * 3600  # seconds a message can be deleted after it was sent

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


class EditingMixin:
    """The edit and delete family of Bot API methods."""

    api_methods: ClassVar[dict[str, str]] = {
        "editmessagetext": "_edit_message_text",
        "editmessagecaption": "_edit_message_caption",
        "editmessagereplymarkup": "_edit_message_reply_markup",
        "deletemessage": "_delete_message",
    }

    def _bot_message(self, p: dict) -> tuple[_Chat, dict]:
        if p.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")  # the bot has no inline mode
        chat = self._chat(p)
        message = chat.messages.get(self._message_id(p))
        if message is None:
            raise bad_request("message to edit not found")
        if message["from"]["id"] != self.bot_user["id"]:
            raise bad_request("message can't be edited")
        return chat, message

    def _apply_edit(
        self, chat: _Chat, message: dict, fields: dict, markup: dict | None, replaced: tuple
    ) -> dict:
        """Replace the `replaced` keys by `fields`; a missing reply_markup removes the keyboard,
        as in Telegram."""
        changed = {k: v for k, v in message.items() if k not in (*replaced, "reply_markup")}
        changed.update(fields)
        if markup is not None:
            changed["reply_markup"] = markup
        keys = ("text", "entities", "caption", "caption_entities", "reply_markup")
        if all(changed.get(k) == message.get(k) for k in keys):
            raise ApiError(400, NOT_MODIFIED)
        self._take_rate(chat)
        message.clear()
        message.update(changed)
        message["edit_date"] = int(self.wall_clock())
        message["_edits"] += 1
        self._emit("edit", chat.info["id"], message)
        return message

    def _edit_message_text(self, p: dict, files: dict) -> dict:
        chat, message = self._bot_message(p)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._message_text(p)
        markup = _inline(check_reply_markup(p.get("reply_markup")))
        fields: dict[str, Any] = {"text": text}
        if entities:
            fields["entities"] = entities
        return _public(self._apply_edit(chat, message, fields, markup, ("text", "entities")))

    def _edit_message_caption(self, p: dict, files: dict) -> dict:
        chat, message = self._bot_message(p)
        if "text" in message:
            raise bad_request("there is no caption in the message to edit")
        markup = _inline(check_reply_markup(p.get("reply_markup")))
        fields = self._caption(p)
        replaced = ("caption", "caption_entities")
        return _public(self._apply_edit(chat, message, fields, markup, replaced))

    def _edit_message_reply_markup(self, p: dict, files: dict) -> dict:
        chat, message = self._bot_message(p)
        markup = _inline(check_reply_markup(p.get("reply_markup")))
        return _public(self._apply_edit(chat, message, {}, markup, ()))

    def _delete_message(self, p: dict, files: dict) -> bool:
        chat = self._chat(p)
        message_id = self._message_id(p)
        message = chat.messages.get(message_id)
        if message is None:
            raise bad_request("message to delete not found")
        # Bot API, deleteMessage: "A message can only be deleted if it was sent less than 48
        # hours ago" (Telegram answers 400 "message can't be deleted").
        if self.wall_clock() - message["date"] >= DELETE_WINDOW:
            raise bad_request("message can't be deleted")
        chat.messages.pop(message_id)
        self._emit("delete", chat.info["id"], message)
        return True
