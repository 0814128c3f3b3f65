"""Telegram's size limits on what the bot sends, measured as Telegram measures them, and the one
place long texts are split so that no request is refused for its length.

Limits (Bot API docs, sendMessage/sendPhoto/answerCallbackQuery; `telegram.constants`): a text is
at most 4096 characters and a caption 1024 *after entities parsing*, counted in UTF-16 code units
(an emoji outside the BMP counts 2); a callback query notice at most 200."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from telegram.constants import CallbackQueryLimit, InlineKeyboardButtonLimit, MessageLimit

from bot.texts import html_to_plain

MAX_TEXT = MessageLimit.MAX_TEXT_LENGTH  # 4096
MAX_CAPTION = MessageLimit.CAPTION_LENGTH  # 1024
MAX_NOTICE = CallbackQueryLimit.ANSWER_CALLBACK_QUERY_TEXT_LENGTH  # 200
# Callback data: 1-64 bytes (Bot API, InlineKeyboardButton.callback_data): short ids only.
MAX_CALLBACK_DATA = InlineKeyboardButtonLimit.MAX_CALLBACK_DATA  # 64
# The largest id SQLite stores (a signed 64-bit INTEGER); a bigger number in callback data or a
# /start payload is nobody's id, and int() of it overflows the database driver.
MAX_ID = 2**63 - 1

# A button's label. The Bot API gives no limit for InlineKeyboardButton.text, but the whole
# keyboard is refused past about 10 KB of JSON ("reply markup is too long"; docs/SANDBOX.md,
# markup.py) and Telegram's apps show a label on one line, cut. A value put in a label (a club's
# name from the CSV, of any length) is cut to MAX_LABEL_VALUE, so that what follows it (the
# subdomain) still shows; the whole label to MAX_BUTTON_LABEL: no keyboard is refused for them.
MAX_LABEL_VALUE = 40
MAX_BUTTON_LABEL = 100

_TOKEN = re.compile(r"<[^<>]*>|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);|[^<&]+|[<&]", re.S)
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z][\w-]*)")


class CallbackDataError(ValueError):
    """Callback data Telegram would refuse (empty, or over 64 bytes in UTF-8)."""


def callback_data(*parts: str | int) -> str:
    """`parts` joined with ":" as callback data, checked against Telegram's 1-64 bytes.

    Raises CallbackDataError: a button must carry short ids, never free-length text."""
    return checked_callback_data(":".join(str(part) for part in parts))


def checked_callback_data(data: str) -> str:
    size = len(data.encode("utf-8"))
    if not 1 <= size <= MAX_CALLBACK_DATA:
        raise CallbackDataError(f"callback data of {size} bytes (Telegram takes 1-64): {data!r}")
    return data


def shortened(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending with "…" when it was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def label_values(values: dict) -> dict:
    """The values of a button's label, each text cut to MAX_LABEL_VALUE characters."""
    return {
        key: shortened(value, MAX_LABEL_VALUE) if isinstance(value, str) else value
        for key, value in values.items()
    }


def button_label(text: str) -> str:
    """A rendered label cut to MAX_BUTTON_LABEL characters."""
    return shortened(text, MAX_BUTTON_LABEL)


def read_id(text: str | None) -> int | None:
    """A database id from callback data or a command: digits only, 1..MAX_ID; else None."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def button_url_accepted(url: str) -> bool:
    """Whether Telegram takes `url` for a URL button: http(s) with a host name that has a dot
    (`http://localhost:8080/…` is refused with BUTTON_URL_INVALID, rubenlagus/TelegramBots#302),
    or tg://. Refused links go in the text instead (no request Telegram will refuse)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    if parts.scheme == "tg":
        return bool(parts.netloc or parts.path)
    return parts.scheme in ("http", "https") and "." in host.strip(".")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, Telegram's unit for limits and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def visible_length(markup: str, html: bool = True) -> int:
    """What Telegram counts against a limit: the text left once HTML is parsed, in UTF-16 units."""
    return utf16_len(html_to_plain(markup) if html else markup)


def fits_text(markup: str, html: bool = True) -> bool:
    return visible_length(markup, html) <= MAX_TEXT


def fits_caption(markup: str, html: bool = True) -> bool:
    return visible_length(markup, html) <= MAX_CAPTION


def split_html(markup: str, limit: int = MAX_TEXT, html: bool = True) -> list[str]:
    """`markup` cut into pieces of at most `limit` visible UTF-16 units each, preferably at line
    ends; tags open at a cut are closed there and opened again in the next piece, so each piece
    parses alone. Plain text (`html=False`) is cut the same way, without tags."""
    if visible_length(markup, html) <= limit:
        return [markup]
    tokens = _TOKEN.findall(markup) if html else list(markup)
    pieces: list[str] = []
    current: list[str] = []  # tokens of the piece being built
    size = 0
    stack: list[tuple[str, str]] = []  # (tag name, opening tag) open at this point
    last_break = None  # (index in current, size, stack) just after the last newline

    def close(tags: list[tuple[str, str]]) -> str:
        return "".join(f"</{name}>" for name, _ in reversed(tags))

    def reopen(tags: list[tuple[str, str]]) -> list[str]:
        return [opening for _, opening in tags]

    def cut(at: int, open_tags: list[tuple[str, str]]) -> None:
        nonlocal current, size, last_break
        head, tail = current[:at], current[at:]
        pieces.append("".join(head) + close(open_tags))
        current = reopen(open_tags) + tail
        size = sum(_units(token, html) for token in tail)
        last_break = None

    for token in _split_long(tokens, limit, html):
        if html and token.startswith("<") and token.endswith(">") and len(token) > 2:
            name = _TAG_NAME.match(token)
            if name:
                if token.startswith("</"):
                    for i in range(len(stack) - 1, -1, -1):
                        if stack[i][0] == name.group(1).lower():
                            del stack[i]
                            break
                else:
                    stack.append((name.group(1).lower(), token))
            current.append(token)
            continue
        units = _units(token, html)
        if size + units > limit:
            if last_break is not None and last_break[1] > limit // 2:
                cut(last_break[0], last_break[2])
            else:
                cut(len(current), list(stack))
        current.append(token)
        size += units
        if token.endswith("\n"):
            last_break = (len(current), size, list(stack))
    rest = "".join(current)
    if html_to_plain(rest).strip() if html else rest.strip():
        pieces.append(rest)
    return [piece for piece in pieces if (html_to_plain(piece) if html else piece).strip()]


def _units(token: str, html: bool) -> int:
    return utf16_len(html_to_plain(token)) if html else utf16_len(token)


def _split_long(tokens: list[str], limit: int, html: bool):
    """Text runs cut at line ends (a cut can then fall between lines) and to at most `limit`."""
    for token in tokens:
        if html and token.startswith(("<", "&")):
            yield token
            continue
        for line in token.splitlines(keepends=True):
            while utf16_len(line) > limit:
                yield line[: limit // 2]
                line = line[limit // 2 :]
            if line:
                yield line


def truncate_html(markup: str, limit: int, html: bool = True) -> str:
    """The first piece of `markup` within `limit`, marked "…" when something was cut (for edits,
    which cannot become two messages)."""
    pieces = split_html(markup, limit - 1, html)
    if len(pieces) <= 1:
        return markup
    return pieces[0].rstrip() + "…"
