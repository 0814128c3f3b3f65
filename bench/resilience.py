"""Resilience: `ofbot run` killed with kill -9 at random points of identify + verify + renewal
(paid by transfer, by card on FakeStripe's checkout page, or by SEPA Direct Debit confirmed three
days later) and restarted each time; then Bot API faults injected by the sandbox, then Stripe
faults on the bot's Checkout Session calls. Everyone who paid also tries to pay the same link again.

People act like people: each looks at the bot's latest message and does what it asks (types the
address, the code from the mailbox, presses the renewal buttons, follows the checkout link and
pays, comes back to Telegram and waits for the receipt); when no answer comes (the bot died with
their update in flight) they repeat themselves. Afterwards the database must show every flow
completed once: one verified contact and one `contact.verified` audit line per chat, one renewal
invoice per club and period, one payment per card journey and one receipt, no Checkout Session
paid twice or left unknown to the bot, every Stripe event processed, and no money taken unseen
(every payment Stripe holds is a recorded payment or a recorded over-payment for staff to refund).

    .venv/bin/python -m bench.resilience [--kills 100] [--people 10] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import ROOT, load, machine, verdict
from bench.harness import (
    Child,
    Person,
    club_addresses,
    club_subdomain,
    free_port,
    prepare_database,
    sandbox,
)
from bench.loopback import enter_jail
from bench.money import check_payments, is_receipt, pay_on_checkout
from bot.sandbox.stripe.money import DEBIT_DELAY
from storage.db import open_database

CLUBS = 500
NUMBER = re.compile(r"OF-\d{4}-\d{6}")
CARD_UNAVAILABLE = ("Le paiement par carte est indisponible", "Card payment is unavailable")
APOLOGY = ("Désolé, quelque chose s’est mal passé", "Sorry, something")
# Stripe retries a failed delivery for days; the sandbox's default gives up after ~15 s, shorter
# than a run of kills, so the benchmark's FakeStripe keeps trying for about two minutes.
WEBHOOK_RETRIES = (0.5, 1, 2, 4, 8, 15, 30, 60)


def _buttons(message: dict | None) -> list[str]:
    rows = ((message or {}).get("reply_markup") or {}).get("inline_keyboard", [])
    return [b.get("callback_data", "") for row in rows for b in row]


def _first(message: dict | None, pattern: str) -> str | None:
    return next((d for d in _buttons(message) if re.fullmatch(pattern, d)), None)


def _url(message: dict | None) -> str | None:
    rows = ((message or {}).get("reply_markup") or {}).get("inline_keyboard", [])
    return next((b["url"] for row in rows for b in row if b.get("url")), None)


@dataclass
class Journey:
    """One person's way through the flow, with what went wrong on the way."""

    person: Person
    club: int
    method: str = "transfer"  # or "card"
    done: bool = False
    actions: int = 0
    repeats: int = 0
    apologies: int = 0
    restarts: int = 0  # same answer to the same action twice: the person types /start
    asked_again: int = 0  # asked for the platform address after giving it: a step was lost
    code_limit: int = 0  # "three codes already sent this hour" (e-mail typed again and again)
    unavailable: int = 0  # "card payment unavailable" answers
    links: int = 0  # checkout links received
    second_try: str | None = None  # paying the same link again after paying (a second tab)
    number: str | None = None
    paid: str | None = None  # what the checkout page said
    receipts: int = 0
    link_seconds: float | None = None  # first press of "card" → the link
    link_waits: list[float] = field(default_factory=list)  # each link: its press → the link
    log: list[str] = field(default_factory=list)

    def read(self, message: dict) -> None:
        """Count what matters in one bot message."""
        text = message.get("text") or ""
        if text.startswith(APOLOGY):
            self.apologies += 1
        if text.startswith(CARD_UNAVAILABLE):
            self.unavailable += 1
        if is_receipt(message):
            self.receipts += 1


