"""Shared fixtures: the sandbox stand-ins on random loopback ports, a migrated database with the
sample clubs, and the real bot (Runtime) wired to them; `Chat` drives a conversation as a person."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from bot.clubs import import_clubs, read_clubs_file
from bot.runtime import Runtime, load_catalogue
from bot.settings import Settings
from storage.db import open_database

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CLUBS = ROOT / "bot" / "data" / "clubs.csv"
TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuv"
STAFF_CHAT = -1001234567890
STAFF_USERS = (9001, 9002)
OUTSIDER = 9100
CLUB_USER_FR = 1001
CLUB_USER_EN = 1002
CLUB_USER_2 = 1003


@pytest.fixture
async def telegram():
    from bot.sandbox.telegram import start_fake_telegram

    # A person types slower than a test: allow short bursts per chat (Telegram tolerates them).
    fake, server = await start_fake_telegram(token=TOKEN, chat_burst=200)
    fake.add_user(CLUB_USER_FR, "Jeanne", language_code="fr", username="jeanne")
    fake.add_user(CLUB_USER_EN, "John", language_code="en", username="john")
    fake.add_user(CLUB_USER_2, "Paul", language_code="fr")
    for user_id, name in ((9001, "Alice"), (9002, "Bruno"), (OUTSIDER, "Mallory")):
        fake.add_user(user_id, name, language_code="fr")
    fake.add_group(STAFF_CHAT, "OpenFlyers staff", members=[*STAFF_USERS, OUTSIDER])
    fake.url = server.url
    yield fake
    await fake.close()
    await server.stop()


def make_staff_forum(telegram) -> None:
    """The staff group as a deployment with topics must have it (README, "The staff forum"): a
    forum supergroup where an administrator made the bot an administrator with "Manage topics"
    (the bot gets the `my_chat_member` update)."""
    telegram.set_forum(STAFF_CHAT)
    telegram.set_bot_member(STAFF_CHAT, "administrator", can_manage_topics=True)


@pytest.fixture
async def smtp():
    from bot.sandbox.smtp import start_smtp

    sandbox = await start_smtp()
    yield sandbox
    sandbox.stop()


@pytest.fixture
async def stripe():
    """The Stripe stand-in; `bot` points its webhooks at the bot's HTTP server once it runs."""
    from bot.sandbox.stripe import start_fake_stripe

    fake, server = await start_fake_stripe(
        api_key="sk_test_sandbox", webhook_secret="whsec_sandbox", retry_delays=(0.2, 0.5, 1, 2)
    )
    yield fake
    await server.stop()


@pytest.fixture
def settings(request, tmp_path, telegram, smtp) -> Settings:
    # With the `stripe` fixture, the bot's Stripe client talks to the stand-in.
    stripe_url = (
        request.getfixturevalue("stripe").base_url
        if "stripe" in request.fixturenames
        else "https://api.stripe.com"
    )
    return Settings(
        telegram_token=TOKEN,
        telegram_api_url=telegram.url,
        db=tmp_path / "ofbot.sqlite3",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_from="OpenFlyers <no-reply@openflyers.example>",
        staff_chat_id=STAFF_CHAT,
        staff_user_ids=frozenset(STAFF_USERS),
        http_port=0,
        telegram_secret_token="sandbox-secret-token-for-the-tests-0123456789",
        stripe_secret_key="sk_test_sandbox",
        stripe_webhook_secret="whsec_sandbox",
        stripe_api_url=stripe_url,
    )


async def seed_database(settings: Settings) -> None:
    db = await open_database(settings.db)
    try:
        plans = set(load_catalogue(settings).plans)
        await import_clubs(db, read_clubs_file(SAMPLE_CLUBS), plans)
    finally:
        await db.close()


