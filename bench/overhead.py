"""Bot overhead over loopback HTTP, against PTB's echo bot on the same sandbox in the same run.

(a) Throughput: N people (1, 10, 100) each run flows back to back, as fast as the bot answers;
    completed flows per second and the child's CPU per update (from /proc, start-up excluded).
    ofbot runs the identify + verify flow (4 updates: /start, subdomain, e-mail, code); the echo
    bot gets the same four messages per flow and answers each. Each person uses a fresh chat and
    ofbot a fresh club per flow (3 codes per club per hour).
(b) Steady offered load: 100 people each sending their next message every 2 s (random phase),
    for `--duration` seconds; p50/p95/p99 turn latency = from the user's sendMessage in the
    sandbox to the bot's reply that ends the turn arriving in the sandbox.

ofbot runs exactly as shipped (`ofbot run`, its rate limiter on). The fake Bot API enforces
Telegram's per-chat and per-group limits (1/s per private chat with a burst of 5, 20/min per
group) but not the 30/s overall one, which Telegram applies to bulk notifications, not to replies.
Every service the bot talks to is a stand-in on loopback (Bot API, SMTP, Stripe), and the bots'
sockets are watched: the run fails if one leaves loopback.

Baselines: "echo-tuned", PTB's echo bot on ofbot's transport and loop (aiohttp + uvloop), is the
primary one; "echo", the stock example (httpx, asyncio), is shown alongside. Round trips: Bot API
requests per user update, polling (getUpdates) counted apart.

Targets (exit status 1 when one is missed): CPU per update ≤ 2× echo-tuned at every level;
≤ 1.5 Bot API requests per update at 10 people (polling aside); steady p95 < 50 ms.

    .venv/bin/python -m bench.overhead [--concurrency 1,10,100] [--flows-per-person 4]
                                       [--rounds 3] [--duration 60] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    load,
    machine,
    median,
    percentile,
    proc_threads_cpu,
    threads_cpu_delta,
    verdict,
    with_jail_target,
)
from bench.harness import Child, Person, prepare_database, renewal_flow, sandbox, verify_flow
from bench.loopback import enter_jail

CLUBS = 10_000
STORED_CONVERSATIONS = 10_000
flow_name = "renewal"
USER_IDS = itertools.count(2_000_000)
CLUB_IDS = itertools.count(0)
# PTB's stock echo bot (the baseline), then the same bot on ofbot's transport and loop.
# "floor" (bench/floor_bot.py) is the renewal flow's least work on echo-tuned's transport: what
# any bot answering it must spend; the rest of ofbot's CPU is its own code.
KINDS = ("ofbot", "floor", "echo-tuned", "echo")
CPU_TARGET = 2.0  # ofbot CPU per update ÷ echo-tuned's
REQUESTS_TARGET = 1.5  # Bot API requests per user update at 10 people, polling aside
P95_TARGET_MS = 50.0


def requests_since(box, before: dict[str, int]) -> tuple[int, int, dict[str, int]]:
    """(requests other than getUpdates, getUpdates, per method) since `before`."""
    calls = {m: n - before.get(m, 0) for m, n in box.telegram.calls.items()}
    calls = {m: n for m, n in calls.items() if n}
    polls = calls.get("getupdates", 0)
    return sum(calls.values()) - polls, polls, calls


async def echo_flow(person: Person, club: int, timeout: float = 120.0) -> None:
    from bench.harness import club_addresses, club_subdomain

    for text in ("/start", club_subdomain(club), club_addresses(club)[0], "123456"):
        await person.turn(text, timeout=timeout)
    if echo_flow.updates == 8:  # as many updates as the renewal flow
        for text in ("renew", "count", "confirm", "transfer"):
            await person.turn(text, timeout=timeout)


echo_flow.updates = 4
FLOWS = {"verify": verify_flow, "renewal": renewal_flow}


async def throughput(box, child: Child, flow, people: int, flows_each: int) -> dict:
    persons = [Person(box, next(USER_IDS)) for _ in range(people)]
    updates0 = box.telegram.update_count
    calls0 = dict(box.telegram.calls)
    threads0 = proc_threads_cpu(child.pid)
    cpu0, t0, own0 = child.cpu(), time.perf_counter(), time.process_time()

    async def run(person: Person) -> None:
        for n in range(flows_each):
            if n:
                person.move_to(next(USER_IDS))
            await flow(person, next(CLUB_IDS))

    await asyncio.gather(*(run(p) for p in persons))
    wall = time.perf_counter() - t0
    await asyncio.sleep(0.2)  # the last persistence writes land after the last reply
    cpu = child.cpu() - cpu0
    updates = box.telegram.update_count - updates0
    threads = threads_cpu_delta(threads0, proc_threads_cpu(child.pid))
    requests, polls, by_method = requests_since(box, calls0)
    return {
        "threads_ms_per_update": {
            name: [round(u / updates * 1e3, 3), round(s / updates * 1e3, 3)]
            for name, (u, s) in threads.items()
            if u + s > 0
        },
        "requests_per_update": requests / updates,
        "polls_per_update": polls / updates,
        "requests_by_method": by_method,
        "sandbox_cpu_share": (time.process_time() - own0) / (wall + 0.2),
        "flows_per_s": people * flows_each / wall,
        "cpu_per_update_ms": cpu / updates * 1e3,
        "updates": updates,
        "turn_p50_ms": percentile([t for p in persons for t in p.turns], 50) * 1e3,
    }


async def steady(box, child: Child, flow, people: int, period: float, duration: float) -> dict:
    """Open loop: each person's next message is due every `period` s; a late reply delays it."""
    persons = [Person(box, next(USER_IDS)) for _ in range(people)]
    rng = random.Random(7)
    cpu0, own0 = child.cpu(), time.process_time()
    updates0 = box.telegram.update_count
    calls0 = dict(box.telegram.calls)
    limited0 = box.telegram.rate_limited
    start = time.perf_counter() + 0.5
    end = start + duration

    by_step: dict[int, list[float]] = {}

    async def paced(person: Person) -> None:
        due = start + rng.random() * period
        step = 0

        def pace(act):
            async def paced_act(*args, **kwargs):
                nonlocal due, step
                now = time.perf_counter()
                if due > now:
                    await asyncio.sleep(due - now)
                due = max(due, now) + period  # a late reply pushes the next message back
                result = await act(*args, **kwargs)
                by_step.setdefault(step, []).append(person.turns[-1])
                step += 1
                return result

            return paced_act

        # Typed messages and button presses alike: one message per person every `period` s.
        person.turn = pace(person.turn)
        person.press = pace(person.press)
        while time.perf_counter() < end:
            step = 0
            await flow(person, next(CLUB_IDS))
            person.move_to(next(USER_IDS))

    await asyncio.gather(*(paced(p) for p in persons))
    cpu = child.cpu() - cpu0
    turns = [t for p in persons for t in p.turns]
    wall = time.perf_counter() - start
    updates = max(1, box.telegram.update_count - updates0)
    requests, polls, _ = requests_since(box, calls0)
    return {
        "requests_per_update": requests / updates,
        "polls_per_update": polls / updates,
        "turns": len(turns),
        "offered_per_s": len(turns) / wall,
        "p50_ms": percentile(turns, 50) * 1e3,
        "p95_ms": percentile(turns, 95) * 1e3,
        "p99_ms": percentile(turns, 99) * 1e3,
        "max_ms": max(turns) * 1e3,
        "p95_by_step_ms": {
            k: round(percentile(v, 95) * 1e3, 1) for k, v in sorted(by_step.items())
        },
        "cpu_share": cpu / wall,
        "sandbox_cpu_share": (time.process_time() - own0) / wall,
        "cpu_per_update_ms": cpu / updates * 1e3,
        "answered_429": box.telegram.rate_limited - limited0,
        "load": load(),
    }