async def _answer(person: Person, patience: float) -> list[dict]:
    """The bot's messages after an action: the first within `patience`, then any close behind."""
    got = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(patience):
            got.append((await person.inbox.get())[1])
        while True:
            async with asyncio.timeout(0.25):
                got.append((await person.inbox.get())[1])
    return got


def _never() -> bool:
    return False


async def journey(
    box,
    person: Person,
    club: int,
    patience: float,
    limit: int = 60,
    method: str = "transfer",
    ask_link_twice: bool = False,
    still_killing: Callable[[], bool] = _never,
    receipt_wait: float = 60.0,
    on_card: Callable[[], None] | None = None,
) -> Journey:
    """Identify, verify, renew for the minimum count, then: transfer, until its details arrive;
    or card, until the receipt arrives after paying on the checkout page. `ask_link_twice`: the
    person asks for the link a second time before paying (the bot then retrieves the session)."""
    j = Journey(person, club, method)
    structure = club_addresses(club)[0]
    telegram = box.telegram
    last: dict | None = None  # the latest bot message
    keyboard: dict | None = None  # the latest bot message with buttons
    action: tuple[str, str] = ("say", "/start")
    previous: tuple | None = None
    card_pressed_at: float | None = None
    pressed_at = 0.0
    while j.actions < limit:
        kind, value = action
        j.actions += 1
        j.log.append(f"{kind} {value}")
        if kind == "say":
            await telegram.send_text(person.user_id, value)
        else:
            pressed_at = time.perf_counter()
            if re.fullmatch(r"pay:\d+:card", value) and card_pressed_at is None:
                card_pressed_at = time.perf_counter()
                if on_card is not None:
                    on_card()  # a fault for the bot's Stripe calls that this press makes
            try:
                await telegram.press(person.user_id, keyboard["message_id"], value)
            except (LookupError, KeyError, TypeError):
                action = ("say", "/menu")  # the keyboard went away: ask for the menu again
                continue
        answer = await _answer(person, patience)
        if not answer:
            j.repeats += 1  # lost with the bot: say it again
            continue
        for message in answer:
            j.read(message)
            last = message
            if _buttons(message) or _url(message):
                keyboard = message
        j.log.append("bot: " + (last.get("text") or "")[:60].replace("\n", " "))
        if j.paid and action[1].startswith("/start paid_"):
            break  # back in Telegram after paying: now the receipt
        if previous == (action, last.get("text")):
            # The same answer to the same thing twice: a person starts again.
            j.restarts += 1
            previous, action = None, ("say", "/start")
            continue
        previous = (action, last.get("text"))
        step = keyboard if keyboard is last else last
        if method == "transfer" and _first(step, r"pay:\d+:sent:\w+"):
            j.done = True
            return j
        link = _url(step) if method in ("card", "debit") else None
        if link:
            j.links += 1
            j.link_waits.append(time.perf_counter() - pressed_at)
            if j.link_seconds is None and card_pressed_at is not None:
                j.link_seconds = time.perf_counter() - card_pressed_at
            found = NUMBER.search(step.get("text") or "")
            j.number = found.group(0) if found else j.number
            if ask_link_twice and j.links == 1:
                action = ("press", _first(step, r"pay:\d+"))  # other method → card again
                continue
            j.paid = await pay_on_checkout(link, debit=method == "debit")
            j.log.append(f"checkout: {j.paid}")
            if j.paid in ("paid", "closed"):
                # A second tab or a double click: the same link must take no more money.
                j.second_try = await pay_on_checkout(link, debit=method == "debit")
                action = ("say", f"/start paid_{j.number}")  # the page's "return to Telegram"
            else:
                action = ("press", _first(step, r"pay:\d+"))
            continue
        if method in ("card", "debit") and "déjà payée" in (last.get("text") or ""):
            j.paid = j.paid or "already paid"
            break
        pay_with = r"pay:\d+:card" if method in ("card", "debit") else r"pay:\d+:transfer"
        data = (
            _first(step, pay_with)
            or _first(step, r"renew:confirm")
            or _first(step, r"renew:count:\d+")
            or _first(step, r"pay:\d+")
            or _first(step, r"menu:renew")
        )
        if data:
            action = ("press", data)
        elif _first(step, r"verify:resend"):
            action = ("say", box.latest_code.get(structure, "000000"))
        elif "codes ont déjà été envoyés" in (last.get("text") or ""):
            # No new code for an hour: a person types the one already in the mailbox.
            j.code_limit += 1
            action = ("say", box.latest_code.get(structure, "000000"))
        elif _first(step, r"back") and club_subdomain(club) in (step.get("text") or ""):
            action = ("say", structure)
        elif action == ("say", "/start") or action == ("say", "/menu"):
            action = ("say", club_subdomain(club))
        elif "adresse de la plateforme" in (last.get("text") or ""):
            # Asked for the platform's address again (the bot lost the step where it had it):
            # a person answers the question rather than repeating themselves.
            j.asked_again += 1
            action = ("say", club_subdomain(club))
        # else: an apology or "not understood" answer: repeat what was asked.
    if method == "card" and j.paid:
        await _wait_for_receipt(j, person, still_killing, receipt_wait)
    elif method == "debit" and j.paid:
        j.done = True  # the bank confirms days later: the receipt comes then (checked after)
    return j


