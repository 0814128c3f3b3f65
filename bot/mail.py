"""Sends e-mail (one-time codes, notices) over SMTP with aiosmtplib, as receiving servers expect,
over a small pool of connections kept open between mails while the relay allows it (the TCP, TLS,
EHLO and AUTH set-up of a mail saved each time; a mail the relay is slow on holds one of them).

Port 465 speaks implicit TLS; other ports use STARTTLS when the server offers it (and AUTH after
it when a user is set). Every message carries the headers RFC 5322 requires (Date, From) and a
Message-ID (RFC 5322 §3.6.4 "SHOULD"; amavisd-new and OpenDMARC score or bounce mail without);
an internationalised domain is sent in its ASCII (IDNA) form, so a relay without SMTPUTF8
(RFC 6531; Amazon SES is one) still takes it; a header value never carries a line break. A mail
is written once, as the bytes sent, with the envelope the bot already knows (`prepare_mail`)."""

from __future__ import annotations

import asyncio
import email.charset
import email.policy
import functools
import ipaddress
import logging
import re
import socket
import ssl
import time
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid, parseaddr

import aiosmtplib

from bot.addresses import ascii_email
from bot.logs import mask_email
from bot.settings import Settings

log = logging.getLogger(__name__)

# RFC 5321 §4.5.3.2.7: a server should wait at least 5 minutes for the next command; stay well
# under it so a kept connection is almost always still open (a closed one is reopened once).
IDLE_REUSE = 60.0

