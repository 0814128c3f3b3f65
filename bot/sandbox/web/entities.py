"""The sandbox page's rendering of a Telegram message's entities (bold, links, code…) as safe HTML:
every text escaped, links only to the schemes a person may follow."""

from __future__ import annotations

import html
from urllib.parse import urlsplit

LINK_SCHEMES = ("http", "https", "mailto", "tg")

_SIMPLE_TAGS = {
    "bold": ("<b>", "</b>"),
    "italic": ("<i>", "</i>"),
    "underline": ("<u>", "</u>"),
    "strikethrough": ("<s>", "</s>"),
    "spoiler": ('<span class="spoiler">', "</span>"),
    "code": ("<code>", "</code>"),
    "blockquote": ("<blockquote>", "</blockquote>"),
    "expandable_blockquote": ("<blockquote>", "</blockquote>"),
    "bot_command": ('<span class="command">', "</span>"),
    "mention": ('<span class="mention">', "</span>"),
    "hashtag": ('<span class="mention">', "</span>"),
}


def safe_href(url: str, schemes: tuple[str, ...] = LINK_SCHEMES) -> str | None:
    """`url` when it is a link the page may follow (no `javascript:` and the like), else None."""
    url = (url or "").strip()
    if not url or any(ord(c) < 32 for c in url):
        return None
    scheme = urlsplit(url).scheme.lower()
    if not scheme:
        return "https://" + url if "." in url.split("/", 1)[0] else None
    return url if scheme in schemes else None


def _tags(entity: dict, covered: str) -> tuple[str, str]:
    kind = entity.get("type")
    if kind in _SIMPLE_TAGS:
        return _SIMPLE_TAGS[kind]
    if kind == "pre":
        language = entity.get("language")
        if language:
            css = html.escape(f"language-{language}", quote=True)
            return f'<pre><code class="{css}">', "</code></pre>"
        return "<pre>", "</pre>"
    if kind in ("text_link", "url", "email"):
        if kind == "text_link":
            href = safe_href(entity.get("url", ""))
        elif kind == "email":
            href = safe_href("mailto:" + covered)
        else:
            href = safe_href(covered)
        if href is None:
            return "<span>", "</span>"
        attr = html.escape(href, quote=True)
        return f'<a href="{attr}" target="_blank" rel="noopener noreferrer">', "</a>"
    return "", ""


def entities_to_html(text: str, entities: list[dict] | None) -> str:
    """Telegram text plus its entities (offsets in UTF-16 units) as HTML where every character
    of the text is escaped and only the formatting the entities describe becomes markup."""
    data = (text or "").encode("utf-16-le")
    size = len(data) // 2

    def piece(start: int, end: int) -> str:
        return data[2 * start : 2 * end].decode("utf-16-le", errors="replace")

    valid = []
    for entity in entities or []:
        offset, length = entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(length, int):
            continue
        if offset < 0 or length <= 0 or offset + length > size:
            continue
        valid.append((offset, offset + length, entity))
    valid.sort(key=lambda item: (item[0], -item[1]))
    starts: dict[int, list[tuple[int, int, dict]]] = {}
    for item in valid:
        starts.setdefault(item[0], []).append(item)
    bounds = sorted({0, size, *(s for s, _, _ in valid), *(e for _, e, _ in valid)})
    out: list[str] = []
    stack: list[tuple[int, str, str]] = []  # (end, opening tag, closing tag)
    for index, pos in enumerate(bounds):
        if any(end == pos for end, _, _ in stack):
            # Close what ends here; entities that cross it are closed and opened again.
            reopen = []
            while any(end == pos for end, _, _ in stack):
                top = stack.pop()
                out.append(top[2])
                if top[0] != pos:
                    reopen.append(top)
            for item in reversed(reopen):
                out.append(item[1])
                stack.append(item)
        for start, end, entity in starts.get(pos, []):
            opening, closing = _tags(entity, piece(start, end))
            out.append(opening)
            stack.append((end, opening, closing))
        if index + 1 < len(bounds):
            out.append(html.escape(piece(pos, bounds[index + 1]), quote=True))
    while stack:
        out.append(stack.pop()[2])
    return "".join(out)