class BotHarness:
    """The real bot in this process, plus a way to wait until every update sent was handled."""

    def __init__(self, runtime: Runtime, telegram, stripe=None) -> None:
        self.runtime = runtime
        self.telegram = telegram
        self.stripe = stripe
        self.handled = 0
        self._changed = asyncio.Condition()
        self._wrap()

    def _wrap(self) -> None:
        from telegram import Update

        app = self.runtime.app
        original = app.process_update

        async def counting(update):
            try:
                await original(update)
            finally:
                # Only Telegram updates: Stripe events are custom updates on the same queue.
                if isinstance(update, Update):
                    async with self._changed:
                        self.handled += 1
                        self._changed.notify_all()

        app.process_update = counting
        if self.stripe is not None:
            self.stripe.webhook_url = self.runtime.http.url + "/stripe/webhook"

    async def restart(self) -> None:
        """Stop the bot and start a new Runtime on the same settings and database (in-process;
        `bot_process` is the `kill -9` version)."""
        await self.idle()
        await self.runtime.stop()
        self.runtime = Runtime(self.runtime.settings)
        await self.runtime.start()
        self._wrap()

    @property
    def services(self):
        return self.runtime.services

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until the bot handled every update the sandbox has produced so far."""
        target = self.telegram.update_count

        async def reached():
            async with self._changed:
                await self._changed.wait_for(lambda: self.handled >= target)

        await asyncio.wait_for(reached(), timeout)


@pytest.fixture
async def bot(request, settings, telegram):
    await seed_database(settings)
    runtime = Runtime(settings)
    await runtime.start()
    fake_stripe = request.getfixturevalue("stripe") if "stripe" in request.fixturenames else None
    harness = BotHarness(runtime, telegram, fake_stripe)
    yield harness
    await harness.runtime.stop()


@pytest.fixture
async def webhook_bot(settings, telegram):
    """The real bot receiving Telegram updates by webhook (`ofbot run --webhook`)."""
    port = free_port()
    # Telegram calls HTTPS on 443/80/88/8443 only: a TLS proxy in front forwards to the bot.
    public = "https://ofbot.example.org:8443"
    telegram.route_webhook(public, f"http://127.0.0.1:{port}")
    settings = replace_settings(settings, http_port=port, public_url=public)
    await seed_database(settings)
    runtime = Runtime(settings, webhook=True)
    await runtime.start()
    harness = BotHarness(runtime, telegram)
    yield harness
    await runtime.stop()


class Chat:
    """One person in one chat: say things, press buttons, read what the bot answered."""

    def __init__(self, telegram, bot: BotHarness, user_id: int, chat_id: int | None = None):
        self.telegram = telegram
        self.bot = bot
        self.user_id = user_id
        self.chat_id = chat_id or user_id

    def _last_id(self) -> int:
        messages = self.telegram.messages(self.chat_id)
        return max((m["message_id"] for m in messages), default=0)

    async def say(self, text: str) -> list[dict]:
        """Send a message; return the bot messages sent in answer, oldest first."""
        before = self._last_id()
        await self.telegram.send_text(self.user_id, text, chat_id=self.chat_id)
        await self.bot.idle()
        return self.new_since(before)

    async def press(self, label: str, message: dict | None = None) -> list[dict]:
        """Press the button whose label contains `label` on the latest message that has it.
        Returns the bot messages sent in answer, oldest first: the pressed message first when
        the bot answered by editing it in place."""
        before = self._last_id()
        target, data = self.find_button(label, message)
        await self.telegram.press(self.user_id, target["message_id"], data, chat_id=self.chat_id)
        await self.bot.idle()
        return self.answered_in_place(target) + self.new_since(before)

    def answered_in_place(self, pressed: dict) -> list[dict]:
        """[the pressed message] when the bot edited it into an answer (new text, or new
        buttons), [] when it is as it was or only lost its keyboard (the press answered below)."""
        now = self.message(pressed["message_id"])
        if now is None or not now.get("text"):
            return []
        if now["text"] != pressed.get("text"):
            return [now]
        changed = now.get("reply_markup") != pressed.get("reply_markup")
        return [now] if changed and now.get("reply_markup") else []

    def message(self, message_id: int) -> dict | None:
        """The message as it is now (edits applied), None once deleted."""
        return next(
            (m for m in self.telegram.messages(self.chat_id) if m["message_id"] == message_id),
            None,
        )

    def find_button(self, label: str, message: dict | None = None) -> tuple[dict, str]:
        candidates = [message] if message else reversed(self.telegram.bot_messages(self.chat_id))
        for candidate in candidates:
            markup = candidate.get("reply_markup") or {}
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if label.lower() in button["text"].lower() and "callback_data" in button:
                        return candidate, button["callback_data"]
        raise AssertionError(f"no button {label!r}; chat: {self.transcript()}")

    def buttons(self, message: dict | None = None) -> list[str]:
        message = message or self.last()
        markup = message.get("reply_markup") or {}
        return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]

    def new_since(self, message_id: int) -> list[dict]:
        return [m for m in self.telegram.bot_messages(self.chat_id) if m["message_id"] > message_id]

    def last(self) -> dict:
        return self.telegram.bot_messages(self.chat_id)[-1]

    def transcript(self) -> str:
        lines = []
        for m in self.telegram.messages(self.chat_id):
            who = "bot" if m.get("from", {}).get("is_bot") else "user"
            lines.append(f"[{who}] {m.get('text') or m.get('caption') or ''}")
        return "\n".join(lines)


@pytest.fixture
def chat(telegram, bot) -> Chat:
    return Chat(telegram, bot, CLUB_USER_FR)


@pytest.fixture
def chat_en(telegram, bot) -> Chat:
    return Chat(telegram, bot, CLUB_USER_EN)


def replace_settings(settings: Settings, **changes) -> Settings:
    return dataclasses.replace(settings, **changes)


def sample_club(subdomain: str) -> dict:
    """The sample CSV row of a club, so tests never hard-code its addresses."""
    import csv

    with SAMPLE_CLUBS.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["subdomain"] == subdomain:
                return row
    raise KeyError(subdomain)


async def read_code(smtp, address: str, after_count: int | None = None) -> str:
    import re

    message = await smtp.mailbox.wait_for(to=address, timeout=5.0, after_count=after_count)
    match = re.search(r"\b(\d{6})\b", message["text"])
    assert match, message["text"]
    return match.group(1)


class RelayWatch:
    """Hooks on the sandbox relay (aiosmtpd calls them in its own thread): the DATA of a message to
    one of `stall` waits until `release` is set (or `stall_for` s passed); every connection's EHLO
    and QUIT are recorded by the client's (address, port). Set up before the bot connects:
    aiosmtpd reads a handler's hooks when a connection opens."""

    def __init__(self, smtp, stall: tuple[str, ...] = (), stall_for: float = 60.0) -> None:
        import threading
        import time

        self.opened: list[tuple] = []  # one per connection, in order
        self.quit: list[tuple] = []
        self.stalling: list[str] = []  # recipients whose DATA is being held, in order
        self.release = threading.Event()
        mailbox = smtp.mailbox
        accept = mailbox.handle_DATA
        held = {address.lower() for address in stall}

        async def handle_EHLO(server, session, envelope, hostname, responses):
            if session.peer not in self.opened:
                self.opened.append(session.peer)
            session.host_name = hostname  # what aiosmtpd does when no hook is set
            return responses

        async def handle_QUIT(server, session, envelope):
            self.quit.append(session.peer)
            return "221 Bye"

        async def handle_DATA(server, session, envelope):
            stalled = [r for r in envelope.rcpt_tos if r.lower() in held]
            if stalled:
                self.stalling.append(stalled[0].lower())
                deadline = time.monotonic() + stall_for
                while not self.release.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
            return await accept(server, session, envelope)

        mailbox.handle_EHLO = handle_EHLO
        mailbox.handle_QUIT = handle_QUIT
        mailbox.handle_DATA = handle_DATA

    async def wait_stalling(self, count: int = 1, timeout: float = 15.0) -> None:
        """Until `count` messages are held at DATA."""
        async with asyncio.timeout(timeout):
            while len(self.stalling) < count:
                await asyncio.sleep(0.02)