async def first_reconcile(box, timeout: float = 30.0) -> None:
    """Wait for ofbot's first payment reconciliation (RECONCILE_FIRST = 5 s after start), which
    imports `stripe` (~0.3-0.5 s of CPU, once per process: it is not imported at start-up,
    bench/startup.py) and lists recent Checkout Sessions. A one-off import landing inside a
    measured phase would be charged to that phase's few hundred updates; later reconciliations
    (every 10 min) cost a request and a page, and stay in whatever phase they fall into."""
    deadline = time.monotonic() + timeout
    while not any(
        r["method"] == "GET" and r["path"] == "/v1/checkout/sessions" for r in box.stripe.requests
    ):
        if time.monotonic() > deadline:
            raise TimeoutError("ofbot never reconciled its Checkout Sessions")
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # the listed page is handled


async def measure(
    levels: list[int], flows_each: int, rounds: int, duration: float, profile: str | None = None
) -> dict:
    results: dict = {"a": {}, "b": {}}
    with tempfile.TemporaryDirectory(prefix="ofbot-overhead-") as tmp:
        folder = Path(tmp)
        template = folder / "template.sqlite3"
        # 10 000 other people's conversations stored, as the start-up benchmark has them.
        await prepare_database(template, CLUBS, STORED_CONVERSATIONS)
        async with sandbox() as box:
            for round_ in range(rounds):
                for kind in KINDS:
                    if kind == "ofbot":
                        db = folder / f"round{round_}.sqlite3"
                        shutil.copy(template, db)
                        child = Child.ofbot(box, db, folder / "ofbot.log")
                        flow = FLOWS[flow_name]
                    elif kind == "floor":
                        child = Child.floor(
                            box, folder / f"floor{round_}.sqlite3", folder / "floor.log"
                        )
                        flow = FLOWS[flow_name]
                    else:
                        child = Child.echo(box, folder / f"{kind}.log")
                        if kind == "echo-tuned":
                            child.env = dict(child.env, ECHO_TUNED="1")
                        flow = echo_flow
                    await child.start(box.telegram)
                    if profile:
                        # Collapsed stacks of the child while it works (`py-spy record --format raw`).
                        await asyncio.create_subprocess_exec(
                            str(Path(sys.executable).parent / "py-spy"),
                            "record",
                            "--pid",
                            str(child.pid),
                            "--format",
                            "raw",
                            "--rate",
                            "1000",
                            "--output",
                            f"{profile}.{kind}.txt",
                            stdout=asyncio.subprocess.DEVNULL,
                            stderr=asyncio.subprocess.DEVNULL,
                        )
                    await asyncio.sleep(0.3)
                    if kind == "ofbot":
                        await first_reconcile(box)
                    try:
                        for level in levels:
                            # A tenth of the flows warm up (imports, templates, caches).
                            await throughput(box, child, flow, min(level, 10), 1)
                            try:
                                r = await throughput(box, child, flow, level, flows_each)
                            except TimeoutError as error:
                                if kind == "ofbot":
                                    raise
                                # A baseline that cannot keep up is reported, not fatal.
                                print(f"round {round_} {kind} x{level}: gave up ({error})"[:200])
                                continue
                            results["a"].setdefault((kind, level), []).append(r)
                            print(
                                f"round {round_} {kind:5} x{level:<3}: "
                                f"{r['flows_per_s']:7.1f} flows/s, "
                                f"{r['cpu_per_update_ms']:6.2f} ms CPU/update, "
                                f"turn p50 {r['turn_p50_ms']:6.1f} ms ({r['updates']} updates); "
                                f"{r['requests_per_update']:.2f} requests + "
                                f"{r['polls_per_update']:.2f} polls per update; "
                                f"sandbox + people {r['sandbox_cpu_share'] * 100:.0f}% of a core; "
                                f"{load()}; bot threads, ms user/system per update: "
                                + ", ".join(
                                    f"{name} {u:.2f}/{s:.2f}"
                                    for name, (u, s) in r["threads_ms_per_update"].items()
                                ),
                                flush=True,
                            )
                        if duration > 0 and round_ == 0:
                            # Telegram's per-chat limit on (1/s, burst 5) while people pace
                            # themselves: a bot that bursts into one chat meets 429s here.
                            limits = box.telegram.limits
                            limits.chat_rate, limits.chat_burst = 1.0, 5
                            limits.chats.clear()
                            try:
                                r = await steady(box, child, flow, 100, 2.0, duration)
                            finally:
                                limits.chat_rate = 0
                                limits.chats.clear()
                            results["b"][kind] = r
                            print(
                                f"steady {kind:5}: {r['turns']} turns, {r['offered_per_s']:.1f}/s;"
                                f" p50 {r['p50_ms']:.1f} p95 {r['p95_ms']:.1f} "
                                f"p99 {r['p99_ms']:.1f} max {r['max_ms']:.1f} ms; "
                                f"CPU {r['cpu_share'] * 100:.0f}% of a core, "
                                f"{r['cpu_per_update_ms']:.2f} ms/update; "
                                f"sandbox + people {r['sandbox_cpu_share'] * 100:.0f}% of a core; "
                                f"{r['requests_per_update']:.2f} requests + "
                                f"{r['polls_per_update']:.2f} polls per update; "
                                f"p95 by step of the flow {r['p95_by_step_ms']}; "
                                f"429s answered by the sandbox {r['answered_429']}; {r['load']}",
                                flush=True,
                            )
                    finally:
                        await child.terminate()
    return results


