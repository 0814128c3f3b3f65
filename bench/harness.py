"""The sandbox for benchmarks and resilience runs: FakeTelegram, the SMTP mailbox (and FakeStripe
when asked) in this process, a database with generated clubs, `ofbot run` (or the echo bot) as a
child process whose CPU and memory are read from /proc, and people driving the identify + verify flow.

Replies are routed through one subscription to the fake (not `wait_for_bot_message`, which copies
every message of a chat on every change) so that the driver costs little next to the bot."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import random
import re
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.common import ROOT, proc_cpu_seconds, proc_rss_peak_mb
from bench.loopback import LoopbackWatch, check_environment, check_jail
from bot.clubs import import_clubs
from bot.sandbox.smtp import start_smtp
from bot.sandbox.stripe import start_fake_stripe
from bot.sandbox.telegram import start_fake_telegram
from storage.clubs import COLUMNS as CLUB_COLUMNS
from storage.db import open_database

TOKEN = "123456:BENCH-token_abcdefghijklmnopqrstuv"
STAFF_CHAT = -1001234567890
STAFF_USERS = (9001, 9002)
STRIPE_KEY = "sk_test_bench"
STRIPE_WEBHOOK_SECRET = "whsec_bench"
CODE_RE = re.compile(r"\b(\d{6})\b")
PLANS = ("first_price", "business", "business_plus", "premiere", "corporate")


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range.

    A bot restarted after kill -9 binds its HTTP port again (Stripe's webhooks go there); a port
    from the ephemeral range (what `bind(0)` hands out) can meanwhile be taken as the local port
    of any outgoing connection on the machine, and the restart then fails with "Address already
    in use". Ports below the range are never handed out to connections."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(10_000, max(low, 10_001))
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # the range below is full: any free port
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def club_subdomain(i: int) -> str:
    return f"bench{i:05d}"


def club_addresses(i: int) -> tuple[str, str]:
    sub = club_subdomain(i)
    return f"bureau@{sub}.example.fr", f"chef.pilote@{sub}.example.fr"


def clubs_csv(count: int) -> str:
    """`count` generated clubs in the import format (SPEC §2)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CLUB_COLUMNS)
    for i in range(count):
        structure, contact = club_addresses(i)
        month, day = 1 + i % 12, 1 + i % 28
        writer.writerow(
            [
                club_subdomain(i),
                f"Aéroclub de banc d'essai n°{i}",
                structure,
                contact,
                PLANS[i % len(PLANS)],
                1 + i % 12,
                f"2026-{month:02d}-{day:02d}",
                "FR",
                "",
                "fr",
                "",
            ]
        )
    return out.getvalue()


def stored_user_data(i: int, clubs: int) -> dict:
    """A person's user_data as the bot writes it, at one of the steps people stop at, with what
    handlers/common.py remembers of the messages shown (bench.common.user_data: more than one
    renewal flow leaves)."""
    from bench.common import user_data

    return {**user_data(i), **_step_data(i, clubs)}


def _step_data(i: int, clubs: int) -> dict:
    club = 1 + i % max(clubs, 1)
    step = i % 4
    if step == 0:  # identified, waiting for the code
        return {"lang": "fr", "pending_club": club, "pending_kind": "structure"}
    data = {"club_id": club, "talk_acknowledged": 1000 + i} if step == 1 else {"club_id": club}
    if step == 2:  # left in the middle of a renewal
        data["draft_renewal"] = {"club_id": club, "plan": PLANS[i % len(PLANS)], "count": 4}
    if step == 3:
        data["lang"] = "en"
        data["draft_request"] = {"kind": "email_update", "field": "contact_email"}
    return data


async def prepare_database(path: Path, clubs: int, conversations: int = 0) -> dict:
    """Migrated database with `clubs` generated clubs and `conversations` stored conversations of
    people who are not the benchmark's drivers: their step, user_data and chat_data as the bot
    writes them (chat_data: the ids of the chat's last 16 handled updates)."""
    from bench.common import chat_data
    from bot.runtime import load_catalogue
    from bot.settings import Settings

    plans = set(load_catalogue(Settings()).plans)
    db = await open_database(path)
    try:
        t0 = time.perf_counter()
        await import_clubs(db, clubs_csv(clubs), plans)
        imported = time.perf_counter() - t0
        states = ("verify_code", "menu", "renew_count", "menu")
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO ptb_conversations (name, key, state) VALUES ('club', ?, ?)",
                [
                    (json.dumps([50_000_000 + i, 50_000_000 + i]), json.dumps(states[i % 4]))
                    for i in range(conversations)
                ],
            )
            await conn.executemany(
                "INSERT INTO ptb_user_data (user_id, data) VALUES (?, ?)",
                [
                    (50_000_000 + i, json.dumps(stored_user_data(i, clubs)))
                    for i in range(conversations)
                ],
            )
            await conn.executemany(
                "INSERT INTO ptb_chat_data (chat_id, data) VALUES (?, ?)",
                [(50_000_000 + i, json.dumps(chat_data(i))) for i in range(conversations)],
            )
    finally:
        await db.close()
    return {"import_seconds": imported}


