"""What the sandbox page receives: a Telegram message (text, entities as HTML, buttons, files,
forum topics) or a mail, reduced to the JSON the page draws."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bot.sandbox.web.entities import entities_to_html, safe_href

BUTTON_URL_SCHEMES = ("http", "https", "tg")


def _name(user: dict) -> str:
    return " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p) or "?"


def _body(message: dict) -> tuple[str, list[dict] | None]:
    if message.get("text") is not None:
        return message["text"], message.get("entities")
    return message.get("caption") or "", message.get("caption_entities")


def _snippet(message: dict, limit: int = 90) -> str:
    text, _ = _body(message)
    if not text:
        if message.get("document"):
            text = "Document: " + (message["document"].get("file_name") or "document")
        elif message.get("photo"):
            text = "Photo"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def topic_service(message: dict) -> str | None:
    """A forum topic's service message in words (created, renamed, closed, reopened)."""
    if "forum_topic_created" in message:
        return f"Topic “{message['forum_topic_created'].get('name', '')}” created"
    if "forum_topic_edited" in message:
        name = message["forum_topic_edited"].get("name")
        return f"Topic renamed “{name}”" if name else "Topic icon changed"
    if "forum_topic_closed" in message:
        return "Topic closed"
    if "forum_topic_reopened" in message:
        return "Topic reopened"
    return None


def _buttons(message: dict) -> list[list[dict]]:
    rows = []
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        buttons = []
        for button in row:
            shown: dict[str, Any] = {"text": button.get("text", "")}
            if "callback_data" in button:
                shown["data"] = button["callback_data"]
            elif button.get("url"):
                href = safe_href(button["url"], BUTTON_URL_SCHEMES)
                if href:
                    shown["url"] = href
            buttons.append(shown)
        rows.append(buttons)
    return rows


def page_message(message: dict, *, edited: bool | None = None) -> dict:
    """One message as the page draws it: text already turned into safe HTML, files as links."""
    text, entities = _body(message)
    sender = message.get("from") or {}
    chat_id = (message.get("chat") or {}).get("id")
    shown: dict[str, Any] = {
        "id": message["message_id"],
        "chat_id": chat_id,
        "date": message.get("date"),
        "from": {"id": sender.get("id"), "name": _name(sender), "is_bot": sender.get("is_bot")},
        "text": text,
        "html": entities_to_html(text, entities),
        "edited": bool(message.get("edit_date")) if edited is None else edited,
        "buttons": _buttons(message),
        # Forums: the topic the message is in (None: the General topic, or not a forum).
        "thread_id": message.get("message_thread_id") if message.get("is_topic_message") else None,
        "service": topic_service(message),
    }
    document = message.get("document")
    if document:
        shown["document"] = {
            "name": document.get("file_name") or "document",
            "size": document.get("file_size"),
            "mime": document.get("mime_type"),
            "url": f"/files/{quote(document['file_id'], safe='')}",
        }
    if message.get("photo"):
        largest = message["photo"][-1]
        shown["photo"] = {"url": f"/files/{quote(largest['file_id'], safe='')}?inline=1"}
    replied = message.get("reply_to_message")
    if replied and replied.get("message_id") == shown["thread_id"]:
        replied = None  # in a topic, every message "replies" to its creation: not worth showing
    if replied:
        shown["reply_to"] = {
            "id": replied.get("message_id"),
            "from": _name(replied.get("from") or {}),
            "text": _snippet(replied),
        }
    forwarded = message.get("forward_origin") or {}
    if forwarded:
        origin = forwarded.get("sender_user") or {}
        shown["forwarded_from"] = (
            _name(origin) if origin else forwarded.get("sender_user_name") or "hidden"
        )
    return shown


def page_mail(mail: dict) -> dict:
    return {
        "id": mail.get("id"),
        "to": list(mail.get("rcpt_tos") or []),
        "from": mail.get("from") or mail.get("mail_from") or "",
        "subject": mail.get("subject") or "",
        "text": mail.get("text") or "",
        "received_at": mail.get("received_at"),
    }


def _mailbox(sandbox):
    return getattr(sandbox.smtp, "mailbox", sandbox.smtp)
