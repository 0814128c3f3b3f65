"""Settings read from the environment (and an optional `.env`), validated once at start-up.

Names are SPEC §6's contract; a missing or malformed value raises SettingsError naming it."""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.logs import MIN_REDACTED_SECRET

DEFAULT_CATALOGUE = Path(__file__).parent / "data" / "catalogue.toml"
SECRET_NAMES = (
    "OFBOT_TELEGRAM_TOKEN",
    "OFBOT_STRIPE_SECRET_KEY",
    "OFBOT_STRIPE_WEBHOOK_SECRET",
    "OFBOT_SMTP_PASSWORD",
    "OFBOT_TELEGRAM_SECRET_TOKEN",
    "OFBOT_ADMIN_TOKEN",
    "OFBOT_METRICS_TOKEN",
)
_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
SECRET_TOKEN_MIN = 32
# Bot API, setWebhook, secret_token: "1-256 characters. Only characters A-Z, a-z, 0-9, _ and -
# are allowed." (https://core.telegram.org/bots/api#setwebhook)
_SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# Stripe's API reference, "API keys": secret keys are `sk_test_…`/`sk_live_…`, restricted keys
# `rk_test_…`/`rk_live_…` (https://docs.stripe.com/keys); a webhook endpoint's signing secret is
# `whsec_…` (https://docs.stripe.com/webhooks#verify-webhook-signatures). Nothing else is sent to
# Stripe as a key: a value without these prefixes is a typo, refused at start-up.
STRIPE_KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")
STRIPE_WEBHOOK_SECRET_PREFIX = "whsec_"
_STRIPE_KEY_RE = re.compile(r"^(?:sk|rk)_(?:test|live)_[A-Za-z0-9_]+$")
_STRIPE_WEBHOOK_SECRET_RE = re.compile(r"^whsec_[A-Za-z0-9_+/=-]+$")
_EMAIL_RE = re.compile(r"^(?:[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+|.*<[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+>)$")


