"""One chat floods, another chat's reply time (issue 12 case 4).

`ofbot run` as a child process against the sandbox Bot API with Telegram's limits on (30 msg/s
overall, 1/s per chat with a burst of 5: the bot's answers to the flooding chat are held back).
One person sends `--flood` plain `/help` at once (what a normal client can do); then another
person sends `/start`, and the time until the bot's answer reaches the sandbox is measured.
Baseline: the same `/start` with no flood. Median of `--rounds` runs, a fresh bot each.

    .venv/bin/python -m bench.flood [--flood 150] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import load, machine, median
from bench.harness import Child, Sandbox, prepare_database
from bench.loopback import enter_jail

FLOODER = 3_000_001
OTHER = 3_000_002
WAIT = 120.0  # give up on the other chat's answer after this long


async def _sandbox() -> Sandbox:
    """Every stand-in the bot talks to (the Bot API, SMTP and FakeStripe: `ofbot run` lists its
    Checkout Sessions 5 s after start), with Telegram's limits on: 30/s overall, 1/s per chat
    with a burst of 5."""
    box = await Sandbox(global_rate=30, chat_rate=1).start()
    box.telegram.limits.chat_burst = 5
    box.telegram.limits.chats.clear()
    return box


async def one_run(flood: int, tmp: Path) -> dict:
    box = await _sandbox()
    db = tmp / "ofbot.sqlite3"
    await prepare_database(db, clubs=10)
    child = Child.ofbot(box, db, tmp / "ofbot.log")
    telegram = box.telegram
    try:
        await child.start(telegram)
        telegram.add_user(FLOODER, "Flood", language_code="fr")
        telegram.add_user(OTHER, "Other", language_code="fr")
        for _ in range(flood):
            await telegram.send_text(FLOODER, "/help")
        started = time.perf_counter()
        await telegram.send_text(OTHER, "/start")
        try:
            await telegram.wait_for_bot_message(OTHER, timeout=WAIT)
            seconds = time.perf_counter() - started
        except TimeoutError:
            seconds = float("inf")
        answered = len(telegram.bot_messages(FLOODER))
        await child.terminate()
    finally:
        await child.kill()
        await box.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"seconds": seconds, "flooder_answered": answered}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flood", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(enter_jail(), flush=True)
    print(machine())
    for flood in (0, args.flood):
        runs = []
        for _ in range(args.rounds):
            runs.append(await one_run(flood, Path(tempfile.mkdtemp(prefix="ofbot-flood-"))))
        times = [r["seconds"] for r in runs]
        print(
            f"flood={flood:4d}  other chat's /start answered in: median {median(times):.2f} s"
            f"  (runs: {', '.join(f'{t:.2f}' for t in times)});"
            f"  flooding chat answered at that moment: {[r['flooder_answered'] for r in runs]};"
            f" {load()}"
        )
        sys.stdout.flush()
    print(f"at the end: {load()}")


if __name__ == "__main__":
    asyncio.run(main())