async def _wait_for_receipt(
    j: Journey, person: Person, still_killing: Callable[[], bool], wait: float
) -> None:
    """Paid: the person waits for the receipt (as long as the bot keeps dying, then `wait`)."""
    calm_since: float | None = None
    while j.receipts == 0:
        if still_killing():
            calm_since = None
        elif calm_since is None:
            calm_since = time.perf_counter()
        elif time.perf_counter() - calm_since > wait:
            j.log.append("no receipt")
            return
        for message in await _answer(person, 1.0):
            j.read(message)
            j.log.append("bot: " + (message.get("text") or "")[:60].replace("\n", " "))
    j.done = True


async def keep_killing(child_factory, box, kills: int, rng: random.Random, stats: dict) -> Child:
    """Kill the bot at random moments (0.05–1.2 s after it is back) `kills` times."""
    child = child_factory()
    await child.start(box.telegram)
    for _ in range(kills):
        await asyncio.sleep(rng.uniform(0.05, 1.2))
        await child.kill()
        stats["kills"] += 1
        child = child_factory()
        t0 = time.perf_counter()
        await child.start(box.telegram)
        stats["restart_seconds"].append(time.perf_counter() - t0)
    return child


async def check_database(db_path: Path, journeys: list[Journey]) -> list[str]:
    """What must hold after the runs; returns the problems found."""
    problems = []
    db = await open_database(db_path, migrate=False)
    try:
        for j in journeys:
            chat = j.person.user_id
            contacts = await db.fetchval("SELECT count(*) FROM contacts WHERE chat_id = ?", (chat,))
            audits = await db.fetchval(
                "SELECT count(*) FROM audit WHERE action = 'contact.verified' AND target = ?",
                (f"chat:{chat}",),
            )
            if j.done and (contacts != 1 or audits != 1):
                problems.append(f"chat {chat}: {contacts} contacts, {audits} verified audit lines")
        clubs = {j.club for j in journeys if j.done}
        for club in clubs:
            rows = await db.fetchall(
                "SELECT i.number, i.status, i.renews_end FROM invoices i JOIN clubs c"
                " ON c.id = i.club_id WHERE c.subdomain = ? AND i.kind = 'renewal'",
                (club_subdomain(club),),
            )
            live = [r for r in rows if r["status"] != "cancelled"]
            if len(live) != 1:
                problems.append(f"club {club_subdomain(club)}: {len(live)} live renewal invoices")
        numbers = await db.fetchall("SELECT year, seq FROM invoices ORDER BY year, seq")
        by_year: dict[int, list[int]] = {}
        for row in numbers:
            by_year.setdefault(row["year"], []).append(row["seq"])
        for year, seqs in by_year.items():
            if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
                problems.append(f"invoice numbers of {year} have gaps or repeats: {seqs[:20]}")
    finally:
        await db.close()
    return problems