# Connections open at once, at most: mails sent together each take one, so a relay slow to take
# one mail (or a connection that hangs until the timeout) holds back that mail only. Three is the
# most Microsoft 365's SMTP AUTH submission accepts per mailbox ("432 4.3.2 Concurrent
# connections limit exceeded" beyond; learn.microsoft.com/exchange/troubleshoot/send-emails/
# smtp-submission-improvements), the strictest of the common relays (Postfix and Amazon SES take
# more); the outbox's code mails, a few a second at most, never need more.
POOL_SIZE = 3


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
    """The message as an EmailMessage (default policy): Date, From, To (ASCII domain), Subject,
    Message-ID (`message_id` when the caller fixed one), a quoted-printable text body. What
    `prepare_mail` falls back on when the plain form does not fit. Raises MailError when `to` or
    `sender` cannot be written in a header."""
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


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One mail ready for the relay. Either `data`, the message's bytes as sent (CRLF line ends,
    7-bit), with its envelope: `sender` (MAIL FROM) and `recipient` (RCPT TO); or `message`, an
    EmailMessage aiosmtplib's `send_message` flattens and takes the envelope from (an address
    only SMTPUTF8 can carry)."""

    sender: str = ""
    recipient: str = ""
    data: bytes = b""
    message: EmailMessage | None = None


# RFC 5322 §2.1.1: a line SHOULD be at most 78 characters (CRLF aside); RFC 2047 §2: at most 76
# where it holds an encoded word. Every header line is kept to the stricter.
LINE = 76
# The email package's original API (`email.policy.compat32`, MIMEText, Header): it writes the
# fields as given, without the header registry's parsing of each one, which made the default
# policy's EmailMessage cost ~1 ms per mail (bench/README.md, "mail CPU"); CRLF line ends as SMTP
# wants them (RFC 5321 §2.3.8).
_POLICY = email.policy.compat32.clone(linesep="\r\n", max_line_length=LINE)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# UTF-8 text in quoted-printable: 7-bit, so no relay needs 8BITMIME (RFC 6152) to take it.
_UTF8_QP = email.charset.Charset("utf-8")
_UTF8_QP.body_encoding = email.charset.QP


@functools.lru_cache(maxsize=8)
def _sender_fields(sender: str) -> tuple[str | Header, str, str]:
    """(the From field's value, the envelope sender, the Message-ID domain) of the configured
    sender, the same for every mail: worked out once. The address's domain in ASCII (IDNA); a
    display name outside ASCII in RFC 2047 encoded words (`email.utils.formataddr`)."""
    name, address = parseaddr(header_value(sender))
    if "@" not in address:
        raise ValueError("no address in the sender")
    address = ascii_email(address)
    domain = address.rpartition("@")[2] or "openflyers.fr"
    return formataddr((name, address), charset="utf-8"), address, domain


def _subject(text: str) -> str | Header:
    """The Subject's value: printable ASCII that fits in a line as it is; anything else (and a
    literal `=?`, which a reader would take for the start of an encoded word) as UTF-8 encoded
    words (RFC 2047), which `email.header.Header` cuts at whole characters and folds."""
    if (
        text.isascii()
        and text.isprintable()
        and "=?" not in text
        and len("Subject: ") + len(text) <= LINE
    ):
        return text
    return Header(text, "utf-8", header_name="Subject")


def prepare_mail(
    sender: str, to: str, subject: str, body: str, message_id: str | None = None
) -> Outgoing:
    """The mail `Mailer.send` hands over, built once with the email package's compat32 API
    (MIMEText, Header, formataddr) as the bytes sent: Date, From, To (ASCII domain), Subject,
    Message-ID (`message_id` when the caller fixed one), a quoted-printable UTF-8 body; with the
    envelope from the addresses at hand, instead of an EmailMessage that aiosmtplib's
    `send_message` flattens and parses again. An address whose local part is not ASCII (only
    SMTPUTF8 carries it, RFC 6531) goes the EmailMessage way (`build_message`). Raises MailError
    when `to` or `sender` cannot be written in a header."""
    try:
        from_field, envelope_sender, domain = _sender_fields(sender)
        recipient = ascii_email(to)
        if message_id is None:
            message_id = make_msgid(domain=domain)
        plain = envelope_sender.isascii() and recipient.isascii() and message_id.isascii()
        if not plain:
            message = build_message(sender, to, subject, body, message_id)
            return Outgoing(envelope_sender, recipient, message=message)
        # Line breaks as the email package reads them (CR, LF, CRLF), each a CRLF once sent,
        # and a last one (RFC 5322 §2.3: the body is lines), as EmailMessage.set_content did.
        text = "\n".join(_LINE_BREAK.split(body))
        message = MIMEText(text if text.endswith("\n") else text + "\n", "plain", _UTF8_QP)
        message["Date"] = formatdate(localtime=True)
        message["From"] = from_field
        message["To"] = header_value(recipient)
        message["Subject"] = _subject(header_value(subject))
        message["Message-ID"] = header_value(message_id)
        data = message.as_bytes(policy=_POLICY)
    except (ValueError, IndexError, TypeError, UnicodeError) as exc:
        raise MailError(
            f"cannot write the message headers: {type(exc).__name__}", permanent=True
        ) from exc
    return Outgoing(envelope_sender, recipient, data=data)


def new_message_id(sender: str) -> str:
    """A Message-ID on the sender's domain, for a mail that may be sent again (the outbox
    after a crash): sent twice, it is the same message, which mail clients show once."""
    try:
        domain = _sender_fields(sender)[2]
    except (ValueError, IndexError, TypeError, UnicodeError):  # no address: the bot's own domain
        domain = "openflyers.fr"
    return make_msgid(domain=domain)


class _Connection:
    """One connection of the pool: its client (None until opened) and when it last took a mail."""

    __slots__ = ("client", "last_used")

    def __init__(self) -> None:
        self.client: aiosmtplib.SMTP | None = None
        self.last_used = 0.0


_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def ehlo_name(relay_host: str, relay_port: int) -> str:
    """The name the bot gives in EHLO: this host's fully-qualified domain name, or, when it has
    none (`socket.getfqdn()` says `localhost`, or a bare container name), an address literal of
    the local address a connection to the relay leaves from (`[192.0.2.1]`, `[IPv6:2001:db8::1]`).
    RFC 5321 §4.1.1.1 and §4.1.3; relays refuse anything else (Postfix
    `reject_non_fqdn_helo_hostname`: 504 5.5.2). Blocking (a DNS lookup): run it in a thread."""
    name = socket.getfqdn().rstrip(".")
    labels = name.split(".")
    if (
        len(labels) >= 2
        and not labels[-1].isdigit()
        and name.lower() not in ("localhost.localdomain", "localhost.local")
        and all(_HOST_LABEL.fullmatch(label) for label in labels)
    ):
        return name
    try:
        family, _, _, _, address = socket.getaddrinfo(
            relay_host, relay_port, type=socket.SOCK_DGRAM
        )[0]
        # A datagram socket's connect() sends nothing: it only picks the route, and the local
        # address a TCP connection to the relay would leave from.
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(address)
            local = ipaddress.ip_address(probe.getsockname()[0].split("%", 1)[0])
    except (OSError, ValueError, IndexError):
        return name
    return f"[{local}]" if local.version == 4 else f"[IPv6:{local}]"


class Mailer:
    """`send()` may be called by several tasks at once: each mail takes a connection of the pool
    (at most POOL_SIZE open; a caller beyond waits for one); `close()` QUITs them all."""

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
        self._hostname_lock = asyncio.Lock()
        # Connections kept open between mails, the last used at the end (taken first: the most
        # likely to be still open, and the others age out when one connection is enough).
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(POOL_SIZE)

    async def send(
        self, to: str, subject: str, body: str, *, message_id: str | None = None
    ) -> None:
        """Hand one plain-text mail to the relay; MailError when it was not taken.
        `message_id`: fixed by the caller when the same mail may be sent again (bot.outbox)."""
        try:
            mail = prepare_mail(self.settings.smtp_from, to, subject, body, message_id)
        except MailError:
            if self.metrics is not None:
                self.metrics.mails.labels(outcome="failed").inc()
            raise
        async with self._slots:
            connection = self._take()
            kept = False
            try:
                await self._send(connection, mail)
                kept = True
            except (aiosmtplib.SMTPException, OSError) as exc:
                log.warning("mail to %s failed: %s", mask_email(to), type(exc).__name__)
                if self.metrics is not None:
                    self.metrics.mails.labels(outcome="failed").inc()
                raise MailError(str(exc), permanent=refused_for_good(exc)) from exc
            finally:
                if kept:
                    self._idle.append(connection)
                else:  # failed, or cancelled half-way: the session's state is unknown
                    self._drop(connection)
        if self.metrics is not None:
            self.metrics.mails.labels(outcome="sent").inc()
        log.info("mail sent to %s", mask_email(to))

    def _take(self) -> _Connection:
        """The most recently used idle connection, or a new one (opened by `_send`). Those idle
        longer than IDLE_REUSE are closed: a relay may have dropped them (RFC 5321 §4.5.3.2.7)."""
        now = time.monotonic()
        while self._idle and now - self._idle[0].last_used > IDLE_REUSE:
            self._drop(self._idle.pop(0))
        return self._idle.pop() if self._idle else _Connection()

    async def _send(self, connection: _Connection, mail: Outgoing) -> None:
        client = connection.client
        reused = client is not None and client.is_connected
        if not reused:
            self._drop(connection)
            connection.client = await self._connect()
        try:
            await self._hand_over(connection.client, mail)
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
            if not reused:
                raise
            # The relay closed the kept connection meanwhile: once more on a new one.
            self._drop(connection)
            connection.client = await self._connect()
            await self._hand_over(connection.client, mail)
        connection.last_used = time.monotonic()

    @staticmethod
    async def _hand_over(client: aiosmtplib.SMTP, mail: Outgoing) -> None:
        """MAIL, RCPT and DATA for one mail on an open connection (after EHLO: `_connect`)."""
        if mail.message is not None:
            await client.send_message(mail.message)
            return
        # The MAIL command send_message writes (it asks for 8BITMIME whenever the relay offers
        # it, although the message is 7-bit); SMTPUTF8 is never needed here (prepare_mail).
        options = ["BODY=8BITMIME"] if client.supports_extension("8bitmime") else []
        await client.sendmail(mail.sender, [mail.recipient], mail.data, mail_options=options)

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        if self._hostname is None:
            async with self._hostname_lock:  # connections opened together look it up once
                if self._hostname is None:
                    # aiosmtplib would run socket.getfqdn() (a reverse DNS lookup, seconds on a
                    # host without one) in a thread for every connection, and send `localhost`.
                    self._hostname = await asyncio.to_thread(ehlo_name, s.smtp_host, s.smtp_port)
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
        if client.is_ehlo_or_helo_needed:
            # The relay's extensions (8BITMIME) before the first MAIL: EHLO, or HELO when a relay
            # refuses EHLO (RFC 5321 §3.2), as aiosmtplib's send_message does on first use.
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                if not client.is_connected:
                    raise
                await client.helo()
        return client

    @staticmethod
    def _drop(connection: _Connection) -> None:
        client, connection.client = connection.client, None
        if client is not None:
            client.close()

    async def close(self) -> None:
        """QUIT every kept connection (at shutdown), once the mails being handed over are done
        (a caller stopping sooner cancels its sends first, as bot.outbox does)."""
        taken = 0
        try:
            for _ in range(POOL_SIZE):
                await self._slots.acquire()
                taken += 1
            idle, self._idle = self._idle, []
            await asyncio.gather(*(self._quit(connection) for connection in idle))
        finally:
            for _ in range(taken):
                self._slots.release()

    @staticmethod
    async def _quit(connection: _Connection) -> None:
        client, connection.client = connection.client, None
        if client is not None and client.is_connected:
            try:
                await asyncio.wait_for(client.quit(), 2)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
