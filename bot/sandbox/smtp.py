"""A local SMTP server that keeps every message it receives, for the sandbox and the tests (SPEC §7).

As strict as the relays the bot meets in production: a message without the Date, From or
Message-ID header (RFC 5322 §3.6; amavisd-new and OpenDMARC bounce such mail), or with one twice,
is refused; a non-ASCII address or header is refused unless the client asked for SMTPUTF8 (RFC
6531 §3.2), and SMTPUTF8 can be left out of EHLO altogether (as Amazon SES does); STARTTLS and
AUTH can be required (RFC 3207, RFC 4954); a client keeps at most 3 connections open at once (as
Microsoft 365 does per mailbox); a HELO/EHLO name that is neither a fully-qualified domain name
nor an address literal (`localhost`, a bare container name) is refused 504 5.5.2, as Postfix's
`reject_non_fqdn_helo_hostname` does (RFC 5321 §4.1.1.1). aiosmtpd runs it in its own thread; results are handed back to
the asyncio loop that started it."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import ipaddress
import itertools
import re
import socket
import ssl
import threading
import time
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, syntax

# Connections a client may keep open at once: Microsoft 365's SMTP AUTH submission takes three
# per mailbox and refuses more ("432 4.3.2 Concurrent connections limit exceeded",
# learn.microsoft.com/exchange/troubleshoot/send-emails/smtp-submission-improvements), the
# strictest of the common relays; a connection beyond is answered as Postfix does at its
# smtpd_client_connection_count_limit: a 421 greeting, then closed (RFC 5321 §3.8, §4.2.2).
MAX_CONNECTIONS = 3


class Mailbox:
    """Every message received, oldest first; also the aiosmtpd handler that receives them."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._messages: list[dict] = []
        self._numbers = itertools.count(1)
        self._subscribers: list[asyncio.Queue] = []
        self._changed: asyncio.Event | None = None

    # -- the aiosmtpd side (runs in the server's thread) ---------------------------------------

    async def handle_MAIL(self, server, session, envelope, address, mail_options) -> str:
        if not address.isascii() and not envelope.smtp_utf8:
            return "553 5.6.7 non-ASCII address without SMTPUTF8 (RFC 6531)"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if not address.isascii() and not envelope.smtp_utf8:
            return "553 5.6.7 non-ASCII address without SMTPUTF8 (RFC 6531)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        problem = header_problem(raw, smtp_utf8=bool(envelope.smtp_utf8))
        if problem:
            return f"554 5.6.0 message refused: {problem}"
        record = parse_message(raw, envelope.mail_from, list(envelope.rcpt_tos))
        login = getattr(session.auth_data, "login", None)
        record["login"] = login.decode("utf-8", "replace") if isinstance(login, bytes) else login
        record["helo"] = session.host_name  # the name the client gave in EHLO/HELO
        with self._lock:
            record["id"] = next(self._numbers)
            self._messages.append(record)
        if self.loop is not None and not self.loop.is_closed():
            # asyncio objects belong to the loop that waits on them, not to this thread.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._announce, record)
        return "250 Message accepted for delivery"

    def _announce(self, record: dict) -> None:
        for queue in self._subscribers:
            queue.put_nowait(dict(record))
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    # -- the reading side (runs in the asyncio loop) -------------------------------------------

    @property
    def messages(self) -> list[dict]:
        with self._lock:
            return [dict(m) for m in self._messages]

    def messages_to(self, address: str) -> list[dict]:
        """Messages with `address` among their recipients (compared case-insensitively)."""
        wanted = address.strip().lower()
        return [m for m in self.messages if wanted in (r.lower() for r in m["rcpt_tos"])]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    async def wait_for(self, to: str, timeout: float = 5.0, after_count: int | None = None) -> dict:
        """The newest message to `to`, once there are more than `after_count` of them (or any)."""
        loop = asyncio.get_running_loop()
        if self.loop is None:
            self.loop = loop
        deadline = loop.time() + timeout
        while True:
            if self._changed is None:
                self._changed = asyncio.Event()
            changed = self._changed
            found = self.messages_to(to)
            if len(found) > (after_count or 0):
                return found[-1]
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [(m["rcpt_tos"], m["subject"]) for m in self.messages]
                raise TimeoutError(
                    f"no message to {to} within {timeout}s "
                    f"(wanted more than {after_count or 0}); mailbox: {seen}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def subscribe(self) -> asyncio.Queue:
        """A queue receiving each new message record (for the sandbox's web page)."""
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(queue)


# RFC 5322 §3.6: fields that must appear exactly once (Message-ID: "SHOULD" there, required here,
# as the filters in front of many mailboxes do), and those that may appear at most once.
EXACTLY_ONCE = ("Date", "From", "Message-ID")
AT_MOST_ONCE = ("Sender", "Reply-To", "To", "Cc", "Bcc", "In-Reply-To", "References", "Subject")


def header_problem(raw: bytes, *, smtp_utf8: bool) -> str | None:
    """Why a relay would refuse this message's header, or None."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    if not smtp_utf8 and not head.isascii():
        return "non-ASCII header without SMTPUTF8 (RFC 6531; RFC 5322 §2.2)"
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    for name in EXACTLY_ONCE:
        count = len(message.get_all(name) or [])
        if count != 1:
            return f"{count} {name} header fields, RFC 5322 §3.6 asks for one"
    for name in AT_MOST_ONCE:
        if len(message.get_all(name) or []) > 1:
            return f"{name} appears twice (RFC 5322 §3.6)"
    try:
        parsedate_to_datetime(str(message["Date"]))
    except (TypeError, ValueError):
        return "the Date header is not an RFC 5322 date-time (§3.3)"
    message_id = " ".join(str(message["Message-ID"]).split())
    if not (message_id.startswith("<") and message_id.endswith(">") and "@" in message_id):
        return "the Message-ID is not <id-left@id-right> (RFC 5322 §3.6.4)"
    return None


def parse_message(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> dict:
    """The record kept for one received message: envelope, subject and decoded bodies."""
    message: EmailMessage = email.message_from_bytes(raw, policy=email.policy.default)
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return {
        "id": None,
        "mail_from": mail_from,
        "rcpt_tos": rcpt_tos,
        "from": str(message.get("From", "")),
        "to": str(message.get("To", "")),
        "subject": str(message.get("Subject", "")),
        "text": _lines(plain.get_content()) if plain is not None else "",
        "html": _lines(html.get_content()) if html is not None else None,
        "received_at": time.time(),
        "raw": raw.decode("utf-8", "replace"),
    }


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n")


def _accept_any_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    # The bot may be configured with SMTP credentials; the sandbox takes whatever it is given.
    return AuthResult(success=True, auth_data=auth_data)


def _accept_only(user: str, password: str):
    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        login = getattr(auth_data, "login", b"") or b""
        given = getattr(auth_data, "password", b"") or b""
        ok = login == user.encode() and given == password.encode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticate


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class _CountingController(Controller):
    """aiosmtpd's controller, its sessions counting the connections open at once (one client:
    every test and the sandbox connect from 127.0.0.1)."""

    def __init__(self, handler, *, max_connections: int | None, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.max_connections = max_connections
        self.open_connections = 0  # both counters belong to the server's thread
        self.most_connections = 0  # the most open at once so far

    def factory(self) -> SMTP:
        return _CountedSession(self, self.handler, **self.SMTP_kwargs)


_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def helo_name_problem(name: str) -> str | None:
    """Why a HELO/EHLO argument is refused, or None. RFC 5321 §4.1.1.1 and §2.3.5: "a
    fully-qualified domain name" or an address literal (§4.1.3: `[192.0.2.1]`,
    `[IPv6:2001:db8::1]`); relays enforce it (Postfix `reject_non_fqdn_helo_hostname`,
    `reject_invalid_helo_hostname`: 504 5.5.2). The stricter reading: `localhost` and
    `localhost.localdomain`, which many relays refuse as a HELO name, are refused too."""
    if name.startswith("[") and name.endswith("]"):
        literal = name[1:-1]
        try:
            if literal[:5].lower() == "ipv6:":
                ipaddress.IPv6Address(literal[5:])
            else:
                ipaddress.IPv4Address(literal)
        except ValueError:
            return "invalid ip address"
        return None
    labels = name.rstrip(".").split(".")
    if len(name) > 255 or not all(_LABEL.fullmatch(label) for label in labels):
        return "invalid name"
    if len(labels) < 2 or labels[-1].isdigit():
        return "need fully-qualified hostname"
    if name.lower().rstrip(".") in ("localhost.localdomain", "localhost.local"):
        return "need fully-qualified hostname"
    return None


class _CountedSession(SMTP):
    def __init__(self, controller: _CountingController, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._controller = controller
        self._counted = False
        self._refused = False

    def connection_made(self, transport) -> None:
        if self.transport is None:  # the connection itself, not its TLS layer after STARTTLS
            c = self._controller
            if c.max_connections is not None and c.open_connections >= c.max_connections:
                self._refused = True
                transport.write(
                    b"421 4.7.0 Too many concurrent connections from this client"
                    b" (%d at most)\r\n" % c.max_connections
                )
                transport.close()
                return
            c.open_connections += 1
            c.most_connections = max(c.most_connections, c.open_connections)
            self._counted = True
        super().connection_made(transport)

    @syntax("HELO hostname")
    async def smtp_HELO(self, hostname: str) -> None:
        if await self._refuse_helo_name(hostname):
            return
        await super().smtp_HELO(hostname)

    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname: str) -> None:
        if await self._refuse_helo_name(hostname):
            return
        await super().smtp_EHLO(hostname)

    async def _refuse_helo_name(self, hostname: str) -> bool:
        problem = helo_name_problem(hostname.strip()) if hostname.strip() else None
        if problem is None:
            return False  # an empty argument: aiosmtpd's own "501 Syntax" answer
        # Postfix's words (smtpd_check.c); the session stays without a HELO: MAIL is refused.
        await self.push(f"504 5.5.2 {hostname.strip()}: Helo command rejected: {problem}")
        return True

    def connection_lost(self, error) -> None:
        if self._refused:
            return
        if self._counted:
            self._counted = False
            self._controller.open_connections -= 1
        super().connection_lost(error)


class SmtpSandbox:
    """A running SMTP server: where it listens and what it received."""

    def __init__(self, controller: Controller, mailbox: Mailbox, host: str, port: int) -> None:
        self.controller = controller
        self.mailbox = mailbox
        self.host = host
        self.port = port
        self.client_tls: ssl.SSLContext | None = None  # trusts the server's test CA (STARTTLS)

    def stop(self) -> None:
        self.controller.stop()


def _server_tls(host: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throw-away CA and a certificate for `host`: (server context, client context)."""
    import trustme  # a test dependency: only a server that requires STARTTLS needs it

    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(host, "localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def start_smtp(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    smtputf8: bool = True,
    require_starttls: bool = False,
    credentials: tuple[str, str] | None = None,
    max_connections: int | None = MAX_CONNECTIONS,
    **smtp_options: Any,
) -> SmtpSandbox:
    """Start the server in its thread; port 0 picks a free port.

    By default AUTH is offered, never required, and any login is taken. `smtputf8=False` leaves
    SMTPUTF8 out of EHLO; `require_starttls` refuses every command but EHLO/STARTTLS/QUIT before
    TLS (the client must trust `SmtpSandbox.client_tls`); `credentials` (user, password) makes
    AUTH required (after STARTTLS when that is required) and accepts only that login.
    `max_connections` open at once (None: no limit); the counts are on `controller`
    (`open_connections`, `most_connections`)."""
    mailbox = Mailbox(asyncio.get_running_loop())
    options = {
        "auth_required": False,
        "auth_require_tls": False,
        "authenticator": _accept_any_login,
        "enable_SMTPUTF8": smtputf8,
        **smtp_options,
    }
    client_tls = None
    if require_starttls:
        server_tls, client_tls = _server_tls(host)
        options.update(tls_context=server_tls, require_starttls=True)
    if credentials is not None:
        options.update(
            auth_required=True,
            auth_require_tls=require_starttls,
            authenticator=_accept_only(*credentials),
        )
    for _attempt in range(3):
        # aiosmtpd needs a real port to check it started; another process may take it meanwhile.
        chosen = port or _free_port(host)
        controller = _CountingController(
            mailbox, max_connections=max_connections, hostname=host, port=chosen, **options
        )
        try:
            await asyncio.to_thread(controller.start)
        except OSError:
            if port:
                raise
            continue
        sandbox = SmtpSandbox(controller, mailbox, host, chosen)
        sandbox.client_tls = client_tls
        return sandbox
    raise OSError(f"could not bind an SMTP port on {host}")