async def settle(box, db_path: Path, timeout: float = 180.0) -> None:
    """Every webhook delivered (or given up), every stored Stripe event processed."""
    await box.stripe.drain(timeout)
    db = await open_database(db_path, migrate=False)
    try:
        async with asyncio.timeout(timeout):
            while await db.fetchval(
                "SELECT count(*) FROM stripe_events WHERE processed_at IS NULL"
            ):
                await asyncio.sleep(0.1)
    finally:
        await db.close()


async def reconcile_command(box, db_path: Path) -> str:
    """`ofbot payments reconcile` once, as an operator would after the runs; its summary line."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "payments",
        "reconcile",
        env=box.environment(db_path, free_port()),
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    lines = out.decode().strip().splitlines()
    return next((line for line in reversed(lines) if line.startswith("reconcile:")), lines[-1:])


async def kill_run(
    folder: Path, kills: int, people: int, seed: int, patience: float = 3.0, card_every: int = 2
):
    """Journeys keep starting (`people` at a time) while the bot is killed `kills` times; one
    journey in `card_every` pays by card on FakeStripe, the others by transfer."""
    rng = random.Random(seed)
    db_path = folder / "resilience.sqlite3"
    await prepare_database(db_path, CLUBS)
    stats: dict = {"kills": 0, "restart_seconds": []}
    users = itertools.count(3_000_000)
    clubs = iter(rng.sample(range(CLUBS), CLUBS))
    journeys: list[Journey] = []
    async with sandbox(stripe=True) as box:
        box.stripe.retry_delays = WEBHOOK_RETRIES
        port = free_port()
        box.stripe_webhooks_to(port)

        def factory() -> Child:
            return Child.ofbot(box, db_path, folder / "bot.log", http_port=port)

        killer = asyncio.create_task(keep_killing(factory, box, kills, rng, stats))

        async def lane() -> None:
            while not killer.done():
                user = next(users)
                person = Person(box, user)
                method = "transfer"
                if card_every and user % card_every == 1:
                    # Half of them by SEPA Direct Debit: paid days later, after the run.
                    method = "debit" if user % (2 * card_every) == 1 else "card"
                j = await journey(
                    box,
                    person,
                    next(clubs),
                    patience,
                    method=method,
                    still_killing=lambda: not killer.done(),
                )
                journeys.append(j)

        await asyncio.sleep(0.5)
        lanes = [asyncio.create_task(lane()) for _ in range(people)]
        child = await killer
        await asyncio.gather(*lanes)
        await settle(box, db_path)
        # Three days later the debits settle: async_payment_succeeded for each.
        box.stripe.advance_clock(DEBIT_DELAY + 60)
        await settle(box, db_path)
        await child.terminate()
        # As an operator would: settles what Stripe knows and sends what Telegram refused so far
        # (the staff group's flood control after the burst of payments at the end).
        stats["reconcile"] = await reconcile_command(box, db_path)
        stats["card"], card_problems = await check_payments(db_path, journeys, box)
    problems = await check_database(db_path, journeys) + card_problems
    return journeys, stats, problems


async def fault_run(folder: Path, faults: list[tuple[str, str]], patience: float = 20.0):
    """One journey per fault; the fault hits the bot's next call of that method."""
    db_path = folder / "faults.sqlite3"
    await prepare_database(db_path, CLUBS)
    results = []
    async with sandbox() as box:
        child = Child.ofbot(box, db_path, folder / "faults.log")
        await child.start(box.telegram)
        try:
            for n, (method, kind) in enumerate(faults):
                person = Person(box, 4_000_000 + n)
                box.telegram.inject_fault(method, kind, 1)
                j = await journey(box, person, 400 + n, patience)
                texts = [m.get("text") for m in box.telegram.bot_messages(person.user_id)]
                duplicates = sum(1 for a, b in itertools.pairwise(texts) if a == b)
                results.append((method, kind, j, duplicates))
        finally:
            await child.terminate()
    problems = await check_database(db_path, [r[2] for r in results])
    return results, problems


