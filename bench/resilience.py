"""Resilience: `ofbot run` killed with kill -9 at random points of identify + verify + renewal
(paid by transfer) and restarted each time; then Bot API faults injected by the sandbox.

People act like people: each looks at the bot's latest message and does what it asks (types the
address, the code from the mailbox, presses the renewal buttons); when no answer comes (the bot
died with their update in flight) they repeat themselves. Afterwards the database must show every
flow completed once: one verified contact and one `contact.verified` audit line per chat, one
renewal invoice per club and period, no error apology except where a fault was injected.

    .venv/bin/python -m bench.resilience [--kills 100] [--people 10] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import machine
from bench.harness import Child, Person, club_addresses, club_subdomain, prepare_database, sandbox
from storage.db import open_database

CLUBS = 500


def _buttons(message: dict | None) -> list[str]:
    rows = ((message or {}).get("reply_markup") or {}).get("inline_keyboard", [])
    return [b.get("callback_data", "") for row in rows for b in row]


def _first(message: dict | None, pattern: str) -> str | None:
    return next((d for d in _buttons(message) if re.fullmatch(pattern, d)), None)


@dataclass
class Journey:
    """One person's way through the flow, with what went wrong on the way."""

    person: Person
    club: int
    done: bool = False
    actions: int = 0
    repeats: int = 0
    apologies: int = 0
    restarts: int = 0  # same answer to the same action twice: the person types /start
    log: list[str] = field(default_factory=list)


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


async def journey(box, person: Person, club: int, patience: float, limit: int = 60) -> Journey:
    """Identify, verify, renew for the minimum count, choose transfer: until its details arrive."""
    j = Journey(person, club)
    structure = club_addresses(club)[0]
    telegram = box.telegram
    last: dict | None = None  # the latest bot message
    keyboard: dict | None = None  # the latest bot message with buttons
    action: tuple[str, str] = ("say", "/start")
    previous: tuple | None = None
    while j.actions < limit:
        kind, value = action
        j.actions += 1
        j.log.append(f"{kind} {value}")
        if kind == "say":
            await telegram.send_text(person.user_id, value)
        else:
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
            text = message.get("text") or ""
            if text.startswith(("Désolé, quelque chose s’est mal passé", "Sorry, something")):
                j.apologies += 1
            last = message
            if _buttons(message):
                keyboard = message
        j.log.append("bot: " + (last.get("text") or "")[:60].replace("\n", " "))
        if previous == (action, last.get("text")):
            # The same answer to the same thing twice: a person starts again.
            j.restarts += 1
            previous, action = None, ("say", "/start")
            continue
        previous = (action, last.get("text"))
        step = keyboard if keyboard is last else last
        if _first(step, r"pay:\d+:sent:\w+"):
            j.done = True
            return j
        data = (
            _first(step, r"pay:\d+:transfer")
            or _first(step, r"renew:confirm")
            or _first(step, r"renew:count:\d+")
            or _first(step, r"pay:\d+")
            or _first(step, r"menu:renew")
        )
        if data:
            action = ("press", data)
        elif _first(step, r"verify:resend"):
            action = ("say", box.latest_code.get(structure, "000000"))
        elif _first(step, r"back") and club_subdomain(club) in (step.get("text") or ""):
            action = ("say", structure)
        elif action == ("say", "/start") or action == ("say", "/menu"):
            action = ("say", club_subdomain(club))
        # else: an apology or "not understood" answer: repeat what was asked.
    return j


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


async def kill_run(folder: Path, kills: int, people: int, seed: int, patience: float = 3.0):
    """Journeys keep starting (`people` at a time) while the bot is killed `kills` times."""
    rng = random.Random(seed)
    db_path = folder / "resilience.sqlite3"
    await prepare_database(db_path, CLUBS)
    stats = {"kills": 0, "restart_seconds": []}
    users = itertools.count(3_000_000)
    clubs = iter(rng.sample(range(CLUBS), CLUBS))
    journeys: list[Journey] = []
    async with sandbox() as box:

        def factory() -> Child:
            return Child.ofbot(box, db_path, folder / "bot.log")

        killer = asyncio.create_task(keep_killing(factory, box, kills, rng, stats))

        async def lane() -> None:
            while not killer.done():
                person = Person(box, next(users))
                journeys.append(await journey(box, person, next(clubs), patience))

        await asyncio.sleep(0.5)
        lanes = [asyncio.create_task(lane()) for _ in range(people)]
        child = await killer
        await asyncio.gather(*lanes)
        await child.terminate()
    problems = await check_database(db_path, journeys)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-timeout-fault", action="store_true")
    args = parser.parse_args()
    print(machine())

    async def run() -> None:
        with tempfile.TemporaryDirectory(prefix="ofbot-resilience-") as tmp:
            folder = Path(tmp)
            t0 = time.perf_counter()
            journeys, stats, problems = await kill_run(folder, args.kills, args.people, args.seed)
            done = sum(j.done for j in journeys)
            restarts = sorted(stats["restart_seconds"])
            print(
                f"kill -9: {stats['kills']} kills in {time.perf_counter() - t0:.0f} s; "
                f"{done}/{len(journeys)} journeys completed; "
                f"{sum(j.repeats for j in journeys)} repeated messages; "
                f"{sum(j.apologies for j in journeys)} apologies; "
                f"{sum(j.restarts for j in journeys)} stuck (/start again); restart to polling median "
                f"{restarts[len(restarts) // 2] * 1e3:.0f} ms"
            )
            for j in journeys:
                if not j.done:
                    print(f"  incomplete: chat {j.person.user_id}: {' | '.join(j.log[-8:])}")
            print("  problems:", problems or "none")
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
            print("  problems:", fault_problems or "none")

    asyncio.run(run())


if __name__ == "__main__":
    main()
