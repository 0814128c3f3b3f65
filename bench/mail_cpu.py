"""CPU the bot spends on each outgoing mail (the verification-code mail of every sign-in): N mails
through `bot.mail.Mailer` on one kept connection to a real SMTP relay on loopback.

The relay (the sandbox's aiosmtpd server, bot/sandbox/smtp.py) runs in a child process, so that
`time.process_time()` of this process counts the sending side only: building the message, the
SMTP dialogue on the kept connection (MAIL, RCPT, DATA), the pool's and the log's bookkeeping, on
the event loop the bot uses (uvloop). Each mail is a code mail as bot/verification.py writes it
(the real templates, French and English in turn, a club name with accents, a recipient and a
Message-ID of its own: no cache is flattered by a repeated value), rendered before the clock
starts. In the same run, on a connection of its own, the baseline: the same mails as an
`email.message.EmailMessage` (default policy) handed to aiosmtplib's `SMTP.send_message` — the
way bot/mail.py sent them before issue 19 (it flattens the message and parses its headers again
to find the envelope). And, for the whole path of a sign-in's mail, the same mails through the
outbox (bot/outbox.py) on a real SQLite file, one at a time as people sign in: the code and its
mail row written in one transaction (as bot/verification.py does), the outbox woken, the row
claimed, the code checked, the mail sent, row and code marked.

Target (exit status 1 when missed): ofbot's CPU per mail at most half the baseline's.

    .venv/bin/python -m bench.mail_cpu [--mails 2000] [--rounds 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, load, machine, median, verdict, with_jail_target
from bench.loopback import check_jail, enter_jail

SENDER = "OpenFlyers <no-reply@openflyers.fr>"
TARGET_RATIO = 0.5  # ofbot's CPU per mail over the baseline's, at most
WARM_UP = 30  # mails sent before the clock starts (connection, EHLO, first-use imports)


def relay_main() -> None:
    """The child: the sandbox relay on 127.0.0.1 (a free port, printed), until stdin closes."""
    from bot.sandbox.smtp import start_smtp

    async def serve() -> None:
        server = await start_smtp("127.0.0.1", 0)
        print(server.port, flush=True)
        await asyncio.to_thread(sys.stdin.read)
        server.stop()

    asyncio.run(serve())


def code_mails(count: int, offset: int) -> list[tuple[str, str, str, str]]:
    """(recipient, subject, body, message_id) of `count` code mails as bot/verification.py
    renders them, each to another club."""
    import secrets

    from bot.mail import new_message_id
    from bot.texts import Texts

    texts = Texts()
    mails = []
    for i in range(offset, offset + count):
        lang = "fr" if i % 2 == 0 else "en"
        club = f"Aéroclub de banc d'essai n°{i}"
        subject = texts.render(lang, "mail/code_subject", club=club)
        body = texts.render(
            lang,
            "mail/code_body",
            code=f"{secrets.randbelow(1_000_000):06d}",
            link=f"https://t.me/ofbot_bench_bot?start=c_{secrets.token_urlsafe(24)}",
            club=club,
            subdomain=f"bench{i:05d}",
            minutes=15,
        )
        mails.append((f"bureau@bench{i:05d}.example.fr", subject, body, new_message_id(SENDER)))
    return mails


async def measure(port: int, mails: int, rounds: int, folder: Path) -> dict:
    import aiosmtplib

    from bench.harness import prepare_database
    from bot.clock import Clock
    from bot.mail import Mailer, build_message, ehlo_name
    from bot.outbox import MailOutbox
    from bot.services import Services
    from bot.settings import Settings
    from bot.texts import Texts
    from storage import outbox as rows
    from storage import verification
    from storage.db import open_database

    settings = Settings(
        db=folder / "mail.sqlite3", smtp_host="127.0.0.1", smtp_port=port, smtp_from=SENDER
    )
    mailer = Mailer(settings)
    await prepare_database(settings.db, clubs=1)
    db = await open_database(settings.db)
    club_id = await db.fetchval("SELECT id FROM clubs")
    clock = Clock(settings.tz)
    services = Services(
        settings=settings, db=db, texts=Texts(), clock=clock, mailer=Mailer(settings)
    )
    outbox = MailOutbox(services)
    outbox.start()
    baseline = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=port, local_hostname=ehlo_name("127.0.0.1", port)
    )
    await baseline.connect()

    async def ofbot(batch) -> None:
        for to, subject, body, message_id in batch:
            await mailer.send(to, subject, body, message_id=message_id)

    async def before(batch) -> None:
        for to, subject, body, message_id in batch:
            # bot/mail.py's build_message, which Mailer.send handed to send_message before.
            await baseline.send_message(build_message(SENDER, to, subject, body, message_id))

    async def through_outbox(batch) -> None:
        for i, (to, subject, body, message_id) in enumerate(batch):
            now = clock.timestamp()
            async with db.transaction() as conn:
                code_id = await verification.insert_code(
                    conn,
                    club_id=club_id,
                    chat_id=1000 + i,
                    email_kind="structure",
                    code_hash="0" * 64,
                    salt="0" * 32,
                    created_at=now,
                    expires_at=now + 900,
                )
                await rows.add(
                    conn,
                    code_id=code_id,
                    chat_id=1000 + i,
                    lang="fr",
                    recipient=to,
                    subject=subject,
                    body=body,
                    message_id=message_id,
                    created_at=now,
                )
            outbox.wake()
            await outbox.idle.wait()

    ways = {
        "ofbot (bot.mail.Mailer.send)": ofbot,
        "baseline (EmailMessage + send_message)": before,
        "ofbot, the code mail through the outbox (bot.outbox)": through_outbox,
    }
    for number, way in enumerate(ways.values()):
        await way(code_mails(WARM_UP, number * WARM_UP))
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    offset = len(ways) * WARM_UP
    for _ in range(rounds):
        for name, way in ways.items():  # in turn, so both see the same load
            batch = code_mails(mails, offset)
            offset += mails
            cpu, wall = time.process_time(), time.perf_counter()
            await way(batch)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            results[name].append((cpu / mails, wall / mails))
            print(
                f"  {name}: {cpu / mails * 1e3:.3f} ms CPU / mail, "
                f"{wall / mails * 1e3:.3f} ms wall / mail; {load()}",
                flush=True,
            )
    await mailer.close()
    await baseline.quit()
    await outbox.stop()
    await db.close()
    return {
        name: {
            "cpu_ms": median(c for c, _ in runs) * 1e3,
            "wall_ms": median(w for _, w in runs) * 1e3,
            "runs_cpu_ms": [round(c * 1e3, 3) for c, _ in runs],
        }
        for name, runs in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=2000, help="mails per round and way")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", metavar="PATH", help="write the summary there (bench/readme.py)")
    parser.add_argument("--relay", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.relay:
        relay_main()
        return
    print(enter_jail(), flush=True)
    print(machine(), flush=True)
    relay = subprocess.Popen(
        [sys.executable, "-m", "bench.mail_cpu", "--relay"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(relay.stdout.readline())
        try:
            import uvloop

            loop_factory = uvloop.new_event_loop  # as `ofbot run` (bot/cli.py)
        except ImportError:
            loop_factory = None
        with (
            tempfile.TemporaryDirectory(prefix="mail-cpu-") as folder,
            asyncio.Runner(loop_factory=loop_factory) as runner,
        ):
            summary = runner.run(measure(port, args.mails, args.rounds, Path(folder)))
    finally:
        relay.stdin.close()
        relay.wait(10)
    check_jail()
    ofbot, base, _ = summary.values()
    ratio = ofbot["cpu_ms"] / base["cpu_ms"]
    lines = [
        f"| {args.mails} code mails × {args.rounds} rounds, one kept connection "
        "| CPU / mail (median) | rounds | wall / mail |",
        "|---|---:|---|---:|",
    ]
    lines += [
        f"| {name} | **{way['cpu_ms']:.3f} ms** | {way['runs_cpu_ms']} | {way['wall_ms']:.3f} ms |"
        for name, way in summary.items()
    ]
    lines.append(f"\nofbot / baseline: **{ratio:.2f}×**; {load()}.")
    checks = [
        (
            f"CPU per mail ≤ {TARGET_RATIO}× the EmailMessage + send_message baseline "
            f"({ofbot['cpu_ms']:.3f} ms vs {base['cpu_ms']:.3f} ms: {ratio:.2f}×)",
            ratio <= TARGET_RATIO,
        )
    ]
    out = {
        "machine": machine(),
        "command": " ".join(sys.argv),
        "ways": summary,
        "targets": [[name, met] for name, met in with_jail_target(checks)],
        "report": "\n".join(lines),
    }
    print("\n" + out["report"])
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")
    sys.exit(verdict(checks))


if __name__ == "__main__":
    main()
