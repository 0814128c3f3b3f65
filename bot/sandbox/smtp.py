"""A local SMTP server that keeps every message it receives, for the sandbox and the tests (SPEC §7).

aiosmtpd runs it in its own thread; results are handed back to the asyncio loop that started it."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import itertools
import socket
import threading
import time
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


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

    async def handle_DATA(self, server, session, envelope) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        record = parse_message(raw, envelope.mail_from, list(envelope.rcpt_tos))
        login = getattr(session.auth_data, "login", None)
        record["login"] = login.decode("utf-8", "replace") if isinstance(login, bytes) else login
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


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class SmtpSandbox:
    """A running SMTP server: where it listens and what it received."""

    def __init__(self, controller: Controller, mailbox: Mailbox, host: str, port: int) -> None:
        self.controller = controller
        self.mailbox = mailbox
        self.host = host
        self.port = port

    def stop(self) -> None:
        self.controller.stop()


async def start_smtp(host: str = "127.0.0.1", port: int = 0, **smtp_options: Any) -> SmtpSandbox:
    """Start the server in its thread; port 0 picks a free port. AUTH is offered, never required."""
    mailbox = Mailbox(asyncio.get_running_loop())
    options = {
        "auth_required": False,
        "auth_require_tls": False,
        "authenticator": _accept_any_login,
        **smtp_options,
    }
    for _attempt in range(3):
        # aiosmtpd needs a real port to check it started; another process may take it meanwhile.
        chosen = port or _free_port(host)
        controller = Controller(mailbox, hostname=host, port=chosen, **options)
        try:
            await asyncio.to_thread(controller.start)
        except OSError:
            if port:
                raise
            continue
        return SmtpSandbox(controller, mailbox, host, chosen)
    raise OSError(f"could not bind an SMTP port on {host}")
