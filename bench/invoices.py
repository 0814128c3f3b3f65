"""Invoice rendering: milliseconds per PDF/A-3 + Factur-X document and the process's memory after
many renders (`--renders`), or the docs' previews drawn from the sandbox (`--previews DIR`).

    .venv/bin/python -m bench.invoices --renders 1000
    .venv/bin/python -m bench.invoices --previews docs/

The benchmark renders the sample clubs' invoices in turn, each through `render_pdf` (the renderer
process the bot uses) while a ticker on the event loop measures how late the loop runs."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, machine


def rss_mib(pid: int | str = "self") -> tuple[float, float]:
    """Resident memory of a process now (VmRSS) and at its peak (VmHWM), in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


async def _services(workdir: Path):
    from bot.clock import Clock
    from bot.clubs import import_clubs, read_clubs_file
    from bot.mail import Mailer
    from bot.runtime import load_catalogue
    from bot.services import Services
    from bot.settings import Settings
    from bot.texts import Texts
    from storage.db import open_database

    settings = Settings(db=workdir / "bench.sqlite3")
    db = await open_database(settings.db)
    catalogue = load_catalogue(settings)
    await import_clubs(db, read_clubs_file(ROOT / "bot/data/clubs.csv"), set(catalogue.plans))
    clock = Clock(settings.tz)
    clock.advance(
        dt.datetime.combine(dt.date(2026, 11, 26), dt.time(12), settings.tz) - clock.now()
    )
    return Services(
        settings=settings,
        db=db,
        texts=Texts(),
        clock=clock,
        mailer=Mailer(settings),
        catalogue=catalogue,
    )


async def bench(renders: int) -> None:
    from bot import documents, invoices
    from bot.catalogue import minimum_resources

    with tempfile.TemporaryDirectory() as tmp:
        services = await _services(Path(tmp))
        docs = []
        for club in await services.db.fetchall("SELECT * FROM clubs ORDER BY id"):
            count = minimum_resources(services.catalogue, club["plan"], club["active_resources"])
            issued = await invoices.issue_renewal(
                services, club_id=club["id"], plan_id=club["plan"], resources=count, actor="bench"
            )
            for lang in ("fr", "en"):
                docs.append(await invoices.invoice_document(services, issued.invoice, lang))
        rss_before, _ = rss_mib()
        first_started = time.perf_counter()
        # The worker process starts, imports WeasyPrint and loads the fonts here.
        await invoices.render_pdf(services.texts, docs[0])
        first_ms = (time.perf_counter() - first_started) * 1000
        worker_first, _ = rss_mib(await documents.renderer_pid())

        lags: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                planned = time.perf_counter() + 0.01
                await asyncio.sleep(0.01)
                lags.append(max(0.0, time.perf_counter() - planned) * 1000)

        ticking = asyncio.create_task(ticker())
        durations = []
        sizes = []
        started = time.perf_counter()
        for index in range(renders):
            one = time.perf_counter()
            pdf = await invoices.render_pdf(services.texts, docs[index % len(docs)])
            durations.append((time.perf_counter() - one) * 1000)
            sizes.append(len(pdf))
        total = time.perf_counter() - started
        stop.set()
        await ticking
        rss_after, rss_peak = rss_mib()
        worker = await documents.renderer_pid()
        worker_after, worker_peak = rss_mib(worker)
        await services.db.close()
    quantiles = statistics.quantiles(durations, n=100)
    print(f"machine: {machine()}")
    print(f"documents: {len(docs)} distinct (13 sample clubs × fr/en), rendered {renders} times")
    print(f"first render (starts the renderer process, fonts, templates): {first_ms:.0f} ms")
    print(
        f"per invoice: mean {statistics.fmean(durations):.1f} ms, median {quantiles[49]:.1f} ms,"
        f" p95 {quantiles[94]:.1f} ms, max {max(durations):.1f} ms;"
        f" {renders / total:.1f} invoices/s"
    )
    print(f"PDF size: median {statistics.median(sizes) / 1024:.1f} KiB")
    print(
        f"event loop lateness while rendering (10 ms ticker): median {statistics.median(lags):.2f}"
        f" ms, p99 {statistics.quantiles(lags, n=100)[98]:.1f} ms, max {max(lags):.1f} ms"
    )
    print(
        f"memory (VmRSS) of the bot's process: {rss_before:.0f} MiB before rendering,"
        f" {rss_after:.0f} MiB after {renders} renders (peak {rss_peak:.0f} MiB)"
    )
    print(
        f"memory (VmRSS) of the renderer process: {worker_first:.0f} MiB after its first render,"
        f" {worker_after:.0f} MiB after {renders} renders (peak {worker_peak:.0f} MiB)"
    )


