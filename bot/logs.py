"""Logging set-up: one formatter that removes secrets and masks e-mail addresses in every line.

Applied to the whole record (message, arguments and traceback), since libraries log URLs with tokens."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

# An e-mail address in any form a log line can carry (RFC 5321/5322 and RFC 6531): a quoted or
# plain local part in any script (`zoë.martin`, `président`), then a domain in any script
# (`exämple.fr`), punycode, or an address literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`). Broad
# on purpose: masking something that only looks like an address costs nothing.
_EMAIL_RE = re.compile(
    r"""(?:"(?:[^"\\\r\n]|\\.)*"|[^\s@<>()\[\],;:"'`]+)"""
    r"@"
    r"""(?:\[[^\]\s]*\]|[^\s@<>()\[\],;:"'`/?#]+)"""
)
# The same in a URL's query or path, with "@" percent-encoded (RFC 3986): `jean%40club.fr`.
_ENCODED_EMAIL_RE = re.compile(r"[^\s@<>()\[\],;:\"'`/?#&=]+%40[^\s@<>()\[\],;:\"'`/?#&=]+")
_STRIPE_KEY_RE = re.compile(r"\b(sk|rk|whsec)_(live|test)?_?[A-Za-z0-9]{6,}")
_BOT_TOKEN_RE = re.compile(r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{20,}")


def mask_email(address: str) -> str:
    """`contact@aeroclub.fr` → `c•••@a•••.fr`: enough to recognise, not to read. An address
    literal keeps nothing (`j•••@[•••]`); a quoted local part shows only its quote."""
    local, _, domain = address.strip().rpartition("@")
    if not local or not domain:
        return "•••"
    if domain.startswith("["):
        return f"{local[:1]}•••@[•••]"
    domain = domain.rstrip(".")
    host, dot, tld = domain.rpartition(".")
    if not dot:
        host, tld = domain, ""
    return f"{local[:1]}•••@{host[:1]}•••{'.' + tld if tld else ''}"


# A secret shorter than this is not searched for in log lines: replacing a 1-character "secret"
# would blank every such letter of every line. Start-up refuses such secrets anyway (settings).
MIN_REDACTED_SECRET = 6


def redact(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= MIN_REDACTED_SECRET:
            text = text.replace(secret, "[redacted]")
    text = _BOT_TOKEN_RE.sub("[redacted]", text)
    text = _STRIPE_KEY_RE.sub("[redacted]", text)
    text = _ENCODED_EMAIL_RE.sub(
        lambda m: mask_email(m.group(0).replace("%40", "@")).replace("@", "%40"), text
    )
    return _EMAIL_RE.sub(_masked_match, text)


def _masked_match(match: re.Match) -> str:
    found = match.group(0)
    # A sentence's full stop after an address is kept.
    return mask_email(found) + ("." if found.endswith(".") else "")


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then redacts the finished line."""

    def __init__(self, fmt: str, secrets: list[str]) -> None:
        super().__init__(fmt)
        self.secrets = list(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


class JsonFormatter(logging.Formatter):
    r"""OFBOT_LOG_FORMAT=json: one JSON object per line (time, level, logger, message, exception),
    each value passed through the same `redact` before it is encoded — a secret holding `"` or `\`
    would be escaped by JSON and slip past a redactor run on the encoded line."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def format(self, record: logging.LogRecord) -> str:
        at = dt.datetime.fromtimestamp(record.created, dt.UTC)
        entry = {
            "time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage(), self.secrets),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info), self.secrets)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info), self.secrets)
        return json.dumps(entry, ensure_ascii=False)


# Loggers that libraries may give handlers of their own: every line must reach the root's
# redacting handler instead (uvicorn's "Exception in ASGI application" tracebacks included).
OWN_HANDLER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "mail.log")


def configure_logging(
    secrets: list[str], level: int = logging.INFO, path=None, fmt: str = "text"
) -> None:
    """Log to stderr, or to `path` (the sandbox keeps the terminal for the chat); `fmt` is
    OFBOT_LOG_FORMAT: `text` lines or `json` objects, redacted alike. Every logger of the process
    goes through this one handler on the root logger; servers are started with
    `log_config=None` (bot/sandbox/serve.py) so uvicorn does not install its own."""
    handler = logging.FileHandler(path, encoding="utf-8") if path else logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter(secrets))
    else:
        handler.setFormatter(
            RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets)
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    names = set(OWN_HANDLER_LOGGERS) | set(logging.root.manager.loggerDict)
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.captureWarnings(True)  # warnings.warn(...) lines too
    # Request lines carry the bot token in the URL; keep them out even when redaction would cope.
    for noisy in ("httpx", "httpcore", "apscheduler", "uvicorn.access", "mail.log", "stripe"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
