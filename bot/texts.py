"""Renders every user-facing text from `messages/<lang>/<name>.j2` (Jinja2, HTML-escaped values).

Code passes named values only. `button/…` (button labels), `commands/…` (command descriptions) and
`mail/…` are plain text: Telegram shows a label exactly as sent, with no HTML parsing."""

from __future__ import annotations

import datetime as dt
import html
import re
import unicodedata
from pathlib import Path

import jinja2
import markupsafe

from bot.logs import mask_email

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
MESSAGES_DIR = Path(__file__).resolve().parent.parent / "messages"

_MONTHS = {
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "en": "January February March April May June July August September October November December",
}


def pick_language(language_code: str | None) -> str:
    """English for English-speaking Telegram users, French for everyone else."""
    return "en" if (language_code or "").lower().startswith("en") else DEFAULT_LANGUAGE


def telegram_language(language_code: str | None) -> str | None:
    """The bot's language a Telegram user's own IETF tag names ("en", "en-GB" → en; "fr",
    "fr-BE" → fr); None for any other language or none."""
    primary = (language_code or "").lower().replace("_", "-").split("-")[0]
    return primary if primary in LANGUAGES else None


def format_money(cents: int, lang: str) -> str:
    """Integer cents → "1 234,56 €" (fr) or "€1,234.56" (en)."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(int(cents)), 100)
    if lang == "en":
        return f"{sign}€{euros:,}.{rest:02d}"
    grouped = f"{euros:,}".replace(",", "\u202f")
    return f"{sign}{grouped},{rest:02d}\u00a0€"


def format_percent(rate_bp: int, lang: str) -> str:
    """A rate in basis points (integers only) → the number a reader of `lang` writes before "%":
    2000 → "20", 1215 → "12,15" (fr) or "12.15" (en), 550 → "5,5" / "5.5"."""
    whole, rest = divmod(int(rate_bp), 100)
    if rest == 0:
        return str(whole)
    return f"{whole}{'.' if lang == 'en' else ','}{rest:02d}".rstrip("0")


def format_date(value: dt.date | str, lang: str) -> str:
    day = dt.date.fromisoformat(value) if isinstance(value, str) else value
    month = _MONTHS[lang].split()[day.month - 1]
    if lang == "en":
        return f"{day.day} {month} {day.year}"
    return f"{'1er' if day.day == 1 else day.day} {month} {day.year}"


# Template folders whose text Telegram (or a mail reader) shows as is, never parsed as HTML.
PLAIN_TEXT_AREAS = frozenset({"mail", "button", "commands"})
_TAG = re.compile(r"<[^<>]*>")


# A French club name that begins with a common noun takes its article after "de": "contact de
# l’Aéroclub Jean Mermoz", "du Cercle aéronautique Icare", "de la Section…". Each noun with its
# gender; a name beginning otherwise is a proper name ("de Corsaire Aviation", "d’Icare Air").
_FR_NAME_NOUNS = {
    **dict.fromkeys(
        [
            "aéroclub",
            "aéro-club",
            "aéro",
            "club",
            "cercle",
            "centre",
            "groupement",
            "comité",
            "syndicat",
            "collectif",
        ],
        "m",
    ),
    **dict.fromkeys(
        [
            "association",
            "amicale",
            "section",
            "école",
            "ecole",
            "union",
            "fédération",
            "federation",
            "société",
            "societe",
            "escadrille",
        ],
        "f",
    ),
}
_FR_ARTICLES = {"le": "du ", "les": "des ", "la": "de la "}
_FR_VOWELS = "aàâäeéèêëiîïoôöuùûüyœæh"


def _french_article(text: str) -> tuple[str, str]:
    """A club name split into the article French gives it in running text and the rest:
    ("l’", "Aéroclub Jean Mermoz"), ("le ", "Cercle…"), ("la ", "Section…"), ("les ", "Ailes du
    Lauragais"), ("l’", "Envol") for "L’Envol", ("", "Corsaire Aviation") for a proper name."""
    first, _, rest = text.partition(" ")
    lowered = first.casefold()
    if lowered in _FR_ARTICLES and rest:
        return lowered + " ", rest
    if lowered[:2] in ("l'", "l’") and len(first) > 2:
        return "l’", text[2:]
    noun = lowered.rstrip(",")
    gender = _FR_NAME_NOUNS.get(noun) or _FR_NAME_NOUNS.get(" ".join(text.casefold().split()[:2]))
    if gender is None:
        return "", text
    if lowered[0] in _FR_VOWELS:
        return "l’", text
    return ("le " if gender == "m" else "la "), text


def french_the(name: str) -> str:
    """`name` with its article, as after "pour", "avec", "sur": "Aéroclub Jean Mermoz" → "l’Aéroclub
    Jean Mermoz", "Le Cercle…" → "le Cercle…", "Corsaire Aviation" unchanged (a proper name)."""
    text = " ".join(display_text(str(name)).split())
    article, rest = _french_article(text) if text else ("", "")
    return article + rest


def french_de(name: str) -> str:
    """`name` after the preposition "de", with elision and contraction of the article:
    "Aéroclub Jean Mermoz" → "de l’Aéroclub Jean Mermoz", "Les Ailes du Lauragais" → "des Ailes
    du Lauragais", "Le Cercle…" → "du Cercle…", "L’Envol" → "de l’Envol", "Icare Air" →
    "d’Icare Air", "Corsaire Aviation" → "de Corsaire Aviation". Source: the elision of "de" and
    of "le"/"la" before a vowel or mute h, and "de le" → "du", "de les" → "des" (Grevisse)."""
    text = " ".join(display_text(str(name)).split())
    if not text:
        return "de"
    article, rest = _french_article(text)
    if article == "le ":
        return "du " + rest
    if article == "les ":
        return "des " + rest
    if article:
        return "de " + article + rest
    return ("d’" if text.casefold()[0] in _FR_VOWELS else "de ") + text


def _the_club(name: str, lang: str) -> str:
    """A club's name with the article running French text wants (fr), as it is (en)."""
    return french_the(name) if lang == "fr" else " ".join(str(name).split())


# Kept by `display_text`: the joiners some scripts and emoji sequences need (they reorder nothing).
_JOINERS = frozenset("\u200c\u200d")
_SEPARATORS = frozenset("\u2028\u2029")  # a line or paragraph break of its own


def display_text(value: str) -> str:
    """An untrusted string (a Telegram name or username, a club name, text a person typed) made
    safe to show inside a text or a topic name: Unicode format characters (category Cf: the bidi
    embeddings and overrides U+202A–U+202E, isolates U+2066–U+2069, marks U+200E/U+200F/U+061C,
    zero-width spaces, the BOM…) are removed, so a name cannot reorder or hide the text around
    it (Unicode TR #9, UAX #9 §2; CVE-2021-42574 "Trojan Source"); the joiners U+200C/U+200D
    stay. The line and paragraph separators U+2028/U+2029 become spaces."""
    if value.isascii():
        return value
    return "".join(
        " "
        if ch in _SEPARATORS
        else ch
        if ch in _JOINERS or unicodedata.category(ch) != "Cf"
        else ""
        for ch in value
    )


def _display_value(value: object) -> object:
    """Every value a template shows goes through `display_text` (Jinja's `finalize`); HTML
    already marked safe stays marked."""
    if isinstance(value, str) and not value.isascii():
        cleaned = display_text(value)
        return type(value)(cleaned) if isinstance(value, markupsafe.Markup) else cleaned
    return value


def _of_club(name: str, lang: str) -> str:
    """ "de …" (fr, with the article as French wants it) or "of …" (en) before a club's name."""
    return french_de(name) if lang == "fr" else f"of {' '.join(str(name).split())}"


def _is_plain_text(name: str | None) -> bool:
    parts = (name or "").split("/")
    return len(parts) > 2 and parts[1] in PLAIN_TEXT_AREAS


def html_to_plain(markup: str) -> str:
    """The text a person sees for Telegram HTML `markup`: tags dropped, entities decoded.

    For texts Telegram never parses (callback query notices, alerts): `Air &amp; Passion` must
    read `Air & Passion`. Values rendered into the markup were escaped, so a `<` typed by a
    person is `&lt;` here and survives as `<`."""
    return html.unescape(_TAG.sub("", markup))


_KEY_TYPES = frozenset({str, int, float, bool, type(None)})


class Texts:
    """One Jinja2 environment over messages/; `render(lang, name, **values)` returns a string."""

    def __init__(self, root: Path = MESSAGES_DIR) -> None:
        self.root = root
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(root)),
            autoescape=lambda name: not _is_plain_text(name),
            undefined=jinja2.StrictUndefined,
            # Tags stay inline in message templates; a newline after `{% endif %}` is kept.
            trim_blocks=False,
            lstrip_blocks=False,
            keep_trailing_newline=False,
            # Templates ship with the code: no stat() of the file on every render.
            auto_reload=False,
            # No untrusted value can bring a bidi override or another invisible control into a
            # text (a display name that reverses a staff card): one rule for every template.
            finalize=_display_value,
        )
        self.env.filters["money"] = lambda cents, lang: format_money(cents, lang)
        self.env.filters["date"] = lambda value, lang: format_date(value, lang)
        self.env.filters["masked"] = mask_email
        self.env.filters["of_club"] = lambda name, lang: _of_club(name, lang)
        self.env.filters["the_club"] = lambda name, lang: _the_club(name, lang)
        self._labels: dict[tuple, str] = {}

    def render(self, lang: str, template_name: str, /, **values: object) -> str:
        if lang not in LANGUAGES:
            lang = DEFAULT_LANGUAGE
        template = self.env.get_template(f"{lang}/{template_name}.j2")
        return template.render(lang=lang, **values).strip()

    LABELS_KEPT = 4096

    def label(self, lang: str, template_name: str, values: dict) -> str:
        """`render()` of a short text that is rendered again and again with the same values (a
        button's label): kept once rendered, at most LABELS_KEPT of them. A keyboard is several
        renders on every step; templates never change while the bot runs (auto_reload off)."""
        if not all(type(v) in _KEY_TYPES for v in values.values()):
            # Objects (a date, a club…) are rendered every time: a key would keep them alive.
            return self.render(lang, template_name, **values)
        key = (lang, template_name, *sorted(values.items()))
        cached = self._labels.get(key)
        if cached is None:
            cached = self.render(lang, template_name, **values)
            if len(self._labels) >= self.LABELS_KEPT:
                self._labels.clear()
            self._labels[key] = cached
        return cached

    def render_plain(self, lang: str, template_name: str, /, **values: object) -> str:
        """A message template as plain text (for callback query notices, which Telegram shows
        without parsing HTML)."""
        return html_to_plain(self.render(lang, template_name, **values))

    def names(self, lang: str) -> set[str]:
        base = self.root / lang
        return {str(p.relative_to(base))[:-3] for p in base.rglob("*.j2")}
