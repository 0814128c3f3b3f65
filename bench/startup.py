"""Start-up to first update handled, and peak memory, with 10 000 clubs and 10 000 stored
conversations: `ofbot run` as a child process against the sandbox.

Start-up: a person's "/start" waits in the fake Bot API before the process is spawned; the figure
is from spawn to the bot's answer arriving in the fake (interpreter, imports, migrations check,
loading the persisted conversations, first getUpdates, handling, sendMessage). Memory: VmHWM of the
process after start-up and a round of identify + verify flows and fuzzy club look-ups over the
10 000 names; also `ru_maxrss` of the reaped children as the issue asks.

    .venv/bin/python -m bench.startup [--clubs 10000] [--conversations 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import machine, median
from bench.harness import Child, Person, contains, prepare_database, sandbox, verify_flow


async def one_start(
    box, template: Path, folder: Path, run: int, flows: int, profile: str | None = None
) -> dict:
    db = folder / f"run{run}.sqlite3"
    shutil.copy(template, db)
    user = 1_000 + run * 100
    person = Person(box, user)
    await box.telegram.send_text(user, "/start")  # waits in the fake until the bot polls
    child = Child.ofbot(box, db, folder / f"run{run}.log")
    await child.spawn()
    if profile:
        # Attached right after spawn (py-spy slows the child: the figures of this run are not
        # the benchmark's); collapsed stacks in PREFIX.run<N>.txt when the child exits.
        spy = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "py-spy"),
            *("record", "--format", "raw", "--rate", "500", "--pid", str(child.pid)),
            *("-o", f"{profile}.run{run}.txt"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    async with asyncio.timeout(60):
        arrived, _ = await person.inbox.get()
    startup = arrived - child.started_at
    cpu_at_first = child.cpu() if not profile else float("nan")
    rss_after_start = child.peak_rss_mb()
    # Work that touches the most memory: flows, and look-ups that scan every club name.
    people = [Person(box, user + 1 + i) for i in range(flows)]
    await asyncio.gather(*(verify_flow(p, 100 * run + i) for i, p in enumerate(people)))
    for i, p in enumerate(people[:5]):
        await p.turn("/cancel")
        await p.turn("/start")
        await p.turn(f"aeroclub de banc d'essai {i}x", contains(""))
    peak = child.peak_rss_mb()
    await child.terminate()
    if profile:
        await spy.wait()
    return {
        "startup": startup,
        "cpu_at_first": cpu_at_first,
        "rss_after_start": rss_after_start,
        "rss_peak": peak,
    }


async def measure(
    clubs: int, conversations: int, runs: int, flows: int, profile: str | None = None
) -> dict:
    with tempfile.TemporaryDirectory(prefix="ofbot-startup-") as tmp:
        folder = Path(tmp)
        template = folder / "template.sqlite3"
        t0 = time.perf_counter()
        prepared = await prepare_database(template, clubs, conversations)
        print(
            f"database: {clubs} clubs imported in {prepared['import_seconds']:.2f} s, "
            f"{conversations} conversations stored; ready in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        results = []
        async with sandbox() as box:
            for run in range(runs):
                result = await one_start(box, template, folder, run, flows, profile)
                results.append(result)
                print(
                    f"run {run}: first update answered {result['startup'] * 1e3:.0f} ms after "
                    f"spawn ({result['cpu_at_first'] * 1e3:.0f} ms CPU); VmHWM after start "
                    f"{result['rss_after_start']:.1f} MB, after flows {result['rss_peak']:.1f} MB",
                    flush=True,
                )
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {key: median(r[key] for r in results) for key in results[0]} | {
        "ru_maxrss_children": children,
        "max_startup": max(r["startup"] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clubs", type=int, default=10_000)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--flows", type=int, default=20)
    parser.add_argument(
        "--py-spy", metavar="PREFIX", help="profile each start into PREFIX.runN.txt"
    )
    args = parser.parse_args()
    print(machine())
    summary = asyncio.run(
        measure(args.clubs, args.conversations, args.runs, args.flows, args.py_spy)
    )
    print()
    print(
        f"| start-up to first update handled ({args.clubs:,} clubs, {args.conversations:,} "
        f"conversations), median of {args.runs} | {summary['startup'] * 1e3:.0f} ms "
        f"(max {summary['max_startup'] * 1e3:.0f} ms; {summary['cpu_at_first'] * 1e3:.0f} ms CPU) |"
    )
    print(
        f"| peak memory (VmHWM) after start-up / after {args.flows} flows + fuzzy look-ups | "
        f"{summary['rss_after_start']:.0f} MB / {summary['rss_peak']:.0f} MB "
        f"(ru_maxrss of the children: {summary['ru_maxrss_children']:.0f} MB) |"
    )


if __name__ == "__main__":
    main()