def summary(results: dict, levels: list[int]) -> dict:
    """Medians over rounds, per kind and level; the steady runs as they are."""
    out: dict = {"flow": flow_name, "levels": {}, "steady": results["b"]}
    for level in levels:
        row = {}
        for kind in KINDS:
            runs = results["a"].get((kind, level), [])
            if runs:
                row[kind] = {
                    key: median(r[key] for r in runs)
                    for key in (
                        "flows_per_s",
                        "cpu_per_update_ms",
                        "requests_per_update",
                        "polls_per_update",
                    )
                } | {"rounds_cpu_ms": [round(r["cpu_per_update_ms"], 2) for r in runs]}
        out["levels"][level] = row
    return out


def report(summed: dict, levels: list[int]) -> str:
    lines = [
        "| people | ofbot CPU/update | echo-tuned CPU/update | **ratio to echo-tuned** "
        "| floor CPU/update | floor ÷ echo-tuned "
        "| echo (stock) CPU/update | ratio to stock | ofbot requests + polls / update "
        "| echo-tuned requests + polls / update | ofbot flows/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level in levels:
        row = summed["levels"][level]
        o, t, e, f = row["ofbot"], row.get("echo-tuned"), row.get("echo"), row.get("floor")
        nan = {"cpu_per_update_ms": float("nan"), "requests_per_update": float("nan")}
        t, e, f = t or nan, e or nan, f or nan
        t.setdefault("polls_per_update", float("nan"))
        lines.append(
            f"| {level} | {o['cpu_per_update_ms']:.2f} ms | {t['cpu_per_update_ms']:.2f} ms "
            f"| **{o['cpu_per_update_ms'] / t['cpu_per_update_ms']:.2f}×** "
            f"| {f['cpu_per_update_ms']:.2f} ms "
            f"| {f['cpu_per_update_ms'] / t['cpu_per_update_ms']:.2f}× "
            f"| {e['cpu_per_update_ms']:.2f} ms "
            f"| {o['cpu_per_update_ms'] / e['cpu_per_update_ms']:.2f}× "
            f"| {o['requests_per_update']:.2f} + {o['polls_per_update']:.2f} "
            f"| {t['requests_per_update']:.2f} + {t['polls_per_update']:.2f} "
            f"| {o['flows_per_s']:.1f} |"
        )
    if summed["steady"]:
        lines += [
            "",
            "| steady 100 people × 1 message / 2 s | turns | p50 | **p95** | p99 | max "
            "| CPU | CPU/update | requests + polls / update | load |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for kind, r in summed["steady"].items():
            lines.append(
                f"| {kind} | {r['turns']} | {r['p50_ms']:.1f} ms | **{r['p95_ms']:.1f} ms** "
                f"| {r['p99_ms']:.1f} ms | {r['max_ms']:.0f} ms | {r['cpu_share'] * 100:.0f}% "
                f"| {r['cpu_per_update_ms']:.2f} ms "
                f"| {r['requests_per_update']:.2f} + {r['polls_per_update']:.2f} | {r['load']} |"
            )
        ofbot = summed["steady"].get("ofbot")
        if ofbot:
            lines.append("")
            lines.append(f"ofbot p95 by step of the flow (ms): {ofbot['p95_by_step_ms']}")
    return "\n".join(lines)


def targets(summed: dict, levels: list[int]) -> list[tuple[str, bool]]:
    """Every target of issue 19 this benchmark measures; one not measured by this run (a level,
    a baseline or the steady phase left out, a baseline that gave up, another flow than the
    renewal flow the targets are set for) counts as missed, so a partial run never exits 0."""
    flow = summed.get("flow", "renewal")
    if flow != "renewal":
        # `--flow verify` is 4 typed steps (1 request each, no press, no invoice): its figures
        # say nothing of the renewal flow's, and would "meet" the round-trip target for it.
        return [
            (
                f"every target of issue 19 is set for the renewal flow: not measured by a run of "
                f"the {flow} flow",
                False,
            )
        ]
    checks = []
    for level in (1, 10, 100):
        row = summed["levels"].get(level, {})
        if "echo-tuned" in row and "ofbot" in row:
            ratio = row["ofbot"]["cpu_per_update_ms"] / row["echo-tuned"]["cpu_per_update_ms"]
            checks.append(
                (
                    f"CPU per update ≤ {CPU_TARGET}× echo-tuned at {level} people ({ratio:.2f}×)",
                    ratio <= CPU_TARGET,
                )
            )
        else:
            checks.append(
                (
                    f"CPU per update ≤ {CPU_TARGET}× echo-tuned at {level} people: not measured"
                    " by this run (level or baseline left out, or a baseline gave up)",
                    False,
                )
            )
    ofbot_at_10 = summed["levels"].get(10, {}).get("ofbot")
    if ofbot_at_10 is None:
        checks.append(
            (f"≤ {REQUESTS_TARGET} Bot API requests per update at 10 people: not measured", False)
        )
    else:
        rpu = ofbot_at_10["requests_per_update"]
        checks.append(
            (
                f"≤ {REQUESTS_TARGET} Bot API requests per update at 10 people, polling aside "
                f"({rpu:.2f})",
                rpu <= REQUESTS_TARGET,
            )
        )
    ofbot = summed["steady"].get("ofbot")
    if ofbot:
        checks.append(
            (
                f"steady p95 < {P95_TARGET_MS:.0f} ms, limiter on ({ofbot['p95_ms']:.1f} ms)",
                ofbot["p95_ms"] < P95_TARGET_MS,
            )
        )
    else:
        checks.append((f"steady p95 < {P95_TARGET_MS:.0f} ms: not measured (--duration 0)", False))
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,10,100")
    parser.add_argument("--flows-per-person", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--flow", choices=sorted(FLOWS), default="renewal")
    parser.add_argument("--kinds", default="ofbot,floor,echo-tuned,echo", help="which bots to run")
    parser.add_argument("--json", metavar="PATH", help="write the summary there (bench/readme.py)")
    parser.add_argument(
        "--py-spy", metavar="PREFIX", help="profile the bots into PREFIX.<kind>.txt"
    )
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    global flow_name, KINDS
    flow_name = args.flow
    KINDS = tuple(k for k in KINDS if k in args.kinds.split(","))
    echo_flow.updates = 8 if args.flow == "renewal" else 4
    print(enter_jail(), flush=True)
    print(machine(), flush=True)
    results = asyncio.run(
        measure(levels, args.flows_per_person, args.rounds, args.duration, args.py_spy)
    )
    summed = summary(results, levels)
    print()
    print(report(summed, levels))
    status = verdict(targets(summed, levels))
    if args.json:
        summed["machine"] = machine()
        summed["command"] = " ".join(sys.argv)
        summed["targets"] = [[name, met] for name, met in with_jail_target(targets(summed, levels))]
        summed["report"] = report(summed, levels)
        Path(args.json).write_text(json.dumps(summed, indent=1, default=str), encoding="utf-8")
    sys.exit(status)


if __name__ == "__main__":
    main()
