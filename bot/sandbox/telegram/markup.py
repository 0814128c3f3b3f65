"""Reply markup (inline and reply keyboards) checked as the Bot API server checks it.

Only inline keyboards belong to a message; reply keyboards live on the person's client."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from bot.sandbox.telegram.entities import is_valid_url
from bot.sandbox.telegram.errors import bad_request
from bot.sandbox.telegram.limits import MAX_CALLBACK_DATA

# Reply markup.

_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


_MARKUP_JSON = "can't parse reply keyboard markup JSON object"
# An inline keyboard holds at most 100 buttons, 8 in a row (`telegram.constants.
# InlineKeyboardMarkupLimit`: TOTAL_BUTTON_NUMBER, BUTTONS_PER_ROW), and its JSON about 10 KB
# (Telegram-Limits; reported as "reply markup is too long"). Telegram answers a keyboard past the
# total with "Bad Request: reply markup is too long"; past 8 in a row it is undocumented: the
# stricter reading refuses it the same way.
MAX_BUTTONS = 100
MAX_BUTTONS_PER_ROW = 8
MAX_MARKUP_BYTES = 10_000
_TOO_LONG = "reply markup is too long"


def check_reply_markup(markup: Any) -> dict | None:
    """Validate a reply_markup as Telegram does; returns it (or None when absent)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request(_MARKUP_JSON)
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                'Field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        for row in rows:
            for button in row:
                _check_button(button)
        if sum(len(row) for row in rows) > MAX_BUTTONS or any(
            len(row) > MAX_BUTTONS_PER_ROW for row in rows
        ):
            raise bad_request(_TOO_LONG)
        if len(json.dumps(markup, ensure_ascii=False).encode("utf-8")) > MAX_MARKUP_BYTES:
            raise bad_request(_TOO_LONG)
        return markup
    if any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
        return markup
    raise bad_request(_MARKUP_JSON)


def _check_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request(_MARKUP_JSON)
    if not any(key in button for key in _BUTTON_ACTIONS):
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button and not (
        isinstance(button["url"], str)
        and is_valid_url(button["url"])
        and _button_host_accepted(button["url"])
    ):
        raise bad_request("BUTTON_URL_INVALID")


def _button_host_accepted(url: str) -> bool:
    """Telegram refuses URL buttons whose host has no dot (`http://localhost:8080/…`,
    rubenlagus/TelegramBots#302). Whether it refuses IP literals is not known: accepted here,
    the sandbox's own pages are on 127.0.0.1."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return True
    return "." in (parts.hostname or "").strip(".")


def _inline(markup: dict | None) -> dict | None:
    return markup if markup and "inline_keyboard" in markup else None
