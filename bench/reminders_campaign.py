"""Benchmark (run by hand, not a test): one reminders campaign to N clubs with one contact each,
sent by `ofbot reminders run` (a subprocess) through the sandbox Bot API over loopback.

Reports the achieved rate against the sandbox's limit, 429s answered and left unretried,
duplicates, the time to select the due clubs, and peak memory of the sending process.

    .venv/bin/python bench/reminders_campaign.py [--clubs 10000] [--limit 30]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "123456:BENCH-token_abcdefghijklmnopqrstuvw"
STAFF_CHAT = -1001000000009
STAFF_USER = 9001
FIRST_CHAT = 10_000_000
TODAY = dt.date(2027, 3, 1)
END = TODAY + dt.timedelta(days=7)  # every club on its 7-day milestone


async def seed(db_path: Path, telegram, clubs: int) -> None:
    from bot.clubs import import_clubs, read_clubs_file
    from bot.runtime import load_catalogue
    from bot.settings import Settings
    from storage import clubs as club_rows
    from storage import contacts
    from storage.db import open_database

    db = await open_database(db_path)
    try:
        # The shipped sample clubs too (not due that day), so selection filters a mixed table.
        sample = ROOT / "bot" / "data" / "clubs.csv"
        plans = set(load_catalogue(Settings()).plans)
        await import_clubs(db, read_clubs_file(sample), plans)
        names = [f"bench{i:05d}" for i in range(clubs)]
        async with db.transaction() as conn:
            await club_rows.upsert_many(
                conn,
                [
                    {
                        "subdomain": name,
                        "name": f"Aéroclub {name}",
                        "structure_email": f"bureau@{name}.example.fr",
                        "contact_email": f"chef@{name}.example.fr",
                        "plan": ("business", "first_price", "premiere")[i % 3],
                        "active_resources": 1 + i % 9,
                        "subscription_ends": END.isoformat(),
                        "country": "FR",
                        "vat_number": None,
                        "language": "fr",
                    }
                    for i, name in enumerate(names)
                ],
            )
            ids = await club_rows.ids_by_subdomain(conn, names)
            for i, name in enumerate(names):
                chat_id = FIRST_CHAT + i
                lang = "en" if i % 4 == 0 else "fr"
                telegram.add_user(chat_id, f"Contact {i}", language_code=lang)
                await contacts.upsert(
                    conn,
                    club_id=ids[name],
                    chat_id=chat_id,
                    user_id=chat_id,
                    display_name=f"Contact {i}",
                    language=lang,
                    email_kind="structure",
                    verified_at="2027-01-01T00:00:00Z",
                )
    finally:
        await db.close()


async def time_selection(db_path: Path, repeats: int = 5) -> tuple[float, int]:
    """Median seconds of select_due over the seeded table, and how many it selects."""
    from bot.clock import Clock
    from bot.mail import Mailer
    from bot.reminders import select_due
    from bot.runtime import load_catalogue
    from bot.services import Services
    from bot.settings import Settings
    from bot.texts import Texts
    from storage.db import open_database

    settings = Settings(db=db_path)
    db = await open_database(db_path)
    services = Services(settings, db, Texts(), Clock(settings.tz), Mailer(settings))
    services.catalogue = load_catalogue(settings)
    timings, due = [], 0
    try:
        for _ in range(repeats):
            started = time.perf_counter()
            selection = await select_due(services, TODAY)
            timings.append(time.perf_counter() - started)
            due = len(selection.deliveries)
    finally:
        await db.close()
    return statistics.median(timings), due


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clubs", type=int, default=10_000)
    parser.add_argument("--limit", type=float, default=30.0, help="sandbox messages/s overall")
    args = parser.parse_args()

    from bench.common import machine, verdict
    from bench.loopback import LoopbackWatch, check_environment, check_jail
    from bot.sandbox.telegram import start_fake_telegram
    from storage import reminders as reminder_rows
    from storage.db import open_database

    telegram, server = await start_fake_telegram(token=TOKEN, global_rate=args.limit)
    telegram.add_user(STAFF_USER, "Staff")
    telegram.add_group(STAFF_CHAT, "OpenFlyers staff", members=[STAFF_USER])
    workdir = Path(tempfile.mkdtemp(prefix="ofbot-bench-"))
    db_path = workdir / "ofbot.sqlite3"
    print(f"seeding {args.clubs} clubs in {db_path} …", flush=True)
    await seed(db_path, telegram, args.clubs)
    select_seconds, selected = await time_selection(db_path)
    print(f"selection: {selected} due in {select_seconds * 1000:.1f} ms (median of 5)", flush=True)

    arrivals: list[float] = []
    events = telegram.subscribe()
    loop = asyncio.get_running_loop()

    async def watch() -> None:
        while (event := await events.get()) is not None:
            if event["kind"] == "message" and event["chat_id"] >= FIRST_CHAT:
                arrivals.append(loop.time())

    watcher = asyncio.create_task(watch())
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFBOT_")}
    env.update(
        OFBOT_TELEGRAM_TOKEN=TOKEN,
        OFBOT_TELEGRAM_API_URL=server.url,
        OFBOT_DB=str(db_path),
        OFBOT_STAFF_CHAT_ID=str(STAFF_CHAT),
        # No Stripe key and no mail in this command; still, nothing may default off loopback.
        OFBOT_STRIPE_API_URL="http://127.0.0.1:9",
        OFBOT_SMTP_HOST="127.0.0.1",
    )
    check_environment(env)
    command = [sys.executable, "-m", "bot.cli", "reminders", "run", "--today", TODAY.isoformat()]
    log_path = workdir / "cli.log"
    print("sending: " + " ".join(command[1:]), flush=True)
    started = loop.time()
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command, env=env, cwd=str(ROOT), stdout=log, stderr=log
        )
        watch = LoopbackWatch(process.pid)
        while process.returncode is None:
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                elapsed = loop.time() - started
                print(f"  {len(arrivals)} delivered after {elapsed:.0f} s", flush=True)
    wall = loop.time() - started
    await watch.stop()
    watch.check()  # raises LeftLoopback if the sender ever had a socket off loopback
    check_jail()  # or sent any packet off loopback (the network jail)
    await asyncio.sleep(0.2)
    watcher.cancel()
    child = resource.getrusage(resource.RUSAGE_CHILDREN)

    db = await open_database(db_path)
    try:
        rows = await reminder_rows.rows(db)
    finally:
        await db.close()
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
    unretried_429 = sum(1 for r in rows if r.status == "failed" and "429" in (r.error or ""))
    per_chat = [len(telegram.bot_messages(FIRST_CHAT + i)) for i in range(args.clubs)]
    duplicates = sum(n - 1 for n in per_chat if n > 1)
    missing = sum(1 for n in per_chat if n == 0)

    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else float("nan")
    sustained = (len(arrivals) - 1) / span if span else float("nan")
    # 10 s windows between the first and the last delivery (partial windows left out).
    windows = []
    t = arrivals[0] if arrivals else 0
    index = 0
    while arrivals and t + 10 <= arrivals[-1]:
        count = 0
        while index < len(arrivals) and arrivals[index] < t + 10:
            count += 1
            index += 1
        windows.append(count / 10)
        t += 10

    print()
    print(f"machine: {machine()}")
    print(f"exit code {process.returncode}; log {log_path}")
    print(f"clubs: {args.clubs}; sandbox limit {args.limit:g}/s overall, 1/s per chat")
    print(f"delivered: {len(arrivals)} in {span:.1f} s (process wall time {wall:.1f} s)")
    print(
        f"achieved rate: {sustained:.2f}/s sustained = {sustained / args.limit:.1%} of the limit;"
        f" 10 s windows min {min(windows, default=float('nan')):.1f}/s,"
        f" median {statistics.median(windows) if windows else float('nan'):.1f}/s,"
        f" max {max(windows, default=float('nan')):.1f}/s"
    )
    print(f"429s answered by the sandbox: {telegram.rate_limited}; left unretried: {unretried_429}")
    print(f"rows by status: {statuses}")
    print(f"duplicates: {duplicates}; chats without their reminder: {missing}")
    print(f"time to select the due clubs: {select_seconds * 1000:.1f} ms for {selected} due")
    print(f"peak memory (ru_maxrss) of the sending process: {child.ru_maxrss / 1024:.1f} MiB")
    await telegram.close()
    await server.stop()
    return verdict(
        [
            (
                f"achieved rate ≥ 95 % of the limit ({sustained / args.limit:.1%})",
                sustained >= 0.95 * args.limit,
            ),
            (
                f"no duplicate ({duplicates}), none missing ({missing}), no 429 left unretried "
                f"({unretried_429})",
                not (duplicates or missing or unretried_429),
            ),
        ]
    )


if __name__ == "__main__":
    from bench.loopback import enter_jail

    print(enter_jail(), flush=True)
    sys.exit(asyncio.run(main()))
