"""A fake Telegram Bot API server for the sandbox and the end-to-end tests (SPEC §7).

It speaks `/bot<token>/<method>` like api.telegram.org, rejects what Telegram rejects, and plays the users."""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import copy
import dataclasses
import inspect
import itertools
import json
import math
import mimetypes
import re
import secrets
import socket
import string
import time
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bot.sandbox.serve import RunningServer, start_server

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
CALLBACK_QUERY_TTL = 15 * 60
MAX_LONG_POLL = 50
MAX_COMMANDS = 100
MAX_COMMAND = 32
MAX_COMMAND_DESCRIPTION = 256

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
UPDATE_TYPES = (
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
    "chat_member",
    "message_reaction",
)
# Telegram only sends these when asked for explicitly in allowed_updates.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
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
COUNTED_METHODS = frozenset(
    {
        "sendmessage",
        "sendphoto",
        "senddocument",
        "copymessage",
        "forwardmessage",
        "editmessagetext",
        "editmessagecaption",
        "editmessagereplymarkup",
    }
)


class ApiError(Exception):
    """A Bot API failure, answered as `{"ok": false, "error_code": ..., "description": ...}`."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return JSONResponse(body, status_code=self.code)


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


class _Described(NamedTuple):
    """A result that Telegram answers with a `description` next to it (setWebhook and friends)."""

    result: Any
    description: str


# ---------------------------------------------------------------------------------------------
# Text: UTF-16 lengths and the HTML parse mode, following tdlib's parser and its error texts.

_SPACES = " \t\r\n\v\f\0"
_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_NAME_TOKEN = frozenset(string.ascii_letters + string.digits + ".-")


class EntityParseError(ValueError):
    """HTML that Telegram refuses; the message is what follows "can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Telegram measures texts and entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _decode_entity(markup: str, pos: int) -> tuple[str, int] | None:
    """Decode the character reference at `pos` (an "&") as tdlib does: the ";" is optional."""
    n = len(markup)
    end = pos + 1
    if end < n and markup[end] == "#":
        end += 1
        hexadecimal = end < n and markup[end] == "x"
        digits = string.hexdigits if hexadecimal else string.digits
        end += hexadecimal
        start = end
        while end < n and markup[end] in digits:
            end += 1
        code = int(markup[start:end], 16 if hexadecimal else 10) if end > start else 0
        if code == 0 or code >= 0x10FFFF or end - pos >= 10 or 0xD800 <= code <= 0xDFFF:
            return None
        char = chr(code)
    else:
        start = end
        while end < n and markup[end] in string.ascii_letters:
            end += 1
        char = _NAMED_ENTITIES.get(markup[start:end])
        if char is None:
            return None
    if end < n and markup[end] == ";":
        end += 1
    return char, end


@dataclasses.dataclass
class _OpenTag:
    name: str
    offset: int
    attributes: dict[str, str]
    byte_offset: int
    language: str | None = None


def parse_html(markup: str) -> tuple[str, list[dict]]:
    """Plain text and entities (offsets in UTF-16 units) of an HTML-formatted message.

    Stricter than Telegram on one point, on purpose: an "&" that starts no character reference is
    an error here (Telegram keeps it literally), because it means a value was not escaped."""

    def byte_offset(index: int) -> int:
        return len(markup[:index].encode("utf-8", "surrogatepass"))

    out: list[str] = []
    units = 0
    stack: list[_OpenTag] = []
    entities: list[dict] = []
    n = len(markup)
    i = 0
    while i < n:
        char = markup[i]
        if char == "&":
            decoded = _decode_entity(markup, i)
            if decoded is None:
                raise EntityParseError(
                    f'Unescaped "&" at byte offset {byte_offset(i)}: write it as "&amp;" (sandbox)'
                )
            char, i = decoded
            out.append(char)
            units += utf16_len(char)
            continue
        if char != "<":
            out.append(char)
            units += 2 if ord(char) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        if i + 1 < n and markup[i + 1] == "/":
            j = i + 2
            while j < n and markup[j] not in _SPACES and markup[j] != ">":
                j += 1
            name = markup[i + 2 : j].lower()
            while j < n and markup[j] in _SPACES:
                j += 1
            if j >= n or markup[j] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            tag = stack.pop()
            if name and name != tag.name:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                    f'expected "</{tag.name}>", found "</{name}>"'
                )
            _close_tag(tag, units, stack, entities)
            i = j + 1
            continue
        j = i + 1
        while j < n and markup[j] not in _SPACES and markup[j] != ">":
            j += 1
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        name = markup[i + 1 : j].lower()
        if name not in _HTML_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {byte_offset(begin)}'
            )
        attributes, j = _parse_attributes(markup, j, name, byte_offset(begin))
        _check_attributes(name, attributes, byte_offset(begin))
        stack.append(_OpenTag(name, units, attributes, byte_offset(begin)))
        i = j + 1
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _parse_attributes(markup: str, j: int, tag: str, at: int) -> tuple[dict[str, str], int]:
    """Attributes of a start tag from index `j`; returns them and the index of the closing ">"."""
    attributes: dict[str, str] = {}
    n = len(markup)
    while True:
        while j < n and markup[j] in _SPACES:
            j += 1
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {at}")
        if markup[j] == ">":
            return attributes, j
        start = j
        while j < n and markup[j] not in _SPACES and markup[j] not in "=>":
            j += 1
        name = markup[start:j].lower()
        if not name:
            raise EntityParseError(f'Empty attribute name in the tag "{tag}" at byte offset {at}')
        while j < n and markup[j] in _SPACES:
            j += 1
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {at}")
        if markup[j] != "=":
            if tag == "blockquote" and name == "expandable":
                attributes[name] = ""
                continue
            raise EntityParseError(
                f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                f"at byte offset {at}"
            )
        j += 1
        while j < n and markup[j] in _SPACES:
            j += 1
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {at}")
        if markup[j] in "'\"":
            quote = markup[j]
            j += 1
            value: list[str] = []
            while j < n and markup[j] != quote:
                if markup[j] == "&":
                    decoded = _decode_entity(markup, j)
                    if decoded is None:
                        raise EntityParseError(
                            f'Unescaped "&" in an attribute of the tag "{tag}" at byte offset '
                            f'{len(markup[:j].encode())}: write it as "&amp;" (sandbox)'
                        )
                    value.append(decoded[0])
                    j = decoded[1]
                    continue
                value.append(markup[j])
                j += 1
            if j >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {at}")
            attributes[name] = "".join(value)
            j += 1
        else:
            start = j
            while j < n and markup[j] in _NAME_TOKEN:
                j += 1
            if j >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {at}")
            if markup[j] not in _SPACES and markup[j] != ">":
                raise EntityParseError(
                    f"Unexpected end of name token at byte offset {len(markup[:start].encode())}"
                )
            attributes[name] = markup[start:j].lower()


