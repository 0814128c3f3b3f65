"""`ofbot doctor` (SPEC §6): every real dependency checked with real calls before clubs write to
the bot — the libraries loaded on first use, Telegram, the staff group, the webhook, Stripe, the
SMTP relay, the catalogue, the database.

Each check gives one line: ok, warning or error, and what to do. Any error → exit status 1.
The checks live by service (telegram.py, stripe.py, smtp.py, local.py); this module runs them in
order and formats the report."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable

import httpx

from bot.doctor.checks import ERROR, OK, TIMEOUT, WARNING, Check
from bot.doctor.local import DISK_ERROR_BYTES, DISK_WARNING_BYTES, LocalChecks
from bot.doctor.smtp import SmtpChecks
from bot.doctor.stripe import STRIPE_EVENTS, StripeAnswer, StripeChecks
from bot.doctor.telegram import (
    PENDING_UPDATES_WARNING,
    WEBHOOK_ERROR_RECENT,
    TelegramAnswer,
    TelegramChecks,
)
from bot.settings import Settings

__all__ = [
    "DISK_ERROR_BYTES",
    "DISK_WARNING_BYTES",
    "ERROR",
    "OK",
    "PENDING_UPDATES_WARNING",
    "STRIPE_EVENTS",
    "TIMEOUT",
    "WARNING",
    "WEBHOOK_ERROR_RECENT",
    "Check",
    "Doctor",
    "StripeAnswer",
    "TelegramAnswer",
    "report",
]


class Doctor(TelegramChecks, StripeChecks, SmtpChecks, LocalChecks):
    """The checks, in the order printed. `webhook` says which mode the bot runs in (the same
    `--webhook` as `ofbot run`); the disk thresholds and the SMTP trust are for tests."""

    def __init__(
        self,
        settings: Settings,
        *,
        webhook: bool = False,
        disk_error_bytes: int = DISK_ERROR_BYTES,
        disk_warning_bytes: int = DISK_WARNING_BYTES,
        smtp_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        # The CAs the relay's certificate is checked against: the system's, as the Mailer's.
        self.smtp_tls = smtp_tls
        self.webhook = webhook
        self.disk_error_bytes = disk_error_bytes
        self.disk_warning_bytes = disk_warning_bytes
        self.me: dict | None = None

    async def run(self) -> list[Check]:
        checks: list[Check] = []
        async with httpx.AsyncClient(timeout=TIMEOUT) as self.http:
            steps: list[Callable[[], Awaitable[list[Check]]]] = [
                self.check_libraries,
                self.check_token,
                self.check_staff_group,
                self.check_webhook,
                self.check_stripe,
                self.check_smtp,
                self.check_catalogue,
                self.check_database,
                self.check_backups,
                self.check_disk,
            ]
            for step in steps:
                try:
                    checks.extend(await step())
                except Exception as exc:  # a check that breaks is reported, the others go on
                    name = step.__name__.removeprefix("check_").replace("_", " ")
                    checks.append(Check(name, ERROR, f"the check itself failed: {exc!r}"))
        return checks


def report(checks: list[Check]) -> tuple[str, int]:
    """The printed report and the exit status (1 when any check is an error)."""
    lines = [check.line() for check in checks]
    errors = sum(check.status == ERROR for check in checks)
    warnings = sum(check.status == WARNING for check in checks)
    lines.append(f"{len(checks)} checks: {errors} error(s), {warnings} warning(s)")
    return "\n".join(lines), 1 if errors else 0
