"""Renewal reminders end to end through the sandbox Bot API: the 09:00 job in the running bot after
moving its clock, `/reminders`, and `ofbot reminders run` as a subprocess — blocked chats, 429
storms, a run killed with SIGKILL and run again, a catch-up after ten days."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import sys
from pathlib import Path

import pytest

from bot import reminders
from bot.sandbox.telegram import start_fake_telegram
from handlers.jobs import queue_reminders
from storage import clubs as club_rows
from storage import contacts
from storage import reminders as reminder_rows
from storage.db import open_database
from tests.conftest import (
    CLUB_USER_EN,
    CLUB_USER_FR,
    ROOT,
    STAFF_CHAT,
    STAFF_USERS,
    TOKEN,
    bot_environment,
    replace_settings,
    sample_club,
    seed_database,
    verify,
)

END = dt.date(2027, 3, 31)  # the synthetic clubs' end date
FIRST_CHAT = 700_000


def on(milestone: int, end: dt.date = END) -> str:
    """The --today date on which `milestone` falls for a subscription ending on `end`."""
    return (end - dt.timedelta(days=milestone)).isoformat()


async def seed_clubs(settings, telegram, count: int, *, end: dt.date = END, lang="fr") -> list:
    """`count` clubs ending on `end`, one verified contact each (chat FIRST_CHAT + i)."""
    db = await open_database(settings.db)
    chats = []
    try:
        async with db.transaction() as conn:
            await club_rows.upsert_many(
                conn,
                [
                    {
                        "subdomain": f"club{i:05d}",
                        "name": f"Aéroclub n°{i}",
                        "structure_email": f"bureau@club{i}.example.fr",
                        "contact_email": f"chef@club{i}.example.fr",
                        "plan": "business",
                        "active_resources": 1 + i % 7,
                        "subscription_ends": end.isoformat(),
                        "country": "FR",
                        "vat_number": None,
                        "language": lang,
                    }
                    for i in range(count)
                ],
            )
            ids = await club_rows.ids_by_subdomain(conn, [f"club{i:05d}" for i in range(count)])
            for i in range(count):
                chat_id = FIRST_CHAT + i
                telegram.add_user(chat_id, f"Contact {i}", language_code=lang)
                await contacts.upsert(
                    conn,
                    club_id=ids[f"club{i:05d}"],
                    chat_id=chat_id,
                    user_id=chat_id,
                    display_name=f"Contact {i}",
                    language=lang,
                    email_kind="structure",
                    verified_at="2026-01-01T00:00:00Z",
                )
                chats.append(chat_id)
    finally:
        await db.close()
    return chats


async def stored_rows(settings) -> list:
    db = await open_database(settings.db)
    try:
        return await reminder_rows.rows(db)
    finally:
        await db.close()


async def run_cli(settings, *args: str, log: Path | None = None, timeout: float = 180):
    """`python -m bot.cli reminders run …` against this test's sandbox; (exit code, stdout)."""
    process = await start_cli(settings, *args, log=log)
    out, _ = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode, (out or b"").decode()


async def start_cli(settings, *args: str, log: Path | None = None):
    sink = log.open("ab") if log else asyncio.subprocess.PIPE
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "reminders",
        "run",
        *args,
        env=bot_environment(settings),
        stdout=sink,
        stderr=sink if log else asyncio.subprocess.STDOUT,
        cwd=str(ROOT),
    )


def messages_per_chat(telegram, chats) -> dict[int, int]:
    return {chat: len(telegram.bot_messages(chat)) for chat in chats}


