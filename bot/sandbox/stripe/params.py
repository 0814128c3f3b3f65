"""Request parameters as Stripe reads them: form-encoded `a[b][0]=c` into nested hashes and arrays.

Typed readers (`_string`, `_integer`, `_boolean`, `_url`, `_metadata`) raise Stripe's invalid-request errors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request

from bot.sandbox.stripe.errors import StripeError, invalid
from bot.sandbox.stripe.rules import MAX_METADATA_KEY, MAX_METADATA_KEYS, MAX_METADATA_VALUE

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


_PART = re.compile(r"\[([^\[\]]*)\]")


_NO_LISTS = frozenset({"metadata"})  # hashes whose keys may be digits


def decode_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracket notation to nested values: `a[b][0][c]=1` -> {"a": {"b": [{"c": "1"}]}}.

    `a[]=x` appends; hashes whose keys are all indexes become lists (ordered by index)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        found = _KEY.match(key)
        parts = [found.group(1), *_PART.findall(found.group(2))] if found else [key]
        node = root
        for depth, part in enumerate(parts):
            name = parts[0] + "".join(f"[{p}]" for p in parts[1:depth])
            if not isinstance(node, dict):
                raise invalid(name, f"Invalid hash: {name}", "parameter_invalid_hash")
            if part == "":
                part = str(len(node))
            if depth == len(parts) - 1:
                if isinstance(node.get(part), dict):
                    raise invalid(key, f"Invalid hash: {key}", "parameter_invalid_hash")
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    full = name + (f"[{part}]" if depth else "")
                    raise invalid(full or part, f"Invalid string: {full or part}")
                node = child
    return _listify(root, None)


def _listify(node: Any, key: str | None) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v, k) for k, v in node.items()}
    if key not in _NO_LISTS and items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def _name(prefix: str, key: str | int) -> str:
    return f"{prefix}[{key}]" if prefix else str(key)


def _check_known(params: dict, allowed: frozenset[str], prefix: str = "") -> None:
    for key in params:
        if key not in allowed:
            name = _name(prefix, key)
            raise StripeError(
                400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )


def _hash(value: Any, param: str) -> dict:
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid(param, f"Invalid hash: {param}", "parameter_invalid_hash")
    return value


def _array(value: Any, param: str) -> list:
    if value == "":
        return []
    if isinstance(value, dict) and not value:
        return []
    if not isinstance(value, list):
        raise invalid(param, f"Invalid array: {param}", "parameter_invalid_array")
    return value


def _string(value: Any, param: str, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise invalid(param, f"Invalid string: {value!r}", "parameter_invalid_string")
    if max_length is not None and len(value) > max_length:
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise invalid(
            param,
            f"Invalid string: {shown}; must be at most {max_length} characters",
            "parameter_invalid_string",
        )
    return value


def _integer(value: Any, param: str, minimum: int | None = None, maximum: int | None = None) -> int:
    text = value if isinstance(value, str) else None
    if text is None or not re.fullmatch(r"-?\d+", text.strip()):
        raise invalid(param, f"Invalid integer: {value}", "parameter_invalid_integer")
    number = int(text)
    if minimum is not None and number < minimum:
        raise invalid(
            param,
            f"This value must be greater than or equal to {minimum}.",
            "parameter_invalid_integer",
        )
    if maximum is not None and number > maximum:
        raise invalid(
            param,
            f"This value must be less than or equal to {maximum}.",
            "parameter_invalid_integer",
        )
    return number


def _boolean(value: Any, param: str) -> bool:
    if value in ("true", "false"):
        return value == "true"
    raise invalid(param, f"Invalid boolean: {value}", "parameter_invalid_boolean")


def _url(value: Any, param: str) -> str:
    text = _string(value, param, 5000)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(param, "Not a valid URL", "url_invalid")
    return text


def _optional(params: dict, key: str) -> Any:
    """Stripe takes an empty string as 'not set'."""
    value = params.get(key)
    return None if value == "" else value


def _metadata(value: Any, param: str) -> dict[str, str]:
    if value is None:
        return {}
    data = _hash(value, param)
    result = {}
    for key, item in data.items():
        if item == "" or item is None:
            continue  # an empty value unsets the key
        if len(key) > MAX_METADATA_KEY:
            raise invalid(
                f"{param}[{key}]",
                f"Metadata keys can have up to {MAX_METADATA_KEY} characters; `{key}` has "
                f"{len(key)}.",
            )
        text = _string(item, f"{param}[{key}]")
        if len(text) > MAX_METADATA_VALUE:
            raise invalid(
                f"{param}[{key}]",
                f"Metadata values can have up to {MAX_METADATA_VALUE} characters, but you passed "
                f"in a value that is {len(text)} characters.",
            )
        result[key] = text
    if len(result) > MAX_METADATA_KEYS:
        raise invalid(param, f"You can only specify up to {MAX_METADATA_KEYS} metadata keys.")
    return result


def _created_filter(items: list[dict], value: Any) -> list[dict]:
    if value is None or value == "":
        return items
    if isinstance(value, str):
        when = _integer(value, "created")
        return [i for i in items if i["created"] == when]
    bounds = _hash(value, "created")
    checks = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    _check_known(bounds, frozenset(checks), "created")
    for op, bound in bounds.items():
        limit = _integer(bound, f"created[{op}]")
        items = [i for i in items if checks[op](i["created"], limit)]
    return items


async def _read_params(request: Request) -> dict:
    if request.method in ("GET", "DELETE"):
        return decode_params(parse_qsl(request.url.query, keep_blank_values=True))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if content_type not in ("", "application/x-www-form-urlencoded"):
        raise StripeError(
            400,
            f"Invalid request: unsupported Content-Type {content_type}. If error persists and "
            "you need assistance, please contact support@stripe.com.",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise StripeError(400, "Invalid request: the body is not valid UTF-8.") from None
    return decode_params(parse_qsl(text, keep_blank_values=True))


async def _json_body(request: Request) -> dict:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
