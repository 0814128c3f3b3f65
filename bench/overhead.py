"""Bot overhead over loopback HTTP, against PTB's echo bot on the same sandbox in the same run.

(a) Throughput: N people (1, 10, 100) each run flows back to back, as fast as the bot answers;
    completed flows per second and the child's CPU per update (from /proc, start-up excluded).
    ofbot runs the identify + verify flow (4 updates: /start, subdomain, e-mail, code); the echo
    bot gets the same four messages per flow and answers each. Each person uses a fresh chat and
    ofbot a fresh club per flow (3 codes per club per hour).
(b) Steady offered load: 100 people each sending their next message every 2 s (random phase),
    for `--duration` seconds; p50/p95/p99 turn latency = from the user's sendMessage in the
    sandbox to the bot's reply that ends the turn arriving in the sandbox.

Rate limits of the fake are off (global_rate=0, chat_rate=0): the bot, not the limiter, is measured.

    .venv/bin/python -m bench.overhead [--concurrency 1,10,100] [--flows-per-person 4]
                                       [--rounds 3] [--duration 60]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import machine, median, percentile
from bench.harness import Child, Person, prepare_database, renewal_flow, sandbox, verify_flow

CLUBS = 10_000
flow_name = "renewal"
LIMITER = False
USER_IDS = itertools.count(2_000_000)
CLUB_IDS = itertools.count(0)
# PTB's stock echo bot (the baseline), then the same bot on ofbot's transport and loop.
KINDS = ("ofbot", "echo", "echo-tuned")


async def echo_flow(person: Person, club: int, timeout: float = 30.0) -> None:
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
    return {
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
    return {
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
        "cpu_per_update_ms": cpu / max(1, box.telegram.update_count - updates0) * 1e3,
    }


async def measure(
    levels: list[int], flows_each: int, rounds: int, duration: float, profile: str | None = None
) -> dict:
    results: dict = {"a": {}, "b": {}}
    with tempfile.TemporaryDirectory(prefix="ofbot-overhead-") as tmp:
        folder = Path(tmp)
        template = folder / "template.sqlite3"
        await prepare_database(template, CLUBS)
        async with sandbox() as box:
            for round_ in range(rounds):
                for kind in KINDS:
                    if kind == "ofbot":
                        db = folder / f"round{round_}.sqlite3"
                        shutil.copy(template, db)
                        child = Child.ofbot(box, db, folder / "ofbot.log", limiter=LIMITER)
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
                            "250",
                            "--output",
                            f"{profile}.{kind}.txt",
                            stdout=asyncio.subprocess.DEVNULL,
                            stderr=asyncio.subprocess.DEVNULL,
                        )
                    await asyncio.sleep(0.3)
                    try:
                        for level in levels:
                            # A tenth of the flows warm up (imports, templates, caches).
                            await throughput(box, child, flow, min(level, 10), 1)
                            r = await throughput(box, child, flow, level, flows_each)
                            results["a"].setdefault((kind, level), []).append(r)
                            print(
                                f"round {round_} {kind:5} x{level:<3}: "
                                f"{r['flows_per_s']:7.1f} flows/s, "
                                f"{r['cpu_per_update_ms']:6.2f} ms CPU/update, "
                                f"turn p50 {r['turn_p50_ms']:6.1f} ms ({r['updates']} updates); "
                                f"sandbox + people {r['sandbox_cpu_share'] * 100:.0f}% of a core",
                                flush=True,
                            )
                        if duration > 0 and round_ == 0:
                            r = await steady(box, child, flow, 100, 2.0, duration)
                            results["b"][kind] = r
                            print(
                                f"steady {kind:5}: {r['turns']} turns, {r['offered_per_s']:.1f}/s;"
                                f" p50 {r['p50_ms']:.1f} p95 {r['p95_ms']:.1f} "
                                f"p99 {r['p99_ms']:.1f} max {r['max_ms']:.1f} ms; "
                                f"CPU {r['cpu_share'] * 100:.0f}% of a core, "
                                f"{r['cpu_per_update_ms']:.2f} ms/update; "
                                f"sandbox + people {r['sandbox_cpu_share'] * 100:.0f}% of a core; "
                                f"p95 by step of the flow {r['p95_by_step_ms']}",
                                flush=True,
                            )
                    finally:
                        await child.terminate()
    return results


def report(results: dict, levels: list[int]) -> str:
    lines = [
        "| people | ofbot flows/s | echo flows/s | ofbot CPU/update | echo CPU/update "
        "| ratio | echo-tuned CPU/update | ratio to tuned |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level in levels:
        o, e = results["a"][("ofbot", level)], results["a"][("echo", level)]
        t = results["a"].get(("echo-tuned", level), [])
        oc = median(r["cpu_per_update_ms"] for r in o)
        ec = median(r["cpu_per_update_ms"] for r in e)
        tc = median(r["cpu_per_update_ms"] for r in t) if t else float("nan")
        lines.append(
            f"| {level} | {median(r['flows_per_s'] for r in o):.1f} "
            f"| {median(r['flows_per_s'] for r in e):.1f} | {oc:.2f} ms | {ec:.2f} ms "
            f"| {oc / ec:.2f}× | {tc:.2f} ms | {oc / tc:.2f}× |"
        )
    for kind, r in results["b"].items():
        lines.append("")
        lines.append(
            f"steady 100 people / 2 s, {kind}: {r['turns']} turns; p50 {r['p50_ms']:.1f} ms, "
            f"p95 {r['p95_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms (max {r['max_ms']:.0f} ms); "
            f"CPU {r['cpu_share'] * 100:.0f}% of one core, {r['cpu_per_update_ms']:.2f} ms/update"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,10,100")
    parser.add_argument("--flows-per-person", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--flow", choices=sorted(FLOWS), default="renewal")
    parser.add_argument(
        "--bot-limiter",
        action="store_true",
        help="keep ofbot's AIORateLimiter (30 requests/s overall); the echo bot has none",
    )
    parser.add_argument(
        "--py-spy", metavar="PREFIX", help="profile the bots into PREFIX.<kind>.txt"
    )
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    global flow_name, LIMITER
    flow_name = args.flow
    LIMITER = args.bot_limiter
    echo_flow.updates = 8 if args.flow == "renewal" else 4
    print(machine())
    results = asyncio.run(
        measure(levels, args.flows_per_person, args.rounds, args.duration, args.py_spy)
    )
    print()
    print(report(results, levels))


if __name__ == "__main__":
    main()