async def until(predicate, what: str, timeout: float = 60) -> None:
    """Wait for a condition the sandbox reaches on its own (no timing is asserted)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        await asyncio.sleep(0.01)


# -- in the running bot ----------------------------------------------------------------------


async def test_moving_the_clock_and_running_the_job_brings_the_reminder(bot, telegram, chat, smtp):
    """What a new user does in the sandbox: fast-forward the date, see the reminder arrive."""
    await verify(chat, smtp, "mermoz")
    ends = dt.date.fromisoformat(sample_club("mermoz")["subscription_ends"])
    clock = bot.runtime.clock
    clock.advance(dt.timedelta(days=(ends - dt.timedelta(days=7) - clock.today()).days))
    last = chat.last()["message_id"]
    bot.runtime.app.job_queue.run_once(queue_reminders, when=0, data="test")
    reminder = await telegram.wait_for_bot_message(
        CLUB_USER_FR, after=last, contains="dans 7 jours", timeout=10
    )
    assert "Aéroclub Jean Mermoz" in reminder["text"]
    assert (
        "Formule : Business" in reminder["text"] and "Ressources activées : 4" in reminder["text"]
    )
    assert chat.buttons(reminder) == ["🔄 Renouveler maintenant"]
    club_id = await bot.services.db.fetchval("SELECT id FROM clubs WHERE subdomain = 'mermoz'")
    data = reminder["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert data == f"renew:start:{club_id}"
    summary = await telegram.wait_for_bot_message(STAFF_CHAT, contains="Envoyés : 1", timeout=10)
    assert "J-7 : 1 envoyé" in summary["text"]
    # The same day again: nothing new.
    await reminders.run_reminders(bot.services, bot.runtime.app.bot, clock.today())
    assert len(chat.new_since(last)) == 1
    # "Renew now" is answered (the renewal flow's count step, once that flow is in).
    assert await chat.press("Renouveler maintenant")


async def test_reminders_off_then_on_with_the_command_and_the_menu(bot, telegram, chat_en, smtp):
    await verify(chat_en, smtp, "dublin", kind="contact_email")
    replies = await chat_en.say("/reminders")
    assert "Renewal reminders are off for Dublin Flying Club" in replies[0]["text"]
    assert "🔔 Turn reminders on" in chat_en.buttons(replies[-1])
    ends = dt.date.fromisoformat(sample_club("dublin")["subscription_ends"])
    summary = await reminders.run_reminders(
        bot.services, bot.runtime.app.bot, ends - dt.timedelta(days=15), report=False
    )
    assert summary.sent == 0 and summary.skipped["reminders_off"] == 1
    replies = await chat_en.press("Turn reminders on")
    assert "Renewal reminders are on for Dublin Flying Club" in replies[0]["text"]
    assert "🔕 Turn reminders off" in chat_en.buttons(replies[-1])
    last = chat_en.last()["message_id"]
    summary = await reminders.run_reminders(
        bot.services, bot.runtime.app.bot, ends - dt.timedelta(days=15), report=False
    )
    assert summary.sent == 1
    reminder = await telegram.wait_for_bot_message(CLUB_USER_EN, after=last)
    assert "ends in 15 days" in reminder["text"] and chat_en.buttons(reminder) == ["🔄 Renew now"]


async def test_a_chat_that_blocked_the_bot_is_marked_inactive_and_skipped(
    bot, telegram, chat, smtp
):
    await verify(chat, smtp, "lesailes")
    ends = dt.date.fromisoformat(sample_club("lesailes")["subscription_ends"])
    telegram.block_bot(CLUB_USER_FR)
    app_bot = bot.runtime.app.bot
    summary = await reminders.run_reminders(bot.services, app_bot, ends - dt.timedelta(days=30))
    assert summary.blocked == 1 and summary.sent == 0
    club = await club_rows.get_by_subdomain(bot.services.db, "lesailes")
    assert not (await contacts.get(bot.services.db, club.id, CLUB_USER_FR)).active
    report = await telegram.wait_for_bot_message(STAFF_CHAT, contains="bloqués : 1")
    assert "bot was blocked by the user" in report["text"]
    tried = telegram.calls.get("sendmessage", 0)
    later = await reminders.run_reminders(bot.services, app_bot, ends - dt.timedelta(days=15))
    assert later.due == 0 and later.skipped["inactive"] == 1
    assert telegram.calls.get("sendmessage", 0) == tried  # not even tried


async def test_a_429_storm_is_waited_out_and_everything_arrives_once(bot, telegram, settings):
    chats = await seed_clubs(settings, telegram, 12)
    telegram.inject_fault("sendMessage", "429", count=8)
    summary = await reminders.run_reminders(
        bot.services, bot.runtime.app.bot, dt.date.fromisoformat(on(7)), report=False
    )
    assert (summary.sent, summary.failed, summary.unknown) == (12, 0, 0)
    assert telegram.rate_limited >= 8
    assert set(messages_per_chat(telegram, chats).values()) == {1}


# -- `ofbot reminders run` -------------------------------------------------------------------


async def test_cli_dry_run_lists_and_sends_nothing(settings, telegram):
    await seed_database(settings)
    await seed_clubs(settings, telegram, 3)
    code, out = await run_cli(settings, "--today", on(0), "--dry-run")
    assert code == 0, out
    assert "club00000" in out and "J-0" in out and f"chat {FIRST_CHAT}" in out
    assert "3 would be sent" in out
    assert telegram.calls.get("sendmessage", 0) == 0
    assert await stored_rows(settings) == []


async def test_cli_each_milestone_then_a_catch_up_after_ten_days(settings, telegram):
    """Clubs on every milestone get theirs; ten days later only the latest due one per club."""
    await seed_database(settings)
    today = dt.date(2027, 1, 10)
    by_milestone = {}
    for milestone in reminders.MILESTONES:
        end = today + dt.timedelta(days=milestone)
        [chat] = await seed_clubs_at(settings, telegram, f"m{milestone + 10}", end)
        by_milestone[milestone] = chat
    code, out = await run_cli(settings, "--today", today.isoformat())
    assert code == 0, out
    assert "sent 6" in out
    assert set(messages_per_chat(telegram, by_milestone.values()).values()) == {1}
    assert "expired 7 days ago" in telegram.bot_messages(by_milestone[-7])[0]["text"]
    assert "ends today" in telegram.bot_messages(by_milestone[0])[0]["text"]
    assert "ends tomorrow" in telegram.bot_messages(by_milestone[1])[0]["text"]

    later = today + dt.timedelta(days=10)
    code, out = await run_cli(settings, "--today", later.isoformat())
    assert code == 0, out
    # 30 → now 20 days left: still the 30-day one, sent. 15 → 5 left: the 7-day one (not the 15
    # then the 7). 7 → -3: the day-0 one. 1 → -9 and 0 → -10: the lapsed one. -7 → -17: nothing.
    sent = {(r.key.chat_id, r.key.milestone) for r in await stored_rows(settings)}
    second = sent - {(chat, m) for m, chat in by_milestone.items()}
    assert second == {
        (by_milestone[15], 7),
        (by_milestone[7], 0),
        (by_milestone[1], -7),
        (by_milestone[0], -7),
    }
    counts = messages_per_chat(telegram, by_milestone.values())
    assert counts == {
        by_milestone[30]: 1,
        by_milestone[15]: 2,
        by_milestone[7]: 2,
        by_milestone[1]: 2,
        by_milestone[0]: 2,
        by_milestone[-7]: 1,
    }
    assert "ends in 5 days" in telegram.bot_messages(by_milestone[15])[-1]["text"]


async def seed_clubs_at(settings, telegram, prefix: str, end: dt.date) -> list[int]:
    """One club ending on `end` with one English contact, ids distinct per prefix."""
    db = await open_database(settings.db)
    try:
        async with db.transaction() as conn:
            await club_rows.upsert_many(
                conn,
                [
                    {
                        "subdomain": prefix,
                        "name": f"Club {prefix}",
                        "structure_email": f"a@{prefix}.example.fr",
                        "contact_email": f"b@{prefix}.example.fr",
                        "plan": "premiere",
                        "active_resources": 2,
                        "subscription_ends": end.isoformat(),
                        "country": "IE",
                        "vat_number": None,
                        "language": "en",
                    }
                ],
            )
            club_id = (await club_rows.ids_by_subdomain(conn, [prefix]))[prefix]
            chat_id = 800_000 + club_id
            telegram.add_user(chat_id, prefix, language_code="en")
            await contacts.upsert(
                conn,
                club_id=club_id,
                chat_id=chat_id,
                user_id=chat_id,
                display_name=prefix,
                language="en",
                email_kind="contact",
                verified_at="2026-01-01T00:00:00Z",
            )
    finally:
        await db.close()
    return [chat_id]


@pytest.fixture
async def slow_telegram():
    """A Bot API stand-in whose overall limit (5/s) is far below the sender's pace (29/s)."""
    fake, server = await start_fake_telegram(token=TOKEN, global_rate=5, chat_burst=200)
    for user_id in STAFF_USERS:
        fake.add_user(user_id, f"Staff {user_id}")
    fake.add_group(STAFF_CHAT, "OpenFlyers staff", members=list(STAFF_USERS))
    yield fake
    await fake.close()
    await server.stop()