CREATE = "/v1/checkout/sessions"  # also matches retrieve: the journeys create first
RETRIEVE = "/v1/checkout/sessions/cs_"


@dataclass(frozen=True)
class StripeFault:
    """A fault on the bot's next Stripe calls (`FakeStripe.inject_fault`), injected as the
    person presses "card"; `again`: the person asks for the link twice (a retrieve)."""

    label: str
    kind: str
    count: int = 1
    path: str = CREATE
    after: bool | None = None
    again: bool = False
    delay: float = 30.0


STRIPE_FAULTS = [
    StripeFault("create 500 ×1", "500"),
    StripeFault("create 500 ×3 (all the client's tries)", "500", 3),
    StripeFault("create 500 ×1, carried out (answer lost)", "500", after=True),
    StripeFault("create connection reset ×1", "connection_reset"),
    StripeFault("create timeout ×1 (carried out, answer late)", "timeout"),
    StripeFault("retrieve 500 ×3 (link asked twice)", "500", 3, RETRIEVE, again=True),
    StripeFault("retrieve timeout ×1 (link asked twice)", "timeout", 1, RETRIEVE, again=True),
]
SLOW_STRIPE_FAULTS = [
    StripeFault("create timeout ×3 (all the client's tries)", "timeout", 3),
]


async def stripe_fault_run(folder: Path, faults: list[StripeFault], patience: float = 30.0):
    """One card journey per fault; then the same checks as after the kill run."""
    db_path = folder / "stripe-faults.sqlite3"
    await prepare_database(db_path, CLUBS)
    results = []
    async with sandbox(stripe=True) as box:
        port = free_port()
        box.stripe_webhooks_to(port)
        child = Child.ofbot(box, db_path, folder / "stripe-faults.log", http_port=port)
        await child.start(box.telegram)
        # The start-up reconcile (5 s in) lists sessions under the same path as "create": let it
        # pass first, so each fault hits the calls of the journey it was injected for.
        async with asyncio.timeout(30):
            while not any(r["method"] == "GET" for r in box.stripe.requests):
                await asyncio.sleep(0.1)
        try:
            for n, fault in enumerate(faults):
                person = Person(box, 5_000_000 + n)

                def inject(fault=fault) -> None:
                    box.stripe.inject_fault(
                        fault.kind, fault.count, fault.path, delay=fault.delay, after=fault.after
                    )

                j = await journey(
                    box,
                    person,
                    450 + n,
                    patience,
                    method="card",
                    ask_link_twice=fault.again,
                    on_card=inject,
                )
                box.stripe._faults.clear()
                texts = [m.get("text") for m in box.telegram.bot_messages(person.user_id)]
                duplicates = sum(1 for a, b in itertools.pairwise(texts) if a == b)
                results.append((fault, j, duplicates))
            await settle(box, db_path)
        finally:
            await child.terminate()
        figures, card_problems = await check_payments(db_path, [r[1] for r in results], box)
    problems = await check_database(db_path, [r[1] for r in results]) + card_problems
    return results, figures, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-timeout-fault", action="store_true")
    parser.add_argument("--only", choices=("kills", "faults", "stripe"), default=None)
    parser.add_argument("--keep", type=Path, help="keep the databases and bot logs in this folder")
    args = parser.parse_args()
    print(enter_jail(), flush=True)
    print(machine())

    async def run() -> list:
        found: list = []
        with tempfile.TemporaryDirectory(prefix="ofbot-resilience-") as tmp:
            folder = Path(tmp)
            if args.keep:
                folder = args.keep
                folder.mkdir(parents=True, exist_ok=True)
            if args.only in (None, "kills"):
                found += await report_kills(folder, args)
            if args.only in (None, "faults"):
                found += await report_faults(folder, args)
            if args.only in (None, "stripe"):
                found += await report_stripe_faults(folder, args)
        return found

    found = asyncio.run(run())
    sys.exit(verdict([(f"no problem found ({len(found)})", not found)]))