class SettingsError(Exception):
    """A setting is missing or malformed; str() is the one line printed at start-up."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"setting {name}: {reason}")
        self.name = name


@dataclass(frozen=True)
class Settings:
    telegram_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    db: Path = Path("ofbot.sqlite3")
    catalogue: Path = DEFAULT_CATALOGUE
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_url: str = "https://api.stripe.com"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "OpenFlyers <no-reply@openflyers.fr>"
    staff_chat_id: int | None = None
    staff_user_ids: frozenset[int] = field(default_factory=frozenset)
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str | None = None
    telegram_secret_token: str | None = None
    timezone: str = "Europe/Paris"
    admin_token: str | None = None  # bearer of POST /admin/clubs (not served when unset)
    metrics_token: str | None = None  # bearer of GET /metrics (not served when unset)
    clubs_source: str | None = None  # a CSV file path or an https:// URL, re-imported hourly
    backup_dir: Path | None = None  # daily backups go there (no backup job when unset)
    backup_keep: int = 14  # how many daily backups the job keeps
    log_format: str = "text"  # `text` or `json` (one JSON object per line)
    staff_signature: bool = False  # staff answers relayed to a club carry the first name

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def code_key(self) -> bytes:
        """The key of the one-time codes' HMAC (bot.verification), derived from the bot token.

        The token is the one secret every running bot has and the database never holds; a new
        token only voids the codes of the last 10 minutes. Without a token (tools, unit tests)
        the key is a fixed label, and no bot can run to send codes anyway."""
        secret = (self.telegram_token or "ofbot-without-token").encode()
        return hmac.new(secret, b"ofbot one-time codes v1", hashlib.sha256).digest()

    def secrets(self) -> list[str]:
        """Values that must never reach a log line."""
        values = [
            self.telegram_token,
            self.stripe_secret_key,
            self.stripe_webhook_secret,
            self.smtp_password,
            self.telegram_secret_token,
            self.admin_token,
            self.metrics_token,
        ]
        return [v for v in values if v]

    def require(self, *names: str) -> None:
        """Stop start-up when a setting this command needs has no value."""
        for name in names:
            attr = name.removeprefix("OFBOT_").lower()
            if getattr(self, attr) in (None, ""):
                raise SettingsError(name, "is required and not set")


# Telegram sends webhooks to HTTPS URLs on these ports only (Bot API, setWebhook: "Ports
# currently supported for webhooks: 443, 80, 88, 8443"; "An HTTPS URL must be provided").
WEBHOOK_PORTS = (443, 80, 88, 8443)


def _public_url(name: str, value: str) -> str:
    url = _url(name, value)
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise SettingsError(
            name, f"must be an https:// URL (Telegram refuses others), got {value!r}"
        )
    try:
        port = parts.port or 443
    except ValueError:
        raise SettingsError(name, f"has a malformed port, got {value!r}") from None
    if port not in WEBHOOK_PORTS:
        raise SettingsError(
            name, f"port {port} is not one Telegram sends webhooks to (443, 80, 88 or 8443)"
        )
    return url


def _url(name: str, value: str) -> str:
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise SettingsError(name, f"must not contain spaces or control characters, got {value!r}")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(name, f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _int(name: str, value: str, lo: int | None = None, hi: int | None = None) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise SettingsError(name, f"must be an integer, got {value!r}") from None
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise SettingsError(name, f"must be between {lo} and {hi}, got {number}")
    return number


# A bearer token guards an HTTP endpoint reachable from the internet: at least 128 bits of
# randomness, estimated as length × log2(the alphabet its character classes span) — what
# `secrets.token_urlsafe(16)` (22 characters) or `secrets.token_hex(16)` (32) give.
MIN_SECRET_BITS = 128
MIN_SECRET_DISTINCT = 8  # "aaaa…" or "abab…" are long but not random
_CLASSES = (
    (str.islower, 26),
    (str.isupper, 26),
    (str.isdigit, 10),
)


_BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def secret_bits(value: str) -> float:
    """Upper estimate of a secret's randomness in bits: length × log2(alphabet), the alphabet
    being the character classes it uses (lower, upper, digits: 26/26/10; anything else 33).
    Mixed-case letters with nothing outside base64url (RFC 4648 §5) count as that alphabet, 64:
    `secrets.token_urlsafe(16)` draws its 22 characters from it, and one in a hundred of them
    happens to hold letters only (22 × log2(52) = 125 bits by classes alone)."""
    alphabet = sum(size for test, size in _CLASSES if any(test(ch) for ch in value))
    if any(not any(test(ch) for test, _ in _CLASSES) for ch in value):
        alphabet += 33
    mixed_case = any(ch.islower() for ch in value) and any(ch.isupper() for ch in value)
    if mixed_case and set(value) <= _BASE64URL:
        alphabet = max(alphabet, 64)
    return len(value) * math.log2(alphabet) if alphabet > 1 else 0.0


def is_weak_secret(value: str) -> bool:
    """True when `value` is under MIN_SECRET_BITS (secret_bits) or has under
    MIN_SECRET_DISTINCT different characters — the one strength rule of every secret we choose."""
    return secret_bits(value) < MIN_SECRET_BITS or len(set(value)) < MIN_SECRET_DISTINCT


def _bearer(name: str, value: str) -> str:
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise SettingsError(name, "must not contain spaces or control characters")
    if is_weak_secret(value):
        raise SettingsError(
            name,
            f"is too weak to be a secret (under {MIN_SECRET_BITS} bits): use a random value,"
            " e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
    return value


def _clubs_source(name: str, value: str) -> str:
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.netloc:
            raise SettingsError(name, "must be a file path or an https:// URL")
        return value
    return str(Path(value).expanduser())


def _parse(name: str, raw: str) -> object:
    value = raw.strip()
    match name:
        case "OFBOT_TELEGRAM_TOKEN":
            if not _TOKEN_RE.match(value):
                raise SettingsError(name, "is not a Telegram bot token (digits:characters)")
            return value
        case "OFBOT_TELEGRAM_API_URL" | "OFBOT_STRIPE_API_URL":
            return _url(name, value)
        case "OFBOT_PUBLIC_URL":
            return _public_url(name, value)
        case "OFBOT_DB" | "OFBOT_CATALOGUE":
            if not value:
                raise SettingsError(name, "must be a file path")
            return Path(value).expanduser()
        case "OFBOT_SMTP_PORT" | "OFBOT_HTTP_PORT":
            return _int(name, value, 0 if name == "OFBOT_HTTP_PORT" else 1, 65535)
        case "OFBOT_STAFF_CHAT_ID":
            return _int(name, value)
        case "OFBOT_STAFF_USER_IDS":
            ids = [part.strip() for part in value.split(",") if part.strip()]
            return frozenset(_int(name, part, 1) for part in ids)
        case "OFBOT_TIMEZONE":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise SettingsError(name, f"unknown time zone {value!r}") from None
            return value
        case "OFBOT_TELEGRAM_SECRET_TOKEN":
            # Telegram's alphabet and length (setWebhook, above), then the same strength rule
            # as the bearer tokens: "aaaa…" of any length is no secret.
            if not _SECRET_TOKEN_RE.match(value):
                raise SettingsError(name, "must be 1-256 characters among A-Z a-z 0-9 _ -")
            if len(value) < SECRET_TOKEN_MIN or is_weak_secret(value):
                raise SettingsError(
                    name,
                    f"is too weak to be a secret (at least {SECRET_TOKEN_MIN} random characters)"
                    ": e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'",
                )
            return value
        case "OFBOT_STRIPE_SECRET_KEY":
            if not _STRIPE_KEY_RE.match(value):
                raise SettingsError(
                    name, "is not a Stripe secret key (sk_test_…, sk_live_…, rk_test_…, rk_live_…)"
                )
            return value
        case "OFBOT_STRIPE_WEBHOOK_SECRET":
            if not _STRIPE_WEBHOOK_SECRET_RE.match(value):
                raise SettingsError(name, "is not a Stripe webhook signing secret (whsec_…)")
            return value
        case "OFBOT_SMTP_PASSWORD":
            # Chosen by the mail provider, so no strength rule of ours; but a password shorter
            # than the log redactor's minimum (bot.logs.MIN_REDACTED_SECRET) is no password.
            if len(value) < MIN_REDACTED_SECRET:
                raise SettingsError(name, f"is too short (under {MIN_REDACTED_SECRET} characters)")
            return value
        case "OFBOT_SMTP_FROM":
            if not _EMAIL_RE.match(value):
                raise SettingsError(name, "must be an e-mail address or 'Name <address>'")
            return value
        case "OFBOT_ADMIN_TOKEN" | "OFBOT_METRICS_TOKEN":
            return _bearer(name, value)
        case "OFBOT_CLUBS_SOURCE":
            return _clubs_source(name, value)
        case "OFBOT_BACKUP_DIR":
            return Path(value).expanduser()
        case "OFBOT_BACKUP_KEEP":
            return _int(name, value, 1, 10_000)
        case "OFBOT_LOG_FORMAT":
            if value.lower() not in ("text", "json"):
                raise SettingsError(name, f"must be text or json, got {value!r}")
            return value.lower()
        case "OFBOT_STAFF_SIGNATURE":
            flag = value.lower()
            if flag not in ("on", "off", "true", "false", "1", "0", "yes", "no"):
                raise SettingsError(name, f"must be on or off, got {value!r}")
            return flag in ("on", "true", "1", "yes")
        case "OFBOT_HTTP_HOST":
            if not value:
                raise SettingsError(name, "must be a host name or address")
            return value
        case _:
            return value or None


def load_settings(environ: dict[str, str] | None = None, env_file: str | Path = ".env") -> Settings:
    """Environment first, then `.env` for what the environment does not set."""
    source: dict[str, str] = {}
    path = Path(env_file)
    if path.is_file():
        from dotenv import dotenv_values  # only with a .env file (~4 ms of start-up otherwise)

        source.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    source.update(os.environ if environ is None else environ)
    values: dict[str, object] = {}
    for f in fields(Settings):
        name = "OFBOT_" + f.name.upper()
        raw = source.get(name)
        if raw is None or (raw.strip() == "" and name != "OFBOT_STAFF_USER_IDS"):
            continue
        values[f.name] = _parse(name, raw)
    return Settings(**values)