@dataclass
class Sandbox:
    """FakeTelegram, SMTP and FakeStripe (every service the bot talks to) in this process, with a
    router of the bot's messages per chat."""

    global_rate: float = 0
    chat_rate: float = 0
    with_stripe: bool = True
    telegram: object = None
    server: object = None
    smtp: object = None
    stripe: object = None
    stripe_server: object = None
    inbox: dict[int, asyncio.Queue] = field(default_factory=dict)
    codes: dict[str, asyncio.Queue] = field(default_factory=dict)
    latest_code: dict[str, str] = field(default_factory=dict)
    _tasks: list = field(default_factory=list)

    async def start(self) -> Sandbox:
        self.telegram, self.server = await start_fake_telegram(
            token=TOKEN, global_rate=self.global_rate, chat_rate=self.chat_rate, chat_burst=1000
        )
        for user_id, name in ((9001, "Alice"), (9002, "Bruno")):
            self.telegram.add_user(user_id, name, language_code="fr")
        self.telegram.add_group(STAFF_CHAT, "OpenFlyers staff", members=list(STAFF_USERS))
        self.smtp = await start_smtp()
        if self.with_stripe:
            self.stripe, self.stripe_server = await start_fake_stripe(
                api_key=STRIPE_KEY, webhook_secret=STRIPE_WEBHOOK_SECRET
            )
        events = self.telegram.subscribe()
        mails = self.smtp.mailbox.subscribe()
        self._tasks = [
            asyncio.create_task(self._route_messages(events)),
            asyncio.create_task(self._route_mails(mails)),
        ]
        return self

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.server.stop()
        if self.stripe_server is not None:
            await self.stripe_server.stop()
        self.smtp.stop()

    async def _route_messages(self, events: asyncio.Queue) -> None:
        """Each bot message to its chat's inbox: a new one, or one the bot edited into its
        answer (a pressed button's message edited in place); an edit that leaves the text as
        it was (a keyboard removed) is no answer."""
        bot_id = self.telegram.bot_user["id"]
        texts: dict[tuple[int, int], str | None] = {}  # what each bot message says
        while True:
            event = await events.get()
            if event is None:
                return
            message = event["message"]
            if event["kind"] not in ("message", "edit") or message["from"]["id"] != bot_id:
                continue
            key = (event["chat_id"], message["message_id"])
            text = message.get("text") or message.get("caption")
            if event["kind"] == "edit" and texts.get(key) == text:
                continue
            texts[key] = text
            self.inbox.setdefault(event["chat_id"], asyncio.Queue()).put_nowait(
                (time.perf_counter(), message)
            )

    async def _route_mails(self, mails: asyncio.Queue) -> None:
        while True:
            record = await mails.get()
            match = CODE_RE.search(record.get("text") or "")
            for to in record["rcpt_tos"]:
                if match:
                    self.latest_code[to.lower()] = match.group(1)
                self.codes.setdefault(to.lower(), asyncio.Queue()).put_nowait(
                    match.group(1) if match else None
                )

    def queue(self, chat_id: int) -> asyncio.Queue:
        return self.inbox.setdefault(chat_id, asyncio.Queue())

    def code_queue(self, address: str) -> asyncio.Queue:
        return self.codes.setdefault(address.lower(), asyncio.Queue())

    def environment(self, db: Path, http_port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OFBOT_")}
        env.update(
            {
                "OFBOT_TELEGRAM_TOKEN": TOKEN,
                "OFBOT_TELEGRAM_API_URL": self.telegram.url,
                "OFBOT_DB": str(db),
                "OFBOT_SMTP_HOST": self.smtp.host,
                "OFBOT_SMTP_PORT": str(self.smtp.port),
                "OFBOT_SMTP_FROM": "OpenFlyers <no-reply@openflyers.example>",
                "OFBOT_STAFF_CHAT_ID": str(STAFF_CHAT),
                "OFBOT_STAFF_USER_IDS": ",".join(map(str, STAFF_USERS)),
                "OFBOT_HTTP_HOST": "127.0.0.1",
                "OFBOT_HTTP_PORT": str(http_port),
                "OFBOT_TELEGRAM_SECRET_TOKEN": "bench-secret-token-of-real-strength-0123456789",
                "OFBOT_STRIPE_SECRET_KEY": STRIPE_KEY,
                "OFBOT_STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
            }
        )
        if self.stripe is not None:
            env["OFBOT_STRIPE_API_URL"] = self.stripe.base_url
        check_environment(env)
        return env

    def stripe_webhooks_to(self, http_port: int) -> None:
        """FakeStripe delivers its events to the bot listening on `http_port`."""
        self.stripe.webhook_url = f"http://127.0.0.1:{http_port}/stripe/webhook"


class Child:
    """A bot (`ofbot run`, or the echo bot) as a child process: start, CPU, peak memory, stop."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.started_at = 0.0
        self.cwd = ROOT
        self.watch: LoopbackWatch | None = None
        # Loopback-only, checked twice: the bot's configured addresses, then its sockets.
        if any(name.startswith("OFBOT_") for name in env):
            check_environment(env)

    @classmethod
    def ofbot(
        cls,
        sandbox: Sandbox,
        db: Path,
        log_path: Path,
        http_port: int | None = None,
    ) -> Child:
        """`ofbot run` as shipped (its rate limiter on); `http_port`: the same port across
        restarts (where Stripe's webhooks go)."""
        port = http_port or free_port()
        return cls(
            [sys.executable, "-m", "bot.cli", "run"], sandbox.environment(db, port), log_path
        )

    @classmethod
    def echo(cls, sandbox: Sandbox, log_path: Path) -> Child:
        env = dict(os.environ, ECHO_TOKEN=TOKEN, ECHO_API_URL=sandbox.telegram.url)
        return cls([sys.executable, "-m", "bench.echo_bot"], env, log_path)

    @classmethod
    def floor(cls, sandbox: Sandbox, db: Path, log_path: Path) -> Child:
        """bench/floor_bot.py: the renewal flow's least work, on echo-tuned's transport."""
        env = dict(
            os.environ,
            FLOOR_TOKEN=TOKEN,
            FLOOR_API_URL=sandbox.telegram.url,
            FLOOR_SMTP=f"{sandbox.smtp.host}:{sandbox.smtp.port}",
            FLOOR_DB=str(db),
        )
        return cls([sys.executable, "-m", "bench.floor_bot"], env, log_path)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def spawn(self) -> None:
        log = self.log_path.open("ab")
        self.started_at = time.perf_counter()
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, env=self.env, stdout=log, stderr=log, cwd=str(self.cwd)
        )
        log.close()
        self.watch = LoopbackWatch(self.process.pid)

    async def check_loopback(self) -> None:
        """Raises LeftLoopback if the child's sockets were ever seen off loopback, or the
        network jail (bench/loopback.py) read a packet sent off loopback."""
        if self.watch is not None:
            await self.watch.stop()
            self.watch.check()
        check_jail()

    async def wait_polling(self, telegram, timeout: float = 30.0) -> None:
        """Until the child's first getUpdates reached the fake."""
        deadline = time.perf_counter() + timeout
        while telegram.calls.get("getupdates", 0) <= self._polls_before:
            if self.process.returncode is not None:
                raise RuntimeError(self.log_path.read_text()[-3000:])
            if time.perf_counter() > deadline:
                raise TimeoutError(self.log_path.read_text()[-3000:])
            await asyncio.sleep(0.005)

    async def start(self, telegram) -> None:
        self._polls_before = telegram.calls.get("getupdates", 0)
        await self.spawn()
        await self.wait_polling(telegram)

    def cpu(self) -> float:
        return proc_cpu_seconds(self.pid)

    def peak_rss_mb(self) -> float:
        return proc_rss_peak_mb(self.pid)

    async def kill(self) -> None:
        if self.process and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        await self.check_loopback()

    async def terminate(self, timeout: float = 20.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            await self.kill()
            return -9
        await self.check_loopback()
        return code


class Person:
    """One person in one private chat driving identify + verify; every turn is timed."""

    def __init__(self, sandbox: Sandbox, user_id: int) -> None:
        self.sandbox = sandbox
        self.user_id = user_id
        self.turns: list[float] = []
        self.keyboard: dict | None = None  # the latest bot message with buttons
        sandbox.telegram.add_user(user_id, f"Pilote {user_id}", language_code="fr")
        self.inbox = sandbox.queue(user_id)

    def move_to(self, user_id: int) -> None:
        """Carry on as another person in a fresh chat (a verified chat skips identify)."""
        self.user_id = user_id
        self.sandbox.telegram.add_user(user_id, f"Pilote {user_id}", language_code="fr")
        self.inbox = self.sandbox.queue(user_id)

    async def _wait(self, predicate, timeout: float) -> tuple[float, dict]:
        async with asyncio.timeout(timeout):
            while True:
                at, message = await self.inbox.get()
                if (message.get("reply_markup") or {}).get("inline_keyboard"):
                    self.keyboard = message
                if predicate(message):
                    return at, message

    async def turn(self, text: str, predicate=lambda m: True, timeout: float = 30.0) -> dict:
        """Send `text`; wait for the bot message that ends the turn; record the latency."""
        sent = time.perf_counter()
        await self.sandbox.telegram.send_text(self.user_id, text)
        try:
            at, message = await self._wait(predicate, timeout)
        except TimeoutError:
            transcript = self.sandbox.telegram.transcript(self.user_id)
            raise TimeoutError(f"no answer to {text!r}:\n{transcript}") from None
        self.turns.append(at - sent)
        return message

    async def press(self, pattern: str, predicate=lambda m: True, timeout: float = 30.0) -> dict:
        """Press the first button matching `pattern` on the latest keyboard; a timed turn too."""
        rows = (self.keyboard or {}).get("reply_markup", {}).get("inline_keyboard", [])
        data = next(
            b["callback_data"]
            for row in rows
            for b in row
            if re.fullmatch(pattern, b.get("callback_data", ""))
        )
        sent = time.perf_counter()
        await self.sandbox.telegram.press(self.user_id, self.keyboard["message_id"], data)
        at, message = await self._wait(predicate, timeout)
        self.turns.append(at - sent)
        return message

    def drain(self) -> None:
        while not self.inbox.empty():
            self.inbox.get_nowait()


def has_button(prefix: str):
    def check(message: dict) -> bool:
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        return any(b.get("callback_data", "").startswith(prefix) for row in rows for b in row)

    return check


def contains(needle: str):
    return lambda message: needle in (message.get("text") or "")


async def verify_flow(person: Person, club: int, timeout: float = 30.0) -> None:
    """/start → subdomain → structure e-mail → the code from the mailbox → the menu."""
    sub = club_subdomain(club)
    structure, _ = club_addresses(club)
    codes = person.sandbox.code_queue(structure)
    await person.turn("/start", timeout=timeout)
    await person.turn(sub, has_button("back"), timeout=timeout)
    await person.turn(structure, has_button("verify:"), timeout=timeout)
    async with asyncio.timeout(timeout):
        code = await codes.get()
    await person.turn(code, has_button("menu:"), timeout=timeout)


def button_like(pattern: str):
    def check(message: dict) -> bool:
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        return any(re.fullmatch(pattern, b.get("callback_data", "")) for row in rows for b in row)

    return check


async def renewal_flow(person: Person, club: int, timeout: float = 30.0) -> None:
    """identify + verify, then renew for the minimum count and choose a bank transfer."""
    await verify_flow(person, club, timeout)
    await person.press("menu:renew", button_like(r"renew:count:\d+"), timeout)
    await person.press(r"renew:count:\d+", button_like("renew:confirm"), timeout)
    await person.press("renew:confirm", button_like(r"pay:\d+:transfer"), timeout)
    await person.press(r"pay:\d+:transfer", button_like(r"pay:\d+:sent:\w+"), timeout)


async def verified_contacts(db_path: Path) -> list[tuple[int, int]]:
    db = await open_database(db_path, migrate=False)
    try:
        rows = await db.fetchall("SELECT club_id, chat_id FROM contacts")
        return [(r["club_id"], r["chat_id"]) for r in rows]
    finally:
        await db.close()


@contextlib.asynccontextmanager
async def sandbox(global_rate: float = 0, chat_rate: float = 0, stripe: bool = True):
    box = await Sandbox(global_rate=global_rate, chat_rate=chat_rate, with_stripe=stripe).start()
    try:
        yield box
    finally:
        await box.stop()


async def healthz(port: int) -> bool:
    async with httpx.AsyncClient() as client:
        try:
            return (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
        except httpx.TransportError:
            return False
