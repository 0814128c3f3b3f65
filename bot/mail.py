"""Sends e-mail (one-time codes, notices) over SMTP with aiosmtplib, as receiving servers expect,
over one connection kept open between mails while the relay allows it (the TCP, TLS, EHLO and
AUTH set-up of a mail saved each time).

Port 465 speaks implicit TLS; other ports use STARTTLS when the server offers it (and AUTH after
it when a user is set). Every message carries the headers RFC 5322 requires (Date, From) and a
Message-ID (RFC 5322 §3.6.4 "SHOULD"; amavisd-new and OpenDMARC score or bounce mail without);
an internationalised domain is sent in its ASCII (IDNA) form, so a relay without SMTPUTF8
(RFC 6531; Amazon SES is one) still takes it; a header value never carries a line break."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import aiosmtplib

from bot.addresses import ascii_email
from bot.logs import mask_email
from bot.settings import Settings

log = logging.getLogger(__name__)

# RFC 5321 §4.5.3.2.7: a server should wait at least 5 minutes for the next command; stay well
# under it so a kept connection is almost always still open (a closed one is reopened once).
IDLE_REUSE = 60.0


class MailError(Exception):
    """The message could not be handed to the SMTP server. `permanent`: the relay refused it for
    good (a 5xx reply, SMTPUTF8 needed and not offered, an address no header can carry): sending
    it again will not help, unlike a connection that failed or a 4xx reply (RFC 5321 §4.2.1)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def refused_for_good(exc: Exception) -> bool:
    """A relay's refusal that retrying cannot cure: SMTPUTF8 not offered for a non-ASCII
    address, or a 5xx reply (to MAIL, RCPT, DATA or AUTH)."""
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return True
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= error.code < 600 for error in exc.recipients)
    code = getattr(exc, "code", None)
    return isinstance(code, int) and 500 <= code < 600


def header_value(text: str) -> str:
    """One line: CR, LF and other runs of white space become one space (RFC 5322 §2.2: a header
    field body is one line unless folded, and a bare line break would end the header)."""
    return " ".join(str(text).split())


def build_message(
    sender: str, to: str, subject: str, body: str, message_id: str | None = None
) -> EmailMessage:
    """The message as sent: Date, From, To (ASCII domain), Subject, Message-ID (`message_id`
    when the caller fixed one), a text body. Raises MailError when `to` or `sender` cannot be
    written in a header."""
    message = EmailMessage()
    try:
        message["Date"] = formatdate(localtime=True)
        message["From"] = header_value(sender)
        message["To"] = ascii_email(to)
        message["Subject"] = header_value(subject)
        domain = Address(addr_spec=ascii_email(message["From"].addresses[0].addr_spec)).domain
        message["Message-ID"] = message_id or make_msgid(domain=domain or "openflyers.fr")
    except (ValueError, IndexError, TypeError) as exc:
        raise MailError(
            f"cannot write the message headers: {type(exc).__name__}", permanent=True
        ) from exc
    # Quoted-printable keeps the message 7-bit: no relay needs 8BITMIME (RFC 6152) to take it.
    message.set_content(body, cte="quoted-printable")
    return message


def new_message_id(sender: str) -> str:
    """A Message-ID on the sender's domain, for a mail that may be sent again (the outbox
    after a crash): sent twice, it is the same message, which mail clients show once."""
    address = parseaddr(header_value(sender))[1]
    try:
        domain = ascii_email(address).rpartition("@")[2] if "@" in address else ""
    except ValueError:
        domain = ""
    return make_msgid(domain=domain or "openflyers.fr")


class Mailer:
    def __init__(
        self,
        settings: Settings,
        timeout: float = 15.0,
        tls_context: ssl.SSLContext | None = None,
        metrics=None,
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        # The CA the relay's certificate is checked against (default: the system's); tests and
        # the sandbox pass their own.
        self.tls_context = tls_context
        self.metrics = metrics  # bot.metrics.Metrics: mails sent and failed
        self._hostname: str | None = None  # the EHLO name, looked up once
        self._client: aiosmtplib.SMTP | None = None  # the kept connection
        self._last_used = 0.0
        self._lock = asyncio.Lock()

    async def send(
        self, to: str, subject: str, body: str, *, message_id: str | None = None
    ) -> None:
        """Hand one plain-text mail to the relay; MailError when it was not taken.
        `message_id`: fixed by the caller when the same mail may be sent again (bot.outbox)."""
        try:
            message = build_message(self.settings.smtp_from, to, subject, body, message_id)
        except MailError:
            if self.metrics is not None:
                self.metrics.mails.labels(outcome="failed").inc()
            raise
        async with self._lock:
            try:
                await self._send(message)
            except (aiosmtplib.SMTPException, OSError) as exc:
                await self._drop()
                log.warning("mail to %s failed: %s", mask_email(to), type(exc).__name__)
                if self.metrics is not None:
                    self.metrics.mails.labels(outcome="failed").inc()
                raise MailError(str(exc), permanent=refused_for_good(exc)) from exc
        if self.metrics is not None:
            self.metrics.mails.labels(outcome="sent").inc()
        log.info("mail sent to %s", mask_email(to))

    async def _send(self, message: EmailMessage) -> None:
        reused = self._client is not None and self._client.is_connected
        if reused and time.monotonic() - self._last_used > IDLE_REUSE:
            await self._drop()
            reused = False
        if not reused:
            await self._connect()
        try:
            await self._client.send_message(message)
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
            if not reused:
                raise
            # The relay closed the kept connection meanwhile: once more on a new one.
            await self._drop()
            await self._connect()
            await self._client.send_message(message)
        self._last_used = time.monotonic()

    async def _connect(self) -> None:
        s = self.settings
        if self._hostname is None:
            # aiosmtplib would run socket.getfqdn() (a reverse DNS lookup, seconds on a host
            # without one) in a thread for every connection.
            self._hostname = await asyncio.to_thread(socket.getfqdn)
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_user,
            password=s.smtp_password,
            use_tls=s.smtp_port == 465,
            timeout=self.timeout,
            local_hostname=self._hostname,
            tls_context=self.tls_context,
        )
        await client.connect()
        self._client = client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def close(self) -> None:
        """QUIT the kept connection (at shutdown)."""
        async with self._lock:
            client, self._client = self._client, None
            if client is not None and client.is_connected:
                try:
                    await asyncio.wait_for(client.quit(), 2)
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    client.close()
