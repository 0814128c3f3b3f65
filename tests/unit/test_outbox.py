"""The mail outbox against a real SMTP relay (the sandbox's, on loopback): mails go out at once
over a small pool of kept connections, so a relay slow on one mail holds back no other; a row is
sent by one sender only; stop() QUITs every connection of the pool (bot/outbox.py, bot/mail.py)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot.clock import Clock
from bot.mail import POOL_SIZE, Mailer, new_message_id
from bot.outbox import MailOutbox
from bot.services import Services
from bot.settings import Settings
from bot.texts import Texts
from storage import outbox as rows
from storage.db import open_database
from tests.conftest import RelayWatch

SENDER = "OpenFlyers <no-reply@openflyers.example>"


async def open_services(path, relay) -> Services:
    """Services over a fresh database at `path`, mailing through `relay`."""
    settings = Settings(db=path, smtp_host=relay.host, smtp_port=relay.port, smtp_from=SENDER)
    return Services(
        settings=settings,
        db=await open_database(settings.db),
        texts=Texts(),
        clock=Clock(settings.tz),
        mailer=Mailer(settings),
        catalogue=None,
    )


@pytest.fixture
async def services(tmp_path, smtp):
    services = await open_services(tmp_path / "outbox.sqlite3", smtp)
    yield services
    await services.db.close()


async def queue_mails(services, recipients) -> list[int]:
    """Outbox rows as bot/verification.py writes them (here without a code)."""
    ids = []
    async with services.db.transaction() as conn:
        for recipient in recipients:
            ids.append(
                await rows.add(
                    conn,
                    code_id=None,
                    chat_id=None,
                    lang="fr",
                    recipient=recipient,
                    subject="Votre code",
                    body=f"Code pour {recipient}",
                    message_id=new_message_id(SENDER),
                    created_at=services.clock.timestamp(),
                )
            )
    return ids


async def waiting_rows(services) -> int:
    return await services.db.fetchval(
        "SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL"
    )


async def test_mails_go_out_while_the_relay_holds_others_and_stop_quits_every_connection(
    services, smtp
):
    """Two mails held at DATA by the relay: the third, queued after them, is delivered while both
    are still held (each took a connection of its own). Once the relay takes them, stop() QUITs
    every connection the pool opened, and there were no more than POOL_SIZE."""
    held = ("slow-1@club.example", "slow-2@club.example")
    relay = RelayWatch(smtp, stall=held)
    outbox = MailOutbox(services)
    outbox.start()
    try:
        await queue_mails(services, held)
        outbox.wake()
        await relay.wait_stalling(2)
        await queue_mails(services, ["quick@club.example"])
        outbox.wake()
        await smtp.mailbox.wait_for("quick@club.example", timeout=15)
        assert [m["rcpt_tos"] for m in smtp.mailbox.messages] == [["quick@club.example"]]
        assert not relay.release.is_set()
    finally:
        relay.release.set()
    await asyncio.wait_for(outbox.idle.wait(), 30)
    assert await waiting_rows(services) == 0
    assert sorted(r for m in smtp.mailbox.messages for r in m["rcpt_tos"]) == [
        "quick@club.example",
        *held,
    ]
    await outbox.stop()
    assert 1 < len(relay.opened) <= POOL_SIZE
    assert sorted(relay.quit) == sorted(relay.opened)


async def test_concurrent_senders_never_send_a_row_twice(services, smtp):
    """The background task and two other senders on the same database, all at once, on rows the
    relay takes slowly enough for them to overlap: each row is claimed by one sender, sent once.
    (They share the Mailer, as the bot's senders do: its pool keeps to the relay's limit.)"""
    recipients = [f"member-{n}@club.example" for n in range(12)]
    relay = RelayWatch(smtp, stall=recipients, stall_for=0.05)  # a slow relay, never released
    await queue_mails(services, recipients)
    background = MailOutbox(services)
    others = [MailOutbox(services), MailOutbox(services)]
    background.start()
    background.wake()
    try:
        await asyncio.gather(*(outbox.send_waiting() for outbox in others))
        await asyncio.wait_for(background.idle.wait(), 30)
    finally:
        await background.stop()
    received = sorted(r for m in smtp.mailbox.messages for r in m["rcpt_tos"])
    assert received == sorted(recipients)
    assert await waiting_rows(services) == 0
    assert await services.db.fetchval("SELECT max(attempts) FROM mail_outbox") == 1
    assert relay.opened  # the relay saw the senders' connections


async def test_a_burst_keeps_to_the_relays_connection_limit(services, smtp):
    """Six mails at once, each held by the relay: three are held at a time (one per connection
    of the pool), none is refused for a connection too many, each goes once."""
    recipients = [f"member-{n}@club.example" for n in range(6)]
    relay = RelayWatch(smtp, stall=recipients)
    outbox = MailOutbox(services)
    outbox.start()
    try:
        await queue_mails(services, recipients)
        outbox.wake()
        await relay.wait_stalling(POOL_SIZE)
    finally:
        relay.release.set()
    await asyncio.wait_for(outbox.idle.wait(), 30)
    await outbox.stop()
    assert sorted(r for m in smtp.mailbox.messages for r in m["rcpt_tos"]) == sorted(recipients)
    assert await services.db.fetchval("SELECT max(attempts) FROM mail_outbox") == 1
    assert smtp.controller.most_connections == POOL_SIZE == len(relay.opened)


async def test_one_mail_at_a_time_reuses_one_kept_connection(services, smtp):
    """Mails one after another (each sent before the next is queued) all go over one connection:
    the pool opens a second one only for mails sent at the same time."""
    relay = RelayWatch(smtp)
    outbox = MailOutbox(services)
    outbox.start()
    try:
        for n in range(4):
            await queue_mails(services, [f"member-{n}@club.example"])
            outbox.wake()
            await asyncio.wait_for(outbox.idle.wait(), 30)
    finally:
        await outbox.stop()
    assert len(smtp.mailbox.messages) == 4
    assert len(relay.opened) == 1 and relay.quit == relay.opened


async def test_a_row_claimed_by_a_sender_is_not_claimed_again_until_released(services):
    first, second = await queue_mails(services, ["a@club.example", "b@club.example"])
    now = services.clock.timestamp()
    taken = await rows.claim(services.db, now, 10)
    assert [mail.id for mail in taken] == [first, second]
    assert await rows.claim(services.db, now, 10) == []
    await rows.release(services.db, first)
    assert [mail.id for mail in await rows.claim(services.db, now, 10)] == [first]
    # A run killed with rows in hand: the next start releases them (one bot per database).
    assert await rows.release_all(services.db) == 2
    assert len(await rows.claim(services.db, now, 10)) == 2


async def test_a_mail_sent_alone_takes_one_claim(services, smtp, monkeypatch):
    """A sign-in's mail, sent while nothing else waits: one claim (a write transaction) finds it;
    the sender done, no second claim runs to find nothing, and the outbox is idle (issue 19)."""
    claims: list[int] = []
    claim = rows.claim

    async def counted(db, now, limit):
        taken = await claim(db, now, limit)
        claims.append(len(taken))
        return taken

    monkeypatch.setattr(rows, "claim", counted)
    outbox = MailOutbox(services)
    outbox.start()
    try:
        await asyncio.wait_for(outbox.idle.wait(), 30)  # the start-up claim: nothing left over
        for n in range(3):
            await queue_mails(services, [f"member-{n}@club.example"])
            outbox.wake()
            await asyncio.wait_for(outbox.idle.wait(), 30)
    finally:
        await outbox.stop()
    assert claims == [0, 1, 1, 1]
    assert len(smtp.mailbox.messages) == 3
    assert await waiting_rows(services) == 0


async def test_a_row_its_sender_released_is_sent_by_the_next(services, smtp, monkeypatch):
    """A sender that cannot settle its row (the database failing after the relay took the mail)
    releases it: the outbox claims it again, although no new row woke it, and then is idle."""
    mark_sent = rows.mark_sent
    failures = [sqlite3.OperationalError("disk I/O error")]

    async def failing_once(conn, mail_id, at):
        if failures:
            raise failures.pop()
        await mark_sent(conn, mail_id, at)

    monkeypatch.setattr(rows, "mark_sent", failing_once)
    outbox = MailOutbox(services)
    outbox.start()
    try:
        await asyncio.wait_for(outbox.idle.wait(), 30)
        (mail_id,) = await queue_mails(services, ["member@club.example"])
        outbox.wake()
        await asyncio.wait_for(outbox.idle.wait(), 30)
    finally:
        await outbox.stop()
    assert await waiting_rows(services) == 0
    assert await services.db.fetchval(
        "SELECT sent_at IS NOT NULL FROM mail_outbox WHERE id = ?", (mail_id,)
    )
    # The relay took it twice: the same message (one Message-ID), which clients show once.
    first, again = smtp.mailbox.messages
    assert first["raw"].split("Message-ID: ")[1][:40] == again["raw"].split("Message-ID: ")[1][:40]


async def test_a_mail_refused_for_good_is_given_up_after_one_try_and_logged_so(tmp_path, caplog):
    """A 5xx ends the mail at once: the log said "given up after 3 tries" all the same."""
    from bot.sandbox.smtp import start_smtp

    relay = await start_smtp(smtputf8=False)  # a non-ASCII local part is refused for good
    services = await open_services(tmp_path / "refused.sqlite3", relay)
    db = services.db
    outbox = MailOutbox(services)
    try:
        [mail_id] = await queue_mails(services, ["bürö@club.example"])
        caplog.set_level("WARNING", logger="bot.outbox")
        outbox.start()
        outbox.wake()
        async with asyncio.timeout(10):
            while await waiting_rows(services):
                await asyncio.sleep(0.02)
        attempts = await db.fetchval("SELECT attempts FROM mail_outbox WHERE id = ?", (mail_id,))
        assert attempts == 1
        assert "given up after 1 try: refused for good by the relay" in caplog.text
        assert "bürö" not in caplog.text  # masked
    finally:
        await outbox.stop()
        await services.mailer.close()
        await db.close()
        relay.stop()
