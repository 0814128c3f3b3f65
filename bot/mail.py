"""Sends e-mail (one-time codes, notices) over SMTP with aiosmtplib.

Port 465 speaks implicit TLS; other ports use STARTTLS when the server offers it."""

from __future__ import annotations

import asyncio
import logging
import socket
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from bot.logs import mask_email
from bot.settings import Settings

log = logging.getLogger(__name__)


class MailError(Exception):
    """The message could not be handed to the SMTP server."""


class Mailer:
    def __init__(self, settings: Settings, timeout: float = 15.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._hostname: str | None = None  # the EHLO name, looked up once

    async def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain="openflyers.fr")
        message.set_content(body)
        s = self.settings
        if self._hostname is None:
            # aiosmtplib would run socket.getfqdn() (a reverse DNS lookup, seconds on a host
            # without one) in a thread for every mail.
            self._hostname = await asyncio.to_thread(socket.getfqdn)
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_user,
                password=s.smtp_password,
                use_tls=s.smtp_port == 465,
                timeout=self.timeout,
                local_hostname=self._hostname,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("mail to %s failed: %s", mask_email(to), type(exc).__name__)
            raise MailError(str(exc)) from exc
        log.info("mail sent to %s", mask_email(to))