async def verify(chat: Chat, smtp, subdomain: str = "mermoz", kind: str = "structure_email"):
    """Drive identify + verify through the real conversation; returns the menu message."""
    address = sample_club(subdomain)[kind]
    await chat.say("/start")
    await chat.say(subdomain)
    count = len(smtp.mailbox.messages_to(address))
    await chat.say(address)
    code = await read_code(smtp, address, after_count=count)
    replies = await chat.say(code)
    assert replies, chat.transcript()
    return replies[-1]


def bot_environment(settings: Settings) -> dict[str, str]:
    """The OFBOT_* environment for `ofbot` subprocesses pointed at this test's sandbox."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("OFBOT_")}
    env.update(
        {
            "OFBOT_TELEGRAM_TOKEN": settings.telegram_token,
            "OFBOT_TELEGRAM_API_URL": settings.telegram_api_url,
            "OFBOT_DB": str(settings.db),
            "OFBOT_SMTP_HOST": settings.smtp_host,
            "OFBOT_SMTP_PORT": str(settings.smtp_port),
            "OFBOT_SMTP_FROM": settings.smtp_from,
            "OFBOT_STAFF_CHAT_ID": str(settings.staff_chat_id),
            "OFBOT_STAFF_USER_IDS": ",".join(str(i) for i in sorted(settings.staff_user_ids)),
            "OFBOT_HTTP_HOST": "127.0.0.1",
            "OFBOT_HTTP_PORT": str(settings.http_port),
            "OFBOT_TELEGRAM_SECRET_TOKEN": settings.telegram_secret_token or "",
            "OFBOT_STRIPE_SECRET_KEY": settings.stripe_secret_key or "",
            "OFBOT_STRIPE_WEBHOOK_SECRET": settings.stripe_webhook_secret or "",
            "OFBOT_STRIPE_API_URL": settings.stripe_api_url,
            "OFBOT_PUBLIC_URL": settings.public_url or "",
            "OFBOT_ADMIN_TOKEN": settings.admin_token or "",
            "OFBOT_METRICS_TOKEN": settings.metrics_token or "",
            "OFBOT_CLUBS_SOURCE": settings.clubs_source or "",
            "OFBOT_BACKUP_DIR": str(settings.backup_dir or ""),
            "OFBOT_BACKUP_KEEP": str(settings.backup_keep),
            "OFBOT_LOG_FORMAT": settings.log_format,
            "OFBOT_CATALOGUE": str(settings.catalogue),
        }
    )
    return {k: v for k, v in env.items() if v != ""}


def free_port() -> int:
    """A free loopback port that stays free across a bot's restarts (bench/harness.py)."""
    from bench.harness import free_port as stable_free_port

    return stable_free_port()


