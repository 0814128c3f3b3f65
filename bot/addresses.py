"""Reading what a person types as an address: the platform's subdomain, a personal login, an e-mail.

Pure functions, so the identify step and its fuzz tests share one definition of each form."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

OPENFLYERS_DOMAINS = ("openflyers.fr", "openflyers.com", "openflyers.org")
SUBDOMAIN_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_NAME_LOGIN_RE = re.compile(r"^[a-zà-ÿ][a-zà-ÿ'-]*[._][a-zà-ÿ][a-zà-ÿ'-]*\d*$")
_MEMBER_NUMBER_RE = re.compile(r"^\d{1,10}$")
_INVISIBLE = {"Cf", "Cc", "Zl", "Zp"}


@dataclass(frozen=True)
class AddressReading:
    """What the typed text is: `subdomain` (found in it), or a `personal` login kind, or neither."""

    subdomain: str | None = None
    personal: str | None = None  # "email", "name" or "number"
    free_text: str | None = None  # cleaned text, for fuzzy matching on club names


def clean(text: str) -> str:
    """What a person typed as an identifier (a subdomain, an e-mail address, a code, a count, an
    invoice number), in one form before matching: Unicode NFKC (full-width `ｍｅｒｍｏｚ`, `１２`,
    ligatures and no-break spaces become their plain forms, UAX #15), control and invisible
    formatting characters dropped (RTL marks, zero-width spaces), spaces collapsed, trimmed.
    Case is the caller's: identifiers compare case-folded (`str.casefold`)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in _INVISIBLE)
    return " ".join(kept.split())


_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)
_ANGLE_ADDRESS = re.compile(r"^[^<>]*<([^<>]+)>$")


def typed_email(text: str) -> str:
    """What a person typed as an e-mail address, `clean()`ed and unwrapped from the forms it is
    copied in: a `mailto:` link (RFC 6068) and a name-addr `Jeanne <jeanne@club.fr>` or
    `<jeanne@club.fr>` (RFC 5322 §3.4, as mail clients show and copy addresses). Anything else
    is returned as cleaned. For what people type only: imported records stay strict."""
    value = _MAILTO.sub("", clean(text)).strip()
    match = _ANGLE_ADDRESS.match(value)
    if match and "@" in match.group(1):
        value = match.group(1).strip()
    return value


def read_platform_address(text: str) -> AddressReading:
    """`mermoz`, `Mermoz`, `mermoz.openflyers.fr`, `https://mermoz.openflyers.fr/x`,
    `openflyers.com/mermoz` all read as subdomain `mermoz`."""
    value = clean(text).casefold()
    if not value or len(value) > 300:
        return AddressReading(free_text=value[:300] or None)
    compact = value.replace(" ", "")
    if "@" in compact:
        return AddressReading(personal="email")
    if _MEMBER_NUMBER_RE.match(compact):
        return AddressReading(personal="number")
    if " " in value and not any(domain in compact for domain in OPENFLYERS_DOMAINS):
        return AddressReading(free_text=value)  # several words: perhaps the club's name
    candidate = compact if "://" in compact else "http://" + compact
    try:
        parts = urlsplit(candidate)
        host = (parts.hostname or "").removeprefix("www.")
    except ValueError:
        return AddressReading(free_text=value)
    path = [segment for segment in parts.path.split("/") if segment]
    for domain in OPENFLYERS_DOMAINS:
        if host == domain:
            if path and SUBDOMAIN_RE.match(path[0]):
                return AddressReading(subdomain=path[0])
            return AddressReading(free_text=value)
        if host.endswith("." + domain):
            label = host[: -len(domain) - 1].split(".")[-1]
            if SUBDOMAIN_RE.match(label):
                return AddressReading(subdomain=label)
    if "/" not in compact and SUBDOMAIN_RE.match(compact):
        return AddressReading(subdomain=compact)
    if "/" not in compact and _NAME_LOGIN_RE.match(compact):
        return AddressReading(personal="name")
    return AddressReading(free_text=value)


def _read_email(value: str):
    """email_validator's reading of `value` (its `ValidatedEmail`: `normalized`, `local_part`,
    `domain`, `ascii_domain`), or None when it is no address. No DNS lookup (works offline).

    Imported on first use: its regular expressions take ~14 ms to build, and the first update
    after start-up seldom carries an address (bot/lazy_imports.py checks it is installed)."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(
            value, check_deliverability=False, globally_deliverable=False, test_environment=True
        )
    except EmailNotValidError:
        return None


def normalize_email(text: str) -> str | None:
    """A syntactically valid address in its normal form, or None. No DNS lookup (works offline)."""
    value = clean(text)
    if not value or len(value) > 254 or " " in value:
        return None
    result = _read_email(value)
    if result is None:
        return None
    if "." not in result.domain:
        return None  # a bare host name is no address a club can be reached at
    return result.normalized


def email_key(text: str) -> str:
    """One form per address, for comparing: the local part in NFC, case-folded; the domain in
    its ASCII (IDNA) form, lower case. So `Bureau@Aéroclub-Évreux.fr`, its NFD spelling and
    `bureau@xn--aroclub-vreux-bhbh.fr` are one address. Text that is no address is compared as
    typed (NFC, case-folded)."""
    value = clean(text)
    result = _read_email(value)
    if result is None:
        return value.casefold()  # clean() made it NFKC (which implies NFC)
    local = unicodedata.normalize("NFKC", result.local_part).casefold()
    return f"{local}@{result.ascii_domain.lower()}"


def same_email(a: str, b: str) -> bool:
    """Registered addresses compare case-insensitively, as the customer account does, and in one
    normalised form (`email_key`): Unicode or punycode domain, composed or decomposed letters."""
    return email_key(a) == email_key(b)


def ascii_email(address: str) -> str:
    """The address with its domain in ASCII (IDNA 2008) form, for SMTP envelopes and headers; a
    non-ASCII local part is kept (only a relay offering SMTPUTF8 can carry it). Text that is no
    valid address is returned unchanged (the relay will refuse it)."""
    value = clean(address)
    result = _read_email(value)
    if result is None:
        return value
    return f"{result.local_part}@{result.ascii_domain}"