async def test_cli_under_a_low_rate_limit_retries_every_429_and_delivers_each_once(
    settings, slow_telegram
):
    settings = replace_settings(settings, telegram_api_url=slow_telegram.url)
    await seed_database(settings)
    chats = await seed_clubs(settings, slow_telegram, 40)
    code, out = await run_cli(settings, "--today", on(15))
    assert code == 0, out
    assert "sent 40, failed 0, blocked 0, unknown 0" in out
    assert slow_telegram.rate_limited > 0  # the storm happened…
    assert set(messages_per_chat(slow_telegram, chats).values()) == {1}  # …and was waited out


async def test_cli_killed_while_sending_then_run_again_delivers_each_exactly_once(
    settings, telegram, tmp_path
):
    """SIGKILL while every worker waits on a request Telegram has received but not answered;
    the answers come after the process is gone. The second run must neither resend those
    (they arrived) nor skip any other: every chat ends with exactly one reminder."""
    await seed_database(settings)
    chats = await seed_clubs(settings, telegram, 60)
    workers = reminders.SendPolicy().concurrency
    log = tmp_path / "cli.log"
    process = await start_cli(settings, "--today", on(1), log=log)
    await until(lambda: sum(messages_per_chat(telegram, chats).values()) >= 20, "20 sent")
    # Hold the next `workers` sends for 5 s; kill once every one of them reached the server
    # (the faults are used up), so each worker is waiting on an answer, none between its claim
    # and its request.
    telegram.inject_fault("sendMessage", "timeout", count=workers, delay=5)
    await until(lambda: not telegram._faults, "every worker waiting on a held request")
    process.kill()
    await process.wait()
    before = sum(messages_per_chat(telegram, chats).values())
    pending = [r for r in await stored_rows(settings) if r.status == "pending"]
    assert len(pending) == workers, log.read_text()[-2000:]
    # The held requests are carried out late, as Telegram does with a timed-out call.
    await until(
        lambda: sum(messages_per_chat(telegram, chats).values()) == before + workers, "held sent"
    )
    code, out = await run_cli(settings, "--today", on(1))
    assert code == 0, out
    assert f"sent {60 - before - workers}," in out
    assert out.count("unknown (interrupted run)") == workers
    counts = messages_per_chat(telegram, chats)
    assert set(counts.values()) == {1}, {c: n for c, n in counts.items() if n != 1}
    delivered = {(r.key.chat_id, r.key.milestone) for r in await stored_rows(settings)}
    assert delivered == {(chat, 1) for chat in chats}


