"""Text as Telegram stores it: UTF-16 lengths and the HTML parse mode, following tdlib's parser.

A markup Telegram refuses raises `EntityParseError` (answered as "can't parse entities") with tdlib's texts."""

from __future__ import annotations

import dataclasses
import re
import string
from typing import Any
from urllib.parse import urlsplit

from bot.sandbox.telegram.errors import bad_request

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