async def report_kills(folder: Path, args) -> list:
    t0 = time.perf_counter()
    journeys, stats, problems = await kill_run(folder, args.kills, args.people, args.seed)
    done = sum(j.done for j in journeys)
    restarts = sorted(stats["restart_seconds"])
    print(
        f"kill -9: {stats['kills']} kills in {time.perf_counter() - t0:.0f} s; "
        f"{done}/{len(journeys)} journeys completed; "
        f"{sum(j.repeats for j in journeys)} repeated messages; "
        f"{sum(j.apologies for j in journeys)} apologies; "
        f"{sum(j.restarts for j in journeys)} stuck (/start again); "
        f"{sum(j.asked_again for j in journeys)} asked for the address again; "
        f"{sum(j.code_limit for j in journeys)} told 3 codes were sent this hour; "
        "restart to polling median "
        f"{restarts[len(restarts) // 2] * 1e3:.0f} ms, max {restarts[-1] * 1e3:.0f} ms; "
        f"{load()}"
    )
    print(f"  card: {stats['card']}")
    print(f"  then `ofbot payments reconcile`: {stats['reconcile']}")
    for j in journeys:
        if not j.done or j.restarts or j.asked_again or j.code_limit:
            state = (
                "incomplete"
                if not j.done
                else "typed /start"
                if j.restarts
                else "asked again"
                if j.asked_again
                else "code limit"
            )
            steps = j.log if j.done else j.log[-12:]
            print(f"  {state}: chat {j.person.user_id} ({j.method}): {' | '.join(steps)}")
    print("  problems:", problems or "none")
    return list(problems) + [
        f"journey not completed: chat {j.person.user_id}" for j in journeys if not j.done
    ]


async def report_faults(folder: Path, args) -> list:
    faults = [
        ("sendMessage", "500"),
        ("sendMessage", "429"),
        ("answerCallbackQuery", "500"),
        ("getUpdates", "500"),
    ]
    if not args.no_timeout_fault:
        faults.append(("sendMessage", "timeout"))
    results, fault_problems = await fault_run(folder, faults)
    for method, kind, j, duplicates in results:
        print(
            f"fault {method} {kind}: completed={j.done}, repeats={j.repeats}, "
            f"apologies={j.apologies}, duplicated replies={duplicates}"
        )
    print(f"  {load()}")
    print("  problems:", fault_problems or "none")
    return list(fault_problems)


async def report_stripe_faults(folder: Path, args) -> list:
    faults = STRIPE_FAULTS + ([] if args.no_timeout_fault else SLOW_STRIPE_FAULTS)
    results, figures, problems = await stripe_fault_run(folder, faults)
    for fault, j, duplicates in results:
        link = f"{j.link_seconds:.1f} s" if j.link_seconds is not None else "-"
        if len(j.link_waits) > 1:
            link += f" (asked again: {j.link_waits[-1]:.1f} s)"
        print(
            f"stripe fault {fault.label}: completed={j.done}, link after {link}, "
            f"'card unavailable' shown {j.unavailable}x, apologies={j.apologies}, "
            f"presses repeated={j.repeats}, /start typed={j.restarts}, receipts={j.receipts}, "
            f"duplicated replies={duplicates}"
        )
    print(f"  card: {figures}; {load()}")
    print("  problems:", problems or "none")
    return list(problems)


if __name__ == "__main__":
    main()