def _check_attributes(tag: str, attributes: dict[str, str], at: int) -> None:
    # Telegram turns <a> without href into a link to its own text; a template doing that is a bug.
    if tag == "a" and "href" not in attributes:
        raise EntityParseError(
            f'Tag "a" must have an "href" attribute at byte offset {at} (sandbox)'
        )
    if tag == "span" and attributes.get("class") != "tg-spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {at}')
    if tag == "tg-emoji" and not attributes.get("emoji-id"):
        raise EntityParseError(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {at}')


def _close_tag(tag: _OpenTag, units: int, stack: list[_OpenTag], entities: list[dict]) -> None:
    length = units - tag.offset
    language = tag.attributes.get("class", "")
    if (
        tag.name == "code"
        and stack
        and stack[-1].name == "pre"
        and language.startswith("language-")
    ):
        # <pre><code class="language-x"> is one `pre` entity with a language, as in Telegram.
        stack[-1].language = language.removeprefix("language-")
        return
    if length <= 0:
        return
    entity: dict[str, Any] = {"type": _HTML_TAGS[tag.name], "offset": tag.offset, "length": length}
    if tag.name == "a":
        href = tag.attributes["href"]
        user = re.fullmatch(r"tg://user\?id=(\d+)", href)
        if user:
            entity = {**entity, "type": "text_mention", "user": {"id": int(user.group(1))}}
        elif is_valid_url(href):
            entity["url"] = href
        else:
            return  # Telegram silently drops links it cannot open
    elif tag.name == "pre" and tag.language:
        entity["language"] = tag.language
    elif tag.name == "blockquote" and "expandable" in tag.attributes:
        entity["type"] = "expandable_blockquote"
    elif tag.name == "tg-emoji":
        entity["custom_emoji_id"] = tag.attributes["emoji-id"]
    entities.append(entity)


def is_valid_url(url: str) -> bool:
    """The links Telegram accepts in buttons and text links: http(s) with a host, or tg://."""
    if not url or any(c in _SPACES for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme in ("http", "https"):
        return bool(parts.hostname)
    return parts.scheme == "tg" and bool(parts.netloc or parts.path)


def _trim(text: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """Telegram strips leading and trailing blanks; entities follow the shift."""
    stripped = text.strip(_SPACES)
    if stripped == text:
        return text, entities
    shift = utf16_len(text[: len(text) - len(text.lstrip(_SPACES))])
    total = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


def format_text(text: str, parse_mode: str | None, entities: list | None) -> tuple[str, list[dict]]:
    """What Telegram stores for `text` + `parse_mode` (or explicit `entities`): plain text and entities.

    MarkdownV2 and Markdown are taken as plain text here: the bot formats with HTML only."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        try:
            plain, found = parse_html(text)
        except EntityParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
    elif mode in ("", "markdown", "markdownv2"):
        plain, found = text, [dict(e) for e in entities or []]
    else:
        raise bad_request(f"unsupported parse_mode {parse_mode!r}")
    return _trim(plain, found)


# ---------------------------------------------------------------------------------------------
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
    if "url" in button and not (isinstance(button["url"], str) and is_valid_url(button["url"])):
        raise bad_request("BUTTON_URL_INVALID")


def _inline(markup: dict | None) -> dict | None:
    return markup if markup and "inline_keyboard" in markup else None


# ---------------------------------------------------------------------------------------------
# Request parameters: query string, JSON, urlencoded or multipart forms, as Telegram accepts.

_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "allowed_updates",
        "commands",
        "scope",
        "reply_parameters",
        "link_preview_options",
        "menu_button",
    }
)
_INT_PARAMS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "reply_to_message_id",
        "cache_time",
        "max_connections",
        "message_thread_id",
        "user_id",
    }
)
_BOOL_PARAMS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "show_alert",
        "drop_pending_updates",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "disable_content_type_detection",
        "has_spoiler",
        "show_caption_above_media",
        "allow_paid_broadcast",
    }
)
_JSON_ERRORS = {
    "reply_markup": _MARKUP_JSON,
    "entities": "can't parse entities JSON object",
    "caption_entities": "can't parse caption entities JSON object",
    "scope": "can't parse BotCommandScope JSON object",
}


@dataclasses.dataclass
class Upload:
    """A file part of a multipart request."""

    filename: str
    mime_type: str
    data: bytes


def _header_params(value: str) -> dict[str, str]:
    params = {}
    for match in re.finditer(r';\s*([\w*.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', value):
        raw = match.group(2).strip()
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[match.group(1).lower()] = raw
    return params


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, Upload]]:
    """Fields and file parts of a multipart/form-data body, bytes kept exactly."""
    boundary = _header_params(content_type).get("boundary")
    if not boundary:
        raise bad_request("can't parse multipart/form-data: no boundary")
    fields: dict[str, str] = {}
    uploads: dict[str, Upload] = {}
    for segment in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        if segment.startswith(b"--"):
            break
        segment = segment.removeprefix(b"\r\n")
        head, _, payload = segment.partition(b"\r\n\r\n")
        payload = payload.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = _header_params(";" + headers.get("content-disposition", "").partition(";")[2])
        name = disposition.get("name")
        if name is None:
            continue
        filename = disposition.get("filename")
        if filename is None and "filename*" in disposition:
            filename = disposition["filename*"].split("''", 1)[-1]
        if filename is None:
            fields[name] = payload.decode("utf-8", "replace")
        else:
            mime = headers.get("content-type", "application/octet-stream").split(";")[0]
            uploads[name] = Upload(filename, mime, payload)
    return fields, uploads


def _coerce(params: dict[str, Any]) -> dict[str, Any]:
    """Give form values (all strings) the types Telegram reads them as."""
    result = {}
    for key, value in params.items():
        if isinstance(value, str):
            if key in _JSON_PARAMS:
                try:
                    value = json.loads(value)
                except ValueError:
                    raise bad_request(
                        _JSON_ERRORS.get(key, f"can't parse {key} JSON object")
                    ) from None
            elif key in _INT_PARAMS:
                with contextlib.suppress(ValueError):
                    value = int(float(value)) if "." in value else int(value)
            elif key in _BOOL_PARAMS:
                value = value.strip().lower() in ("true", "1")
        result[key] = value
    return result


async def read_params(request: Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    params: dict[str, Any] = dict(request.query_params)
    uploads: dict[str, Upload] = {}
    content_type = request.headers.get("content-type", "")
    mime = content_type.split(";")[0].strip().lower()
    body = await request.body()
    if body and mime == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise bad_request("can't parse JSON encoded request") from None
        if not isinstance(data, dict):
            raise bad_request("can't parse JSON encoded request")
        params.update(data)
    elif mime == "application/x-www-form-urlencoded":
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif body and mime == "multipart/form-data":
        fields, uploads = parse_multipart(body, content_type)
        params.update(fields)
    return _coerce(params), uploads


# ---------------------------------------------------------------------------------------------
# Rate limits: token buckets, as the limits Telegram documents (30/s overall, ~1/s per chat with
# short bursts, 20/min per group).


class _Bucket:
    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = now

    def wait(self, now: float) -> float:
        """Seconds until one token is available (0 when it is now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class RateLimits:
    """Counts message sends and edits; a rate of 0 (or less) disables that limit."""

    def __init__(
        self,
        clock: Callable[[], float],
        global_rate: float,
        chat_rate: float,
        chat_burst: int,
        group_per_minute: int,
    ) -> None:
        self.clock = clock
        self.chat_rate = chat_rate
        self.chat_burst = chat_burst
        self.group_per_minute = group_per_minute
        self.global_bucket = (
            _Bucket(global_rate, max(global_rate, 1.0), clock()) if global_rate > 0 else None
        )
        self.chats: dict[int, _Bucket] = {}

    def _chat_bucket(self, chat_id: int, now: float) -> _Bucket | None:
        if chat_id not in self.chats:
            if chat_id < 0:
                if self.group_per_minute <= 0:
                    return None
                bucket = _Bucket(self.group_per_minute / 60, self.group_per_minute, now)
            else:
                if self.chat_rate <= 0:
                    return None
                bucket = _Bucket(self.chat_rate, max(self.chat_burst, 1), now)
            self.chats[chat_id] = bucket
        return self.chats[chat_id]

    def take(self, chat_id: int) -> None:
        """Spend one message for `chat_id`, or raise the 429 Telegram would answer."""
        now = self.clock()
        buckets = [b for b in (self.global_bucket, self._chat_bucket(chat_id, now)) if b]
        wait = max((b.wait(now) for b in buckets), default=0.0)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        for bucket in buckets:
            bucket.tokens -= 1


# ---------------------------------------------------------------------------------------------
# State.


@dataclasses.dataclass
class _Chat:
    info: dict
    members: set[int]
    messages: dict[int, dict] = dataclasses.field(default_factory=dict)
    next_id: int = 1
    blocked: bool = False  # private chats: the user blocked the bot
    started: bool = True  # private chats: the user has opened the conversation


@dataclasses.dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # "photo" or "document"
    data: bytes
    file_name: str
    mime_type: str
    file_path: str


@dataclasses.dataclass
class _Fault:
    method: str | None
    kind: str
    remaining: int
    delay: float


@dataclasses.dataclass
class _CallbackQuery:
    user_id: int
    chat_id: int
    message_id: int
    created: float
    answered: bool = False


def _public(message: dict) -> dict:
    """The Telegram JSON of a stored message: without the sandbox's own `_` keys."""
    return copy.deepcopy({k: v for k, v in message.items() if not k.startswith("_")})


def _image_size(data: bytes) -> tuple[int, int] | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data) and data[i] == 0xFF:
            marker, size = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(
                    data[i + 5 : i + 7], "big"
                )
            i += 2 + size
        return 0, 0
    if data.startswith((b"GIF87a", b"GIF89a")) and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return 0, 0
    return None


class FakeTelegram:
    """The Bot API server (`app`) and the people talking to the bot (the user-side methods).

    Rate limits count sends and edits; set `global_rate`, `chat_rate` or `group_per_minute` to 0
    to switch that limit off. Everything lives in memory; state changes never await, so concurrent
    requests in one event loop see consistent state. Call `close()` before stopping the server:
    it ends long polls, event streams and webhook delivery."""

    def __init__(
        self,
        token: str = "123456:SANDBOX",
        *,
        global_rate: float = 30.0,
        chat_rate: float = 1.0,
        chat_burst: int = 5,
        group_per_minute: int = 20,
        clock: Callable[[], float] = time.monotonic,
        username: str = "ofbot_sandbox_bot",
    ) -> None:
        self.token = token
        self.clock = clock
        self.url: str | None = None
        self.bot_user = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "OpenFlyers (sandbox)",
            "username": username,
        }
        self.limits = RateLimits(clock, global_rate, chat_rate, chat_burst, group_per_minute)
        self._users: dict[int, dict] = {}
        self._hidden_forwards: set[int] = set()
        self._chats: dict[int, _Chat] = {}
        self._files: dict[str, StoredFile] = {}
        self._file_paths: dict[str, str] = {}
        self._file_numbers = itertools.count(1)
        self._callbacks: dict[str, _CallbackQuery] = {}
        self._callback_numbers = itertools.count(1)
        self.callback_answers: list[dict] = []
        self.api_calls: collections.deque[tuple[str, dict]] = collections.deque(maxlen=1000)

        self._updates: list[dict] = []
        self._next_update_id = 1
        self.update_count = 0  # updates produced and not dropped: what the bot will receive
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._webhook: dict[str, Any] = {"url": ""}
        self._webhook_task: asyncio.Task | None = None

        self._commands: dict[CommandsKey, list[dict]] = {}
        self._descriptions: dict[tuple[str, str], str] = {}
        self._menu_buttons: dict[int | None, dict] = {}
        self._faults: list[_Fault] = []
        self._subscribers: list[asyncio.Queue] = []
        self._changed = asyncio.Event()
        self._new_update = asyncio.Event()
        self._closing = asyncio.Event()
        self.rate_limited = 0
        self.delivered: dict[int, int] = {}
        self.calls: dict[str, int] = {}

        self._methods: dict[str, Callable[[dict, dict[str, Upload]], Any]] = {
            "getme": self._get_me,
            "logout": self._true,
            "close": self._true,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "setmydescription": self._set_description("description"),
            "getmydescription": self._get_description("description"),
            "setmyshortdescription": self._set_description("short_description"),
            "getmyshortdescription": self._get_description("short_description"),
            "setmyname": self._set_description("name"),
            "getmyname": self._get_description("name"),
            "setchatmenubutton": self._set_chat_menu_button,
            "getchatmenubutton": self._get_chat_menu_button,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "senddocument": self._send_document,
            "copymessage": self._copy_message,
            "forwardmessage": self._forward_message,
            "editmessagetext": self._edit_message_text,
            "editmessagecaption": self._edit_message_caption,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "answercallbackquery": self._answer_callback_query,
            "sendchataction": self._send_chat_action,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "getchatmembercount": self._get_chat_member_count,
            "getfile": self._get_file,
        }
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._http_bot_api, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._http_file, methods=["GET"]),
                Route("/sandbox/chats", self._http_chats, methods=["GET"]),
                Route("/sandbox/chats/{chat_id:int}/messages", self._http_messages),
                Route("/sandbox/chats/{chat_id}/commands", self._http_commands),
                Route("/sandbox/users", self._http_add_user, methods=["POST"]),
                Route("/sandbox/send", self._http_send, methods=["POST"]),
                Route("/sandbox/press", self._http_press, methods=["POST"]),
                Route("/sandbox/photo", self._http_photo, methods=["POST"]),
                Route("/sandbox/document", self._http_document, methods=["POST"]),
                Route("/sandbox/forward", self._http_forward, methods=["POST"]),
                Route("/sandbox/block", self._http_block, methods=["POST"]),
                Route("/sandbox/files/{file_id}", self._http_download, methods=["GET"]),
                Route("/sandbox/events", self._http_events, methods=["GET"]),
                Route("/sandbox/fault", self._http_fault, methods=["POST"]),
                Route("/sandbox/stats", self._http_stats, methods=["GET"]),
            ]
        )

    # -- people and chats ----------------------------------------------------------------------

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
            self._chats[user_id] = _Chat(info, {user_id}, started=started)
        return copy.deepcopy(user)

    def add_group(self, chat_id: int, title: str, members: list[int]) -> dict:
        """Register a group the bot is in; ids starting with -100 are supergroups."""
        if chat_id >= 0:
            raise ValueError("group ids are negative")
        unknown = [m for m in members if m not in self._users]
        if unknown:
            raise ValueError(f"unknown users {unknown}: add_user them first")
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        info = {"id": chat_id, "title": title, "type": kind}
        if chat_id in self._chats:
            self._chats[chat_id].info = info
            self._chats[chat_id].members = set(members)
        else:
            self._chats[chat_id] = _Chat(info, set(members))
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
                "date": int(time.time()),
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
        if chat.info["type"] == "private":
            # Writing to a bot one blocked restarts it, as the "Restart" button does.
            chat.started = True
            self._set_blocked(user_id, False)
        return chat

    # -- the user side: say things, press buttons ----------------------------------------------

    async def send_text(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict:
        """A person sends `text`; returns the Message (the bot gets it as an update)."""
        if not text.strip():
            raise ValueError("Telegram does not send empty messages")
        chat = self._user_chat(user_id, chat_id)
        fields: dict[str, Any] = {"text": text}
        command = re.match(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![^\s])", text)
        if command:
            fields["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))}
            ]
        return self._user_message(chat, user_id, fields, reply_to_message_id)

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

    def _user_message(
        self, chat: _Chat, user_id: int, fields: dict, reply_to_message_id: int | None
    ) -> dict:
        reply = None
        if reply_to_message_id is not None:
            reply = chat.messages.get(reply_to_message_id)
            if reply is None:
                raise KeyError(f"no message {reply_to_message_id} to reply to")
        message = self._store_message(chat, self._users[user_id], fields, reply)
        self._enqueue("message", _public(message))
        return _public(message)

    # -- reading what happened -----------------------------------------------------------------

    def chats(self) -> list[dict]:
        """Every chat with its members, for the UIs."""
        return [
            {
                "chat": copy.deepcopy(chat.info),
                "members": [copy.deepcopy(self._users[m]) for m in sorted(chat.members)],
                "blocked": chat.blocked,
                "last_message_id": max(chat.messages, default=0),
            }
            for chat in self._chats.values()
        ]

    def messages(self, chat_id: int) -> list[dict]:
        """Current state of every message in the chat, oldest first (edits applied, deletions gone)."""
        if chat_id not in self._chats:
            raise KeyError(f"no chat {chat_id}")
        return [copy.deepcopy(m) for m in self._chats[chat_id].messages.values()]

    def bot_messages(self, chat_id: int) -> list[dict]:
        return [m for m in self.messages(chat_id) if m["from"]["id"] == self.bot_user["id"]]

    def last_bot_message(self, chat_id: int) -> dict | None:
        found = self.bot_messages(chat_id)
        return found[-1] if found else None

    def transcript(self, chat_id: int) -> str:
        lines = []
        for m in self.messages(chat_id):
            who = "bot" if m["from"]["is_bot"] else m["from"]["first_name"]
            body = m.get("text") or m.get("caption") or ""
            if "document" in m:
                body = f"[document {m['document'].get('file_name')}] {body}"
            elif "photo" in m:
                body = f"[photo] {body}"
            buttons = [
                b["text"]
                for row in m.get("reply_markup", {}).get("inline_keyboard", [])
                for b in row
            ]
            extra = f"  {buttons}" if buttons else ""
            lines.append(f"#{m['message_id']} {who}: {body}{extra}")
        return "\n".join(lines) or "(no messages)"

    async def _wait(self, predicate: Callable[[], dict | None], timeout: float, what: str, chat_id):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            found = predicate()
            if found is not None:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"{what} within {timeout}s; chat {chat_id}:\n{self.transcript(chat_id)}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def wait_for_bot_message(
        self,
        chat_id: int,
        *,
        after: int | None = None,
        contains: str | None = None,
        timeout: float = 5.0,
    ) -> dict:
        """The oldest bot message with id > `after` whose text or caption contains `contains`.

        Messages are seen in their current state, so one edited to match counts too."""

        def find() -> dict | None:
            for message in self.bot_messages(chat_id):
                if message["message_id"] > (after or 0) and _contains(message, contains):
                    return message
            return None

        what = f"no bot message after #{after or 0}" + (
            f" containing {contains!r}" if contains else ""
        )
        return await self._wait(find, timeout, what, chat_id)

    async def wait_for_edit(
        self,
        chat_id: int,
        message_id: int,
        *,
        contains: str | None = None,
        after_edits: int = 0,
        timeout: float = 5.0,
    ) -> dict:
        """The message once edited more than `after_edits` times (and containing `contains`)."""

        def find() -> dict | None:
            message = self._chats[chat_id].messages.get(message_id)
            if message and message["_edits"] > after_edits and _contains(message, contains):
                return copy.deepcopy(message)
            return None

        what = f"message #{message_id} not edited" + (
            f" to contain {contains!r}" if contains else ""
        )
        return await self._wait(find, timeout, what, chat_id)

    def file(self, file_id: str) -> StoredFile:
        if file_id not in self._files:
            raise KeyError(f"no file {file_id}")
        return self._files[file_id]

    def document_bytes(self, message: dict) -> bytes:
        """The bytes of the document (or largest photo) a message carries."""
        if "document" in message:
            return self.file(message["document"]["file_id"]).data
        if message.get("photo"):
            return self.file(message["photo"][-1]["file_id"]).data
        raise ValueError(f"message {message.get('message_id')} carries no file")

    def commands(self, language_code: str = "", scope: dict | None = None) -> list[dict]:
        """The list the bot set for exactly this scope and language (no fallback)."""
        key = self._commands_key({"scope": scope, "language_code": language_code})
        return copy.deepcopy(self._commands.get(key, []))

    def menu(
        self,
        user_id: int,
        chat_id: int | None = None,
        *,
        language_code: str | None = None,
        administrator: bool = False,
    ) -> list[dict]:
        """The commands a person's app shows in a chat's menu: the first list set, from the
        narrowest scope to the default one, each first in their language, then for everyone.

        `language_code` is their app's language (default: their user's); the sandbox keeps no
        group administrators, so `administrator=True` says this person is one."""
        user = self._require_user(user_id)
        chat_id = user_id if chat_id is None else chat_id
        chat = self._chats.get(chat_id)
        if chat is None:
            raise KeyError(f"no chat {chat_id}")
        language = language_code if language_code is not None else user.get("language_code")
        language = (language or "")[:2].lower()
        if chat.info["type"] == "private":
            scopes = [
                CommandsKey("chat", chat_id),
                CommandsKey("all_private_chats"),
                CommandsKey("default"),
            ]
        else:
            admin = administrator  # the administrators' lists come before the chat's
            scopes = [
                CommandsKey("chat_member", chat_id, user_id),
                *([CommandsKey("chat_administrators", chat_id)] if admin else []),
                CommandsKey("chat", chat_id),
                *([CommandsKey("all_chat_administrators")] if admin else []),
                CommandsKey("all_group_chats"),
                CommandsKey("default"),
            ]
        for scope in scopes:
            for key in (scope._replace(language=language), scope):
                if key in self._commands:
                    return copy.deepcopy(self._commands[key])
        return []

    def subscribe(self) -> asyncio.Queue:
        """A queue receiving every change: {"kind", "chat_id", "message"}; `None` means closed."""
        queue: asyncio.Queue = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(queue)

    @property
    def stats(self) -> dict:
        return {
            "rate_limited": self.rate_limited,
            "delivered": dict(self.delivered),
            "calls": dict(self.calls),
            "pending_updates": len(self._updates),
            "update_count": self.update_count,
        }

    def inject_fault(
        self, method: str | None, kind: str, count: int = 1, *, delay: float = 20.0
    ) -> None:
        """Make the next `count` calls (of `method`, or of any method) fail.

        kind "500": an Internal Server Error; "429": Too Many Requests, retry after 1;
        "timeout": answer only after `delay` seconds, longer than the client waits."""
        if kind not in ("500", "429", "timeout"):
            raise ValueError(f"unknown fault kind {kind!r}")
        self._faults.append(_Fault(method.lower() if method else None, kind, count, delay))

    async def close(self) -> None:
        """End long polls, event streams and webhook delivery, so the server can stop."""
        self._closing.set()
        self._signal_updates()
        self._signal_change()
        for queue in self._subscribers:
            queue.put_nowait(None)
        await self._stop_webhook_task()

    # -- internals: messages, updates, events --------------------------------------------------

    def _store_message(
        self, chat: _Chat, sender: dict, fields: dict, reply_to: dict | None
    ) -> dict:
        message: dict[str, Any] = {
            "message_id": chat.next_id,
            "from": copy.deepcopy(sender),
            "chat": copy.deepcopy(chat.info),
            "date": int(time.time()),
        }
        if reply_to is not None:
            message["reply_to_message"] = _public(
                {k: v for k, v in reply_to.items() if k != "reply_to_message"}
            )
        message.update(copy.deepcopy(fields))
        message["_edits"] = 0
        chat.next_id += 1
        chat.messages[message["message_id"]] = message
        self._emit("message", chat.info["id"], message)
        return message

    def _emit(self, kind: str, chat_id: int, message: dict, **extra: Any) -> None:
        event = {"kind": kind, "chat_id": chat_id, "message": copy.deepcopy(message), **extra}
        for queue in self._subscribers:
            queue.put_nowait(copy.deepcopy(event))
        self._signal_change()

    def _signal_change(self) -> None:
        # Waiters hold the old event; a fresh one is armed for the next change.
        self._changed.set()
        self._changed = asyncio.Event()

    def _signal_updates(self) -> None:
        self._new_update.set()
        self._new_update = asyncio.Event()

    def _enqueue(self, kind: str, payload: dict) -> None:
        allowed = self._allowed_updates
        if allowed is not None and kind not in allowed:
            return
        if allowed is None and kind in OPT_IN_UPDATES:
            return
        self._updates.append({"update_id": self._next_update_id, kind: payload})
        self._next_update_id += 1
        self.update_count += 1
        self._signal_updates()

    def _drop_pending(self) -> None:
        self.update_count -= len(self._updates)
        self._updates.clear()

    def _store_file(self, kind: str, data: bytes, file_name: str, mime_type: str) -> StoredFile:
        number = next(self._file_numbers)
        prefix = "AgAC" if kind == "photo" else "BQAC"
        file_id = f"{prefix}{number:04d}{secrets.token_urlsafe(24)}"
        folder = "photos" if kind == "photo" else "documents"
        extension = mimetypes.guess_extension(mime_type) or ""
        if kind == "document" and "." in file_name:
            extension = "." + file_name.rsplit(".", 1)[1]
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=f"AQAD{number:04d}{secrets.token_urlsafe(6)}",
            kind=kind,
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            file_path=f"{folder}/file_{number}{extension}",
        )
        self._files[file_id] = stored
        self._file_paths[stored.file_path] = file_id
        return stored

    def _photo_sizes(self, stored: StoredFile) -> list[dict]:
        width, height = _image_size(stored.data) or (0, 0)
        return [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": width or 640,
                "height": height or 480,
                "file_size": len(stored.data),
            }
        ]

    @staticmethod
    def _document(stored: StoredFile) -> dict:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": stored.file_name,
            "mime_type": stored.mime_type,
            "file_size": len(stored.data),
        }

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

    # -- internals: Bot API helpers ------------------------------------------------------------

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

    def _deliver(self, chat: _Chat, fields: dict, reply_to: dict | None) -> dict:
        self._take_rate(chat)
        message = self._store_message(chat, self.bot_user, fields, reply_to)
        self.delivered[chat.info["id"]] = self.delivered.get(chat.info["id"], 0) + 1
        return message

    def _input_file(self, p: dict, files: dict[str, Upload], field: str, kind: str) -> StoredFile:
        upload = files.get(field)
        if upload is None:
            value = p.get(field)
            if value in (None, ""):
                raise bad_request(f"there is no {field} in the request")
            if not isinstance(value, str):
                raise bad_request("wrong file identifier/HTTP URL specified")
            if value.startswith("attach://"):
                upload = files.get(value.removeprefix("attach://"))
                if upload is None:
                    raise bad_request("wrong file identifier/HTTP URL specified")
            elif value.startswith(("http://", "https://")):
                raise bad_request("failed to get HTTP URL content")  # no network in the sandbox
            else:
                stored = self._files.get(value)
                if stored is None:
                    raise bad_request("wrong file identifier/HTTP URL specified")
                if stored.kind != kind:
                    raise bad_request(
                        f"can't use file of type {stored.kind.title()} as {kind.title()}"
                    )
                return stored
        if not upload.data:
            raise bad_request("file must be non-empty")
        if kind == "photo":
            if _image_size(upload.data) is None:
                raise bad_request("IMAGE_PROCESS_FAILED")
            return self._store_file("photo", upload.data, upload.filename, "image/jpeg")
        mime = upload.mime_type
        if mime == "application/octet-stream":
            mime = mimetypes.guess_type(upload.filename)[0] or mime
        return self._store_file("document", upload.data, upload.filename, mime)

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
        message["edit_date"] = int(time.time())
        message["_edits"] += 1
        self._emit("edit", chat.info["id"], message)
        return message

    # -- Bot API methods -----------------------------------------------------------------------

    def _true(self, p: dict, files: dict) -> bool:
        return True

    def _get_me(self, p: dict, files: dict) -> dict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, p: dict, request: Request) -> list[dict]:
        if self._webhook["url"]:
            raise ApiError(409, WEBHOOK_CONFLICT)
        offset = p.get("offset")
        limit = p.get("limit", 100)
        timeout = p.get("timeout", 0)
        if not isinstance(limit, int) or not isinstance(timeout, int):
            raise bad_request("invalid limit or timeout")
        limit = min(max(limit, 1), 100)
        timeout = min(max(timeout, 0), MAX_LONG_POLL)
        if "allowed_updates" in p:
            self._set_allowed(p["allowed_updates"])
        if isinstance(offset, int):
            if offset < 0:
                forgotten = self._updates[:offset]
                self._updates = self._updates[offset:]
                self.update_count -= len(forgotten)
            elif offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        self._signal_updates()  # an older long poll, if any, is answered with a conflict
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        disconnected = asyncio.ensure_future(_disconnected(request))
        try:
            while True:
                signal = self._new_update
                if generation != self._poll_generation:
                    raise ApiError(409, POLL_CONFLICT)
                if self._webhook["url"]:
                    raise ApiError(409, WEBHOOK_CONFLICT)
                remaining = deadline - loop.time()
                if self._updates or remaining <= 0 or self._closing.is_set():
                    return copy.deepcopy(self._updates[:limit])
                waiter = asyncio.ensure_future(signal.wait())
                await asyncio.wait(
                    {waiter, disconnected}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                waiter.cancel()
                if disconnected.done():
                    return []
        finally:
            disconnected.cancel()

    def _set_allowed(self, allowed: Any) -> None:
        if allowed is None:
            return
        if not isinstance(allowed, list):
            raise bad_request("can't parse allowed_updates JSON object")
        self._allowed_updates = frozenset(allowed) if allowed else None

    def _set_webhook(self, p: dict, files: dict) -> _Described:
        url = p.get("url") or ""
        if not url:
            self._remove_webhook(bool(p.get("drop_pending_updates")))
            return _Described(True, "Webhook was deleted")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad_request("secret token contains unallowed characters")
        if p.get("drop_pending_updates"):
            self._drop_pending()
        if "allowed_updates" in p:
            self._set_allowed(p["allowed_updates"])
        unchanged = self._webhook.get("url") == url and self._webhook.get("secret") == secret
        self._webhook = {
            "url": url,
            "secret": secret,
            "max_connections": p.get("max_connections") or 40,
            "last_error_date": None,
            "last_error_message": None,
        }
        if self._webhook_task is not None:
            self._webhook_task.cancel()
        self._webhook_task = asyncio.get_running_loop().create_task(
            self._deliver_webhook(url, secret)
        )
        self._signal_updates()
        return _Described(True, "Webhook is already set" if unchanged else "Webhook was set")

    def _remove_webhook(self, drop_pending: bool) -> None:
        if drop_pending:
            self._drop_pending()
        self._webhook = {"url": ""}
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            self._webhook_task = None

    def _delete_webhook(self, p: dict, files: dict) -> _Described:
        existed = bool(self._webhook["url"])
        self._remove_webhook(bool(p.get("drop_pending_updates")))
        return _Described(True, "Webhook was deleted" if existed else "Webhook is already deleted")

    def _get_webhook_info(self, p: dict, files: dict) -> dict:
        info: dict[str, Any] = {
            "url": self._webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._webhook["url"]:
            info["max_connections"] = self._webhook["max_connections"]
            info["ip_address"] = "127.0.0.1"
            if self._webhook["last_error_date"]:
                info["last_error_date"] = self._webhook["last_error_date"]
                info["last_error_message"] = self._webhook["last_error_message"]
        if self._allowed_updates is not None:
            info["allowed_updates"] = sorted(self._allowed_updates)
        return info

    async def _deliver_webhook(self, url: str, secret: str | None) -> None:
        """POST pending updates in order; keep and retry with backoff whatever is not acknowledged."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        delay = 0.2
        async with httpx.AsyncClient(timeout=10.0) as client:
            while not self._closing.is_set():
                signal = self._new_update
                if not self._updates:
                    await _first(signal.wait(), self._closing.wait())
                    continue
                update = self._updates[0]
                try:
                    response = await client.post(url, json=update, headers=headers)
                    error = (
                        None
                        if response.is_success
                        else f"Wrong response from the webhook: {response.status_code} {response.reason_phrase}"
                    )
                except httpx.HTTPError as exc:
                    error = f"Connection failed: {type(exc).__name__}"
                if error is None:
                    if self._updates and self._updates[0] is update:
                        self._updates.pop(0)
                    delay = 0.2
                    continue
                self._webhook["last_error_date"] = int(time.time())
                self._webhook["last_error_message"] = error
                await _first(asyncio.sleep(delay), self._closing.wait())
                delay = min(delay * 2, 5.0)

    async def _stop_webhook_task(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _set_my_commands(self, p: dict, files: dict) -> bool:
        # The Bot API server's order: the commands' JSON, the scope, its chat, then TDLib's checks
        # (language, each command), then Telegram's own (characters, how many).
        raw = _command_list(p.get("commands"))
        key = self._commands_key(p)
        commands = [_clean_command(command) for command in raw]
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]+", command["command"]):
                raise bad_request("BOT_COMMAND_INVALID")
        if len(commands) > MAX_COMMANDS:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        if commands:
            self._commands[key] = commands
        else:
            self._commands.pop(key, None)  # an empty list is no list: the fallbacks apply
        return True

    def _get_my_commands(self, p: dict, files: dict) -> list[dict]:
        """The list for this scope and language, else the scope's list for every language."""
        key = self._commands_key(p)
        found = self._commands.get(key, self._commands.get(key._replace(language="")))
        return copy.deepcopy(found or [])

    def _delete_my_commands(self, p: dict, files: dict) -> bool:
        """Only this scope and language: other languages' lists and narrower scopes stay."""
        self._commands.pop(self._commands_key(p), None)
        return True

    def _commands_key(self, p: dict) -> CommandsKey:
        """The scope and language of a command-list call, checked as Telegram checks them."""
        scope = _command_scope(p.get("scope"))
        chat_id = user_id = None
        if scope["chat_id"] is not None:
            chat = self._chat(scope, "chat_id")
            chat_id = chat.info["id"]
            if scope["user_id"] is not None:
                if scope["user_id"] not in self._users:
                    raise bad_request("user not found")
                user_id = scope["user_id"]
            if chat.info["type"] == "private" and scope["type"] != "chat":
                raise bad_request("can't use specified scope in private chats")
            if chat.info["type"] == "channel":
                raise bad_request("can't change commands in channel chats")
        language = p.get("language_code") or ""
        if not re.fullmatch(r"([a-z]{2})?", str(language)):
            raise bad_request("invalid language code specified")
        return CommandsKey(scope["type"], chat_id, user_id, str(language))

    def _set_description(self, field: str) -> Callable[[dict, dict], bool]:
        def handler(p: dict, files: dict) -> bool:
            self._descriptions[(field, p.get("language_code") or "")] = str(p.get(field) or "")
            return True

        return handler

    def _get_description(self, field: str) -> Callable[[dict, dict], dict]:
        def handler(p: dict, files: dict) -> dict:
            language = p.get("language_code") or ""
            value = self._descriptions.get((field, language), self._descriptions.get((field, "")))
            if field == "name" and not value:
                value = self.bot_user["first_name"]
            return {field: value or ""}

        return handler

    def _set_chat_menu_button(self, p: dict, files: dict) -> bool:
        chat_id = p.get("chat_id")
        if chat_id is not None:
            self._chat(p)
        button = p.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise bad_request("can't parse menu button JSON object")
        self._menu_buttons[chat_id] = button
        return True

    def _get_chat_menu_button(self, p: dict, files: dict) -> dict:
        chat_id = p.get("chat_id")
        return self._menu_buttons.get(chat_id, self._menu_buttons.get(None, {"type": "default"}))

    def _send_message(self, p: dict, files: dict) -> dict:
        chat = self._writable_chat(p)
        text, entities = self._message_text(p)
        markup = check_reply_markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        fields: dict[str, Any] = {"text": text}
        if entities:
            fields["entities"] = entities
        return _public(self._deliver(chat, self._with_markup(fields, markup), reply_to))

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
        return _public(self._deliver(chat, self._with_markup(fields, markup), reply_to))

    def _send_document(self, p: dict, files: dict) -> dict:
        chat = self._writable_chat(p)
        caption = self._caption(p)
        markup = check_reply_markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        stored = self._input_file(p, files, "document", "document")
        fields = {"document": self._document(stored), **caption}
        return _public(self._deliver(chat, self._with_markup(fields, markup), reply_to))

    def _source_message(self, p: dict, action: str) -> dict:
        source_chat = self._chat(p, "from_chat_id")
        message = source_chat.messages.get(self._message_id(p))
        if message is None:
            raise bad_request(f"message to {action} not found")
        return message

    def _copy_message(self, p: dict, files: dict) -> dict:
        chat = self._writable_chat(p)
        source = self._source_message(p, "copy")
        fields = {
            k: copy.deepcopy(v)
            for k, v in source.items()
            if k in ("text", "entities", "photo", "document", "caption", "caption_entities")
        }
        if not fields:
            raise bad_request("message can't be copied")
        if "caption" in p and "text" not in fields:
            fields.pop("caption", None)
            fields.pop("caption_entities", None)
            fields.update(self._caption(p))
        markup = check_reply_markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        message = self._deliver(chat, self._with_markup(fields, markup), reply_to)
        return {"message_id": message["message_id"]}

    def _forward_message(self, p: dict, files: dict) -> dict:
        chat = self._writable_chat(p)
        source = self._source_message(p, "forward")
        return _public(self._deliver(chat, self._forwarded_fields(source), None))

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
        message = chat.messages.pop(self._message_id(p), None)
        if message is None:
            raise bad_request("message to delete not found")
        self._emit("delete", chat.info["id"], message)
        return True

    def _answer_callback_query(self, p: dict, files: dict) -> bool:
        query_id = str(p.get("callback_query_id") or "")
        query = self._callbacks.get(query_id)
        if query is None or query.answered or self.clock() - query.created > CALLBACK_QUERY_TTL:
            raise ApiError(400, QUERY_TOO_OLD)
        text = p.get("text")
        if text is not None and len(str(text)) > 200:
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

    def _get_file(self, p: dict, files: dict) -> dict:
        stored = self._files.get(str(p.get("file_id") or ""))
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    # -- HTTP: the Bot API ---------------------------------------------------------------------

    async def _http_bot_api(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        name = request.path_params["method"].lower()
        if name != "getupdates" and name not in self._methods:
            return ApiError(404, "Not Found").response()
        self.calls[name] = self.calls.get(name, 0) + 1
        try:
            p, files = await read_params(request)
            self.api_calls.append((request.path_params["method"], p))
            # After reading: a timed-out call still reached Telegram and is carried out, late.
            await self._apply_fault(name)
            if name == "getupdates":
                result = await self._get_updates(p, request)
            else:
                result = self._methods[name](p, files)
                if inspect.isawaitable(result):
                    result = await result
        except ApiError as exc:
            if exc.code == 429:
                self.rate_limited += 1
            return exc.response()
        except ClientDisconnect:
            return Response(status_code=499)  # nobody is left to read it
        if isinstance(result, _Described):
            return JSONResponse(
                {"ok": True, "result": result.result, "description": result.description}
            )
        return JSONResponse({"ok": True, "result": result})

    async def _apply_fault(self, name: str) -> None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.method in (None, name):
                fault.remaining -= 1
                break
        else:
            return
        self._faults = [f for f in self._faults if f.remaining > 0]
        if fault.kind == "500":
            raise ApiError(500, "Internal Server Error")
        if fault.kind == "429":
            raise ApiError(429, "Too Many Requests: retry after 1", 1)
        await _first(asyncio.sleep(fault.delay), self._closing.wait())

    async def _http_file(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        file_id = self._file_paths.get(request.path_params["path"])
        if file_id is None:
            return ApiError(404, "Not Found").response()
        stored = self._files[file_id]
        return Response(stored.data, media_type=stored.mime_type)

    # -- HTTP: the user side -------------------------------------------------------------------

    async def _http_chats(self, request: Request) -> Response:
        return JSONResponse({"bot": self.bot_user, "chats": self.chats()})

    async def _http_messages(self, request: Request) -> Response:
        after = int(request.query_params.get("after") or 0)
        chat_id = request.path_params["chat_id"]
        return await _user_call(
            lambda: [m for m in self.messages(chat_id) if m["message_id"] > after]
        )

    async def _http_commands(self, request: Request) -> Response:
        """The menu a person sees in a chat: ?user_id= (default: the private chat's person)."""
        chat_id = request.path_params["chat_id"]
        user_id = request.query_params.get("user_id") or chat_id

        def menu() -> dict:
            return {"commands": self.menu(int(user_id), int(chat_id))}

        return await _user_call(menu)

    async def _http_add_user(self, request: Request) -> Response:
        body = await _json_body(request)
        return await _user_call(
            lambda: self.add_user(
                int(body["user_id"]),
                body["first_name"],
                language_code=body.get("language_code", "fr"),
                username=body.get("username"),
                last_name=body.get("last_name"),
            )
        )

    async def _http_send(self, request: Request) -> Response:
        body = await _json_body(request)
        return await _user_call(
            lambda: self.send_text(
                int(body["user_id"]),
                body["text"],
                chat_id=body.get("chat_id"),
                reply_to_message_id=body.get("reply_to_message_id"),
            )
        )

    async def _http_press(self, request: Request) -> Response:
        body = await _json_body(request)

        async def press() -> dict:
            query_id = await self.press(
                int(body["user_id"]),
                int(body["message_id"]),
                body["data"],
                chat_id=body.get("chat_id"),
            )
            return {"callback_query_id": query_id}

        return await _user_call(press)

    async def _http_photo(self, request: Request) -> Response:
        body = await _json_body(request)
        return await _user_call(
            lambda: self.send_photo(
                int(body["user_id"]),
                chat_id=body.get("chat_id"),
                caption=body.get("caption"),
                **({"data": base64.b64decode(body["data"])} if body.get("data") else {}),
            )
        )

    async def _http_document(self, request: Request) -> Response:
        body = await _json_body(request)
        return await _user_call(
            lambda: self.send_document(
                int(body["user_id"]),
                filename=body["filename"],
                data=base64.b64decode(body["data"]),
                mime_type=body.get("mime_type"),
                chat_id=body.get("chat_id"),
                caption=body.get("caption"),
            )
        )

    async def _http_forward(self, request: Request) -> Response:
        body = await _json_body(request)
        return await _user_call(
            lambda: self.forward(
                int(body["user_id"]),
                int(body["from_chat_id"]),
                int(body["message_id"]),
                int(body["to_chat_id"]),
            )
        )

    async def _http_block(self, request: Request) -> Response:
        body = await _json_body(request)

        def block() -> dict:
            user_id = int(body["user_id"])
            if body.get("blocked", True):
                self.block_bot(user_id)
            else:
                self.unblock_bot(user_id)
            return {"user_id": user_id, "blocked": self._chats[user_id].blocked}

        return await _user_call(block)

    async def _http_download(self, request: Request) -> Response:
        stored = self._files.get(request.path_params["file_id"])
        if stored is None:
            return JSONResponse({"error": "no such file"}, status_code=404)
        filename = stored.file_name.replace('"', "")
        return Response(
            stored.data,
            media_type=stored.mime_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    async def _http_events(self, request: Request) -> Response:
        queue = self.subscribe()

        async def stream():
            try:
                yield ": connected\n\n"
                while not self._closing.is_set():
                    try:
                        event = await asyncio.wait_for(queue.get(), 15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if event is None:
                        return
                    yield f"event: {event['kind']}\ndata: {json.dumps(event)}\n\n"
            finally:
                self.unsubscribe(queue)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    async def _http_fault(self, request: Request) -> Response:
        body = await _json_body(request)

        def inject() -> dict:
            self.inject_fault(
                body.get("method"),
                str(body["kind"]),
                int(body.get("count", 1)),
                delay=float(body.get("delay", 20.0)),
            )
            return {"ok": True}

        return await _user_call(inject)

    async def _http_stats(self, request: Request) -> Response:
        return JSONResponse(self.stats)


class CommandsKey(NamedTuple):
    """Where a list of commands applies: a scope (with its chat and member) and a language."""

    scope: str
    chat_id: int | None = None
    user_id: int | None = None
    language: str = ""


_CHAT_SCOPES = ("chat", "chat_administrators", "chat_member")
_GLOBAL_SCOPES = ("default", "all_private_chats", "all_group_chats", "all_chat_administrators")


def _command_scope(raw: Any) -> dict:
    """A BotCommandScope read as the Bot API server reads it: {"type", "chat_id", "user_id"}."""
    if raw is None or raw == "":
        return {"type": "default", "chat_id": None, "user_id": None}

    def fail(why: str) -> ApiError:
        return bad_request(f"can't parse BotCommandScope: {why}")

    if not isinstance(raw, dict):
        raise fail("BotCommandScope must be an Object")
    kind = raw.get("type")
    if kind is None:
        raise fail('Can\'t find field "type"')
    if not isinstance(kind, str):
        raise fail('Field "type" must be of type String')
    if kind in _GLOBAL_SCOPES:
        return {"type": kind, "chat_id": None, "user_id": None}
    if kind not in _CHAT_SCOPES:
        raise fail("Unsupported type specified")
    chat_id = raw.get("chat_id")
    if chat_id is None:
        raise fail('Can\'t find field "chat_id"')
    if not isinstance(chat_id, (str, int)) or isinstance(chat_id, bool):
        raise fail('Field "chat_id" must be of type String')
    if chat_id == "":
        raise fail("Empty chat_id specified")
    if isinstance(chat_id, str) and re.fullmatch(r"-?\d+", chat_id):
        chat_id = int(chat_id)
    user_id = None
    if kind == "chat_member":
        user_id = raw.get("user_id")
        if user_id is None:
            raise fail('Can\'t find field "user_id"')
        if isinstance(user_id, str) and re.fullmatch(r"-?\d+", user_id):
            user_id = int(user_id)
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            raise fail('Field "user_id" must be a valid Number')
        if user_id <= 0:
            raise fail("Invalid user_id specified")
    return {"type": kind, "chat_id": chat_id, "user_id": user_id}


def _command_list(raw: Any) -> list:
    """The `commands` parameter: absent or empty is an empty list, as in the Bot API server."""
    if raw is None or raw == "":
        return []
    if not isinstance(raw, list):
        raise bad_request("expected an Array of BotCommand")
    for command in raw:
        if not isinstance(command, dict):
            raise bad_request("can't parse BotCommand: expected an Object")
        for field in ("command", "description"):
            if field not in command:
                raise bad_request(f"can't parse BotCommand: Can't find field \"{field}\"")
            if not isinstance(command[field], str):
                raise bad_request(
                    f'can\'t parse BotCommand: Field "{field}" must be of type String'
                )
    return raw


def _clean_command(command: dict) -> dict:
    """TDLib's checks: trimmed, without a leading "/", 1-32 characters; description 1-256."""
    name = command["command"].strip()
    name = name.removeprefix("/")
    if not name:
        raise bad_request("command must be non-empty")
    if len(name) > MAX_COMMAND:
        raise bad_request(f"command length must not exceed {MAX_COMMAND}")
    description = command["description"].strip()
    if not description:
        raise bad_request("command description must be non-empty")
    if len(description) > MAX_COMMAND_DESCRIPTION:
        raise bad_request(f"command description length must not exceed {MAX_COMMAND_DESCRIPTION}")
    return {"command": name, "description": description}


def _contains(message: dict, needle: str | None) -> bool:
    return needle is None or needle in (message.get("text") or message.get("caption") or "")


async def _first(*awaitables) -> None:
    """Wait until the first of the awaitables finishes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _disconnected(request: Request) -> None:
    """Returns when the client went away (a long poll must not outlive its client)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _json_body(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def _user_call(call: Callable[[], Any]) -> Response:
    """Run a user-side action for the HTTP API: its result as JSON, mistakes as 400."""
    try:
        result = call()
        if inspect.isawaitable(result):
            result = await result
    except (KeyError, LookupError, ValueError, TypeError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(result)


class FakeTelegramServer(RunningServer):
    """The running server of a FakeTelegram: `stop()` closes the fake first so it cannot hang."""

    def __init__(self, fake: FakeTelegram, running: RunningServer) -> None:
        super().__init__(running.server, running.task, running.host, running.port)
        self.fake = fake

    async def stop(self) -> None:
        await self.fake.close()
        await super().stop()


async def start_fake_telegram(
    *, host: str = "127.0.0.1", port: int = 0, **kwargs: Any
) -> tuple[FakeTelegram, RunningServer]:
    """A FakeTelegram served on a loopback port; `kwargs` go to its constructor."""
    fake = FakeTelegram(**kwargs)
    running = await start_server(fake.app, host, port)
    _no_delay(running)
    fake.url = running.url
    return fake, FakeTelegramServer(fake, running)


def _no_delay(running: RunningServer) -> None:
    """Without TCP_NODELAY each small answer waits ~40 ms for a delayed ACK (Nagle). asyncio only
    sets it on sockets created with proto=IPPROTO_TCP; accepted sockets inherit the listener's."""
    for server in getattr(running.server, "servers", []):
        for sock in server.sockets:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
