"""Per-update persistence cost: the bot's SQLitePersistence against PTB's PicklePersistence
(single file, on_flush=False: the durable setting, the whole pickle rewritten on every change).

A real Application (no network: `updater(None)`, the bot user set in advance) with one persistent
ConversationHandler processes real `Update` objects; each update moves one conversation to its next
state and changes that user's user_data and that chat's chat_data, then `update_persistence()` runs
as `OfbotApplication` runs it after every update. Measured: CPU (all threads of this process: the
SQLite work runs on the event loop's thread, storage/db.py) and wall time of `update_persistence()` alone and of the whole update,
with 100, 1 000 and 10 000 stored conversations; and the start-up load (`Application.initialize`:
get_conversations, get_user_data, get_chat_data) at the largest size.

    .venv/bin/python -m bench.persistence [--sizes 100,1000,10000] [--runs 5] [--updates 200]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from telegram import Chat, Message, Update, User
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ConversationHandler,
    MessageHandler,
    PersistenceInput,
    PicklePersistence,
    filters,
)

from bench.common import chat_data, machine, median, user_data, verdict
from bot.updates import HANDLED, HANDLED_KEPT
from storage.db import open_database
from storage.persistence import SQLitePersistence

TOKEN = "123456:BENCH-token_abcdefghijklmnopqrstuv"
STATES = ("identify", "verify_email", "verify_code", "menu", "renew_count", "renew_confirm")
# What the bot stores (no bot_data, no callback data), so Pickle does no extra dump per update.
STORE = PersistenceInput(bot_data=False, callback_data=False)
BOT_USER = User(123456, "bench", is_bot=True, username="bench_bot")


async def on_text(update: Update, context) -> str:
    """What a step handler does to the stored data: touch user_data and chat_data, move on."""
    n = update.effective_message.message_id
    context.user_data["last_menu_message"] = n
    context.user_data["draft_renewal"]["resources"] = n % 50
    # As bot.updates.OfbotApplication does: the chat's last handled update ids.
    handled = context.chat_data.setdefault(HANDLED, [])
    handled.append(update.update_id)
    del handled[:-HANDLED_KEPT]
    return STATES[n % len(STATES)]


def build_app(persistence) -> Application:
    app = ApplicationBuilder().token(TOKEN).updater(None).persistence(persistence).build()
    # No Bot API here: the bot user is known, so initialize() does not call getMe.
    app.bot._bot_user = BOT_USER
    app.bot._bot_initialized = True
    app.bot._requests_initialized = True
    app.add_handler(
        ConversationHandler(
            entry_points=[MessageHandler(filters.TEXT, on_text)],
            states={state: [MessageHandler(filters.TEXT, on_text)] for state in STATES},
            fallbacks=[],
            name="club",
            persistent=True,
        )
    )
    return app


def make_update(update_id: int, user_id: int) -> Update:
    user = User(user_id, f"Membre {user_id}", is_bot=False, language_code="fr")
    chat = Chat(user_id, Chat.PRIVATE, first_name=user.first_name)
    message = Message(
        update_id, dt.datetime.now(dt.UTC), chat=chat, from_user=user, text=f"message {update_id}"
    )
    return Update(update_id, message=message)


def user_id_of(i: int) -> int:
    return 10_000_000 + i


async def seed_sqlite(path: Path, size: int) -> None:
    db = await open_database(path)
    try:
        dump = json.dumps
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO ptb_conversations (name, key, state) VALUES ('club', ?, ?)",
                [
                    (dump([user_id_of(i), user_id_of(i)]), dump(STATES[i % len(STATES)]))
                    for i in range(size)
                ],
            )
            await conn.executemany(
                "INSERT INTO ptb_user_data (user_id, data) VALUES (?, ?)",
                [(user_id_of(i), dump(user_data(i))) for i in range(size)],
            )
            await conn.executemany(
                "INSERT INTO ptb_chat_data (chat_id, data) VALUES (?, ?)",
                [(user_id_of(i), dump(chat_data(i))) for i in range(size)],
            )
    finally:
        await db.close()


async def seed_pickle(path: Path, size: int) -> None:
    """Through PicklePersistence itself (buffered, one flush), so the file is its own format."""
    seeding = PicklePersistence(path, store_data=STORE, single_file=True, on_flush=True)
    seeding.set_bot(build_app(PicklePersistence(path.with_suffix(".unused"))).bot)
    for i in range(size):
        uid = user_id_of(i)
        await seeding.update_conversation("club", (uid, uid), STATES[i % len(STATES)])
        await seeding.update_user_data(uid, user_data(i))
        await seeding.update_chat_data(uid, chat_data(i))
    await seeding.flush()


class Backend:
    """One persistence kind at one size: seeded files, and a fresh Application per run."""

    def __init__(self, kind: str, size: int, folder: Path) -> None:
        self.kind = kind
        self.size = size
        self.path = folder / f"{kind}-{size}.{'sqlite3' if kind == 'sqlite' else 'pickle'}"
        self.db = None

    async def seed(self) -> None:
        if self.kind == "sqlite":
            await seed_sqlite(self.path, self.size)
        else:
            await seed_pickle(self.path, self.size)

    async def open(self) -> Application:
        if self.kind == "sqlite":
            self.db = await open_database(self.path)
            persistence = SQLitePersistence(self.db)
        else:
            persistence = PicklePersistence(
                self.path, store_data=STORE, single_file=True, on_flush=False
            )
        return build_app(persistence)

    async def close(self, app: Application) -> None:
        # Not app.shutdown(): that flushes, a cost the per-update figures must not include.
        if self.db is not None:
            await self.db.close()
            self.db = None

    def file_size(self) -> int:
        total = self.path.stat().st_size
        for suffix in ("-wal",):
            extra = Path(f"{self.path}{suffix}")
            if extra.exists():
                total += extra.stat().st_size
        return total


async def one_run(backend: Backend, updates: int, seed: int) -> dict:
    app = await backend.open()
    try:
        return await _timed_run(backend, app, updates, seed)
    finally:
        await backend.close(app)


async def _timed_run(backend: Backend, app: Application, updates: int, seed: int) -> dict:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await app.initialize()
    load_cpu, load_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    assert len(app.user_data) == backend.size, len(app.user_data)
    rng = random.Random(seed)
    persist_cpu = persist_wall = total_cpu = total_wall = 0.0
    for n in range(1, updates + 1):
        update = make_update(n, user_id_of(rng.randrange(backend.size)))
        c0, w0 = time.process_time(), time.perf_counter()
        await Application.process_update(app, update)
        c1, w1 = time.process_time(), time.perf_counter()
        await app.update_persistence()
        c2, w2 = time.process_time(), time.perf_counter()
        persist_cpu += c2 - c1
        persist_wall += w2 - w1
        total_cpu += c2 - c0
        total_wall += w2 - w0
    return {
        "load_cpu": load_cpu,
        "load_wall": load_wall,
        "persist_cpu": persist_cpu / updates,
        "persist_wall": persist_wall / updates,
        "total_cpu": total_cpu / updates,
        "total_wall": total_wall / updates,
    }


async def measure(sizes: list[int], runs: int, updates: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="ofbot-bench-") as tmp:
        folder = Path(tmp)
        for size in sizes:
            for kind in ("sqlite", "pickle"):
                backend = Backend(kind, size, folder)
                await backend.seed()
                # The pickle at 10 000 costs ~1 s an update: fewer updates, same number of runs.
                count = updates if kind == "sqlite" or size <= 1000 else max(20, updates // 10)
                results = [await one_run(backend, count, seed) for seed in range(runs)]
                row = {
                    "kind": kind,
                    "size": size,
                    "updates": count,
                    "runs": runs,
                    "bytes": backend.file_size(),
                }
                for key in results[0]:
                    row[key] = median(r[key] for r in results)
                rows.append(row)
                print(
                    f"{kind:6} {size:>6} conv: persist {row['persist_cpu'] * 1e3:8.3f} ms CPU "
                    f"{row['persist_wall'] * 1e3:8.3f} ms wall; whole update "
                    f"{row['total_cpu'] * 1e3:8.3f} ms CPU; load {row['load_cpu'] * 1e3:8.1f} ms "
                    f"CPU {row['load_wall'] * 1e3:8.1f} ms wall; file {row['bytes'] / 1e6:.2f} MB",
                    flush=True,
                )
    return rows


def report(rows: list[dict]) -> str:
    by = {(r["kind"], r["size"]): r for r in rows}
    sizes = sorted({r["size"] for r in rows})
    lines = [
        "| stored conversations | SQLite: CPU / update | SQLite: wall / update "
        "| Pickle: CPU / update | Pickle: wall / update | Pickle ÷ SQLite (CPU) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        s, p = by[("sqlite", size)], by[("pickle", size)]
        lines.append(
            f"| {size:,} | {s['persist_cpu'] * 1e3:.3f} ms | {s['persist_wall'] * 1e3:.3f} ms "
            f"| {p['persist_cpu'] * 1e3:.3f} ms | {p['persist_wall'] * 1e3:.3f} ms "
            f"| {p['persist_cpu'] / s['persist_cpu']:.0f}× |"
        )
    small, large = by[("sqlite", sizes[0])], by[("sqlite", sizes[-1])]
    lines.append("")
    lines.append(
        f"SQLite flatness: CPU per update at {sizes[-1]:,} ÷ at {sizes[0]:,} = "
        f"{large['persist_cpu'] / small['persist_cpu']:.2f}"
    )
    lines.append("")
    lines.append(
        f"Loading at start-up with {sizes[-1]:,} conversations + user_data + chat_data "
        "(`Application.initialize`): "
        + "; ".join(
            f"{kind} {by[(kind, sizes[-1])]['load_cpu'] * 1e3:.0f} ms CPU / "
            f"{by[(kind, sizes[-1])]['load_wall'] * 1e3:.0f} ms wall"
            for kind in ("sqlite", "pickle")
        )
    )
    return "\n".join(lines)


LARGE_TARGET = 10_000  # stored conversations the targets are set at


def targets(small: int, large: int, ratio: float, flat: float) -> list[tuple[str, bool]]:
    """(text, met) of each target; measured with fewer than 10 000 stored conversations
    (`--sizes`) they count as missed: Pickle's cost grows with the conversations, SQLite's
    should not, and only the large size shows either."""
    short = (
        f": not measured at the target's {LARGE_TARGET:,} conversations"
        if large < LARGE_TARGET
        else ""
    )
    return [
        (
            f"Pickle ÷ SQLite CPU per update at {large:,} ≥ 10× ({ratio:.0f}×){short}",
            ratio >= 10 and not short,
        ),
        (
            f"SQLite CPU per update {large:,} ÷ {small:,} ≤ 2× ({flat:.2f}){short}",
            flat <= 2 and not short,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--json", metavar="PATH", help="write the summary there (bench/readme.py)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(machine())
    rows = asyncio.run(measure(sizes, args.runs, args.updates))
    print()
    print(report(rows))
    by = {(r["kind"], r["size"]): r for r in rows}
    large, small = sizes[-1], sizes[0]
    ratio = by[("pickle", large)]["persist_cpu"] / by[("sqlite", large)]["persist_cpu"]
    flat = by[("sqlite", large)]["persist_cpu"] / by[("sqlite", small)]["persist_cpu"]
    checks = targets(small, large, ratio, flat)
    if args.json:
        out = {
            "machine": machine(),
            "command": " ".join(sys.argv),
            "report": report(rows),
            "targets": [[name, met] for name, met in checks],
        }
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    sys.exit(verdict(checks))


if __name__ == "__main__":
    main()
