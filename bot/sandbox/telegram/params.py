"""A Bot API request's parameters: query string, JSON, urlencoded or multipart forms, as Telegram accepts.

Multipart bodies are read by Starlette's form parser (python-multipart); file bytes are kept exactly."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from bot.sandbox.telegram.errors import bad_request
from bot.sandbox.telegram.markup import _MARKUP_JSON

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


# Telegram takes up to 10 media and their thumbnails in one request; a form with more parts than
# this is hostile, and answered as a bad request rather than spooled.
MAX_FORM_FILES = 50
MAX_FORM_FIELDS = 200
MAX_FORM_FIELD = 1024 * 1024  # bytes of one non-file field (texts are at most 4096 characters)


async def _parse_form(headers: Headers, stream: AsyncIterator[bytes]) -> tuple[dict, dict]:
    """Starlette's multipart parser (python-multipart): fields as text, file parts as bytes."""
    parser = MultiPartParser(
        headers,
        stream,
        max_files=MAX_FORM_FILES,
        max_fields=MAX_FORM_FIELDS,
        max_part_size=MAX_FORM_FIELD,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise bad_request(f"can't parse multipart/form-data: {exc.message}") from None
    fields: dict[str, str] = {}
    uploads: dict[str, Upload] = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, str):
                fields[name] = value
            else:
                mime = (value.content_type or "application/octet-stream").split(";")[0].strip()
                uploads[name] = Upload(value.filename or "", mime, await value.read())
    finally:
        await form.close()
    return fields, uploads


async def parse_multipart(
    body: bytes, content_type: str
) -> tuple[dict[str, str], dict[str, Upload]]:
    """Fields and file parts of a multipart/form-data body, bytes kept exactly."""

    async def once() -> AsyncIterator[bytes]:
        yield body

    return await _parse_form(Headers({"content-type": content_type}), once())


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
    if mime == "multipart/form-data":
        fields, uploads = await _parse_form(request.headers, request.stream())
        params.update(fields)
        return _coerce(params), uploads
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
    return _coerce(params), uploads