async def previews(out: Path) -> None:
    """Drive the sandbox (Bot API, Stripe and SMTP stand-ins, the real bot) as the club contact
    Jeanne: renew mermoz, replace the invoice by another count (a credit note), pay the new one by
    card on the checkout page; download both PDFs from the chat and draw their first page."""
    from bot.runtime import Runtime
    from bot.sandbox.smtp import start_smtp
    from bot.sandbox.stripe import start_fake_stripe
    from bot.sandbox.telegram import start_fake_telegram
    from bot.settings import Settings
    from tests.conftest import (
        CLUB_USER_FR,
        STAFF_CHAT,
        STAFF_USERS,
        TOKEN,
        BotHarness,
        Chat,
        seed_database,
        verify,
    )

    number = re.compile(r"OF-\d{4}-\d{6}")
    telegram, tg_server = await start_fake_telegram(token=TOKEN, chat_burst=200)
    telegram.add_user(CLUB_USER_FR, "Jeanne", language_code="fr", username="jeanne")
    for user_id, name in zip(STAFF_USERS, ("Alice", "Bruno"), strict=True):
        telegram.add_user(user_id, name, language_code="fr")
    telegram.add_group(STAFF_CHAT, "OpenFlyers staff", members=list(STAFF_USERS))
    smtp = await start_smtp()
    stripe, stripe_server = await start_fake_stripe(
        api_key="sk_test_sandbox", webhook_secret="whsec_sandbox", retry_delays=(0.2, 0.5, 1)
    )
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            telegram_token=TOKEN,
            telegram_api_url=tg_server.url,
            db=Path(tmp) / "ofbot.sqlite3",
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_from="OpenFlyers <no-reply@openflyers.example>",
            staff_chat_id=STAFF_CHAT,
            staff_user_ids=frozenset(STAFF_USERS),
            http_port=0,
            telegram_secret_token="sandbox-secret",
            stripe_secret_key="sk_test_sandbox",
            stripe_webhook_secret="whsec_sandbox",
            stripe_api_url=stripe.base_url,
        )
        await seed_database(settings)
        runtime = Runtime(settings)
        await runtime.start()
        harness = BotHarness(runtime, telegram, stripe)
        chat = Chat(telegram, harness, CLUB_USER_FR)
        try:
            await verify(chat, smtp)
            await chat.press("Renouveler")
            await chat.press("(minimum)")
            first = number.search((await chat.press("Confirmer"))[-1]["text"]).group(0)
            await chat.say("/menu")
            await chat.press("Renouveler")
            await chat.say("6")
            await chat.press("Confirmer")
            second = number.search((await chat.press("Remplacer"))[-1]["text"]).group(0)
            replies = await chat.press("Carte")
            link = next(
                button["url"]
                for row in replies[-1]["reply_markup"]["inline_keyboard"]
                for button in row
                if "url" in button
            )
            await stripe.pay(link.rstrip("/").rsplit("/", 1)[1], card="4242424242424242")
            await stripe.drain(10)
            for _ in range(200):  # the receipt: the payment is recorded
                if "Paiement reçu" in (chat.last().get("text") or ""):
                    break
                await asyncio.sleep(0.05)
            await chat.say("/menu")
            await chat.press("Mes factures")
            invoice_pdf = telegram.document_bytes((await chat.press(second))[-1])
            await chat.say("/menu")
            await chat.press("Mes factures")
            note_pdf = telegram.document_bytes((await chat.press("AV-"))[-1])
        finally:
            await runtime.stop()
            await stripe_server.stop()
            smtp.stop()
            await telegram.close()
            await tg_server.stop()
    out.mkdir(parents=True, exist_ok=True)
    for name, pdf in (("invoice-sample", invoice_pdf), ("credit-note-sample", note_pdf)):
        path = out / f"{name}.pdf"
        path.write_bytes(pdf)
        draw = [
            "pdftoppm",
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            path,
            out / name,
        ]
        await asyncio.to_thread(subprocess.run, draw, check=True)
        path.unlink()
        print(f"{out / name}.png")
    print(f"sandbox: invoice {first} replaced by {second} (paid by card); credit note drawn too")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--renders", type=int, default=1000)
    parser.add_argument("--previews", type=Path, help="draw the docs' PNG previews into DIR")
    args = parser.parse_args()
    if args.previews:
        if shutil.which("pdftoppm") is None:
            raise SystemExit("pdftoppm is missing: apt-get install poppler-utils")
        asyncio.run(previews(args.previews))
    else:
        asyncio.run(bench(args.renders))


if __name__ == "__main__":
    main()