class BotProcess:
    """`ofbot run` as a real subprocess, for kill -9 and restart tests."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http_port}"

    async def start(self, *args: str) -> None:
        import sys

        import httpx

        log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            *args,
            env=bot_environment(self.settings),
            stdout=log,
            stderr=log,
            cwd=str(ROOT),
        )
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                if self.process.returncode is not None:
                    raise AssertionError(self.log_path.read_text()[-3000:])
                try:
                    if (await client.get(self.url + "/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("bot did not start: " + self.log_path.read_text()[-3000:])

    async def kill(self) -> None:
        """SIGKILL: no clean-up, no flush, as a crash would."""
        self.process.kill()
        await self.process.wait()

    async def terminate(self) -> int:
        self.process.terminate()
        return await asyncio.wait_for(self.process.wait(), 20)


@pytest.fixture
async def bot_process(settings, tmp_path):
    await seed_database(settings)
    process_settings = replace_settings(settings, http_port=free_port())
    process = BotProcess(process_settings, tmp_path / "bot.log")
    yield process
    if process.process and process.process.returncode is None:
        await process.kill()


@pytest.fixture
def alice(telegram, bot) -> Chat:
    """Staff user 9001, writing in the staff group."""
    return Chat(telegram, bot, STAFF_USERS[0], STAFF_CHAT)


@pytest.fixture
def bruno(telegram, bot) -> Chat:
    """Staff user 9002, writing in the staff group."""
    return Chat(telegram, bot, STAFF_USERS[1], STAFF_CHAT)


@pytest.fixture
def outsider(telegram, bot) -> Chat:
    """A member of the staff group who is not in OFBOT_STAFF_USER_IDS."""
    return Chat(telegram, bot, OUTSIDER, STAFF_CHAT)