async def test_cli_interrupted_with_ctrl_c_finishes_what_is_in_flight(settings, telegram, tmp_path):
    """SIGINT: the sends in flight complete and are recorded; nothing is left unknown; the next
    run sends exactly the rest."""
    await seed_database(settings)
    chats = await seed_clubs(settings, telegram, 40)
    log = tmp_path / "cli.log"
    process = await start_cli(settings, "--today", on(15), log=log)
    await until(lambda: sum(messages_per_chat(telegram, chats).values()) >= 10, "10 sent")
    process.send_signal(signal.SIGINT)
    assert await process.wait() == 1, log.read_text()[-2000:]
    assert "stopped early" in log.read_text()
    rows = await stored_rows(settings)
    assert {r.status for r in rows} == {"sent"}
    assert len(rows) == sum(messages_per_chat(telegram, chats).values())
    code, out = await run_cli(settings, "--today", on(15))
    assert code == 0, out
    assert f"sent {40 - len(rows)}, failed 0, blocked 0, unknown 0" in out
    assert "interrupted run" not in out
    assert set(messages_per_chat(telegram, chats).values()) == {1}


async def test_cli_killed_at_any_moment_never_duplicates_and_reports_what_it_cannot_know(
    settings, telegram, tmp_path
):
    """At most once: a kill at an arbitrary moment may leave a reminder unsettled; the next run
    reports it and never sends a second copy of anything."""
    await seed_database(settings)
    chats = await seed_clubs(settings, telegram, 50)
    process = await start_cli(settings, "--today", on(30), log=tmp_path / "cli.log")
    await until(lambda: sum(messages_per_chat(telegram, chats).values()) >= 25, "25 sent")
    process.kill()
    await process.wait()
    code, out = await run_cli(settings, "--today", on(30))
    assert code == 0, out
    counts = messages_per_chat(telegram, chats)
    assert max(counts.values()) == 1  # never a duplicate
    rows = {r.key.chat_id: r.status for r in await stored_rows(settings)}
    assert set(rows) == set(chats)  # none forgotten: each was sent or reported
    missing = {chat for chat, n in counts.items() if n == 0}
    assert all(rows[chat] == "unknown" for chat in missing)
    assert all(status in ("sent", "unknown") for status in rows.values())


async def test_the_running_bot_paces_reminders_as_broadcasts(bot, telegram, chat, smtp):
    """A reminder is one of many messages sent unprompted: the bot's limiter gets it marked
    `Broadcast()` (paced by the overall 30/s as well as per chat), a reply to a person is not."""
    from bot.ratelimit import Broadcast

    await verify(chat, smtp, "mermoz")
    limiter = bot.runtime.app.bot.rate_limiter
    seen: list[tuple[str, object, object]] = []
    original = limiter.process_request

    async def spy(callback, args, kwargs, endpoint, data, rate_limit_args):
        seen.append((endpoint, data.get("chat_id"), rate_limit_args))
        return await original(callback, args, kwargs, endpoint, data, rate_limit_args)

    limiter.process_request = spy
    ends = dt.date.fromisoformat(sample_club("mermoz")["subscription_ends"])
    clock = bot.runtime.clock
    clock.advance(dt.timedelta(days=(ends - dt.timedelta(days=7) - clock.today()).days))
    await reminders.run_reminders(bot.services, bot.runtime.app.bot, clock.today())
    await chat.say("/menu")
    to_person = [
        args
        for endpoint, chat_id, args in seen
        if endpoint == "sendMessage" and chat_id == chat.chat_id
    ]
    assert len(to_person) == 2, seen  # the reminder, then the answer to /menu
    assert isinstance(to_person[0], Broadcast)
    assert not isinstance(to_person[1], Broadcast)
