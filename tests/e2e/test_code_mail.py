"""The one-time code's mail through the real conversation (issue 13, case 6): an address with an
internationalised domain, typed in another spelling, through a relay without SMTPUTF8; a club
name with a line break; a mail that failed for an unexpected reason never counts; a relay slow
to take one person's mail holds back no one else's (issue 19)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from bot.mail import Mailer
from bot.sandbox.smtp import start_smtp
from storage import clubs as club_rows
from tests.conftest import CLUB_USER_2, Chat, RelayWatch, read_code, sample_club

IDN = "bureau@aéroclub-évreux.fr"
IDN_ASCII = "bureau@xn--aroclub-vreux-bhbh.fr"
MERMOZ = sample_club("mermoz")
LESAILES = sample_club("lesailes")


async def set_club(bot, **fields) -> None:
    club = await club_rows.get_by_subdomain(bot.services.db, "mermoz")
    async with bot.services.db.transaction() as conn:
        await club_rows.update_fields(conn, club.id, **fields)


async def codes_counted(bot) -> int:
    return await bot.services.db.fetchval(
        "SELECT count(*) FROM verification_attempts WHERE kind = 'code'"
    )


@pytest.fixture
async def relay_without_smtputf8(bot):
    server = await start_smtp(smtputf8=False)
    settings = dataclasses.replace(bot.services.settings, smtp_port=server.port)
    bot.services.mailer = Mailer(settings)
    yield server
    server.stop()


@pytest.mark.parametrize("typed", [IDN_ASCII, "BUREAU@AE\u0301ROCLUB-E\u0301VREUX.FR"])
async def test_an_idn_address_typed_otherwise_gets_its_code_through_a_relay_without_smtputf8(
    chat, bot, relay_without_smtputf8, typed
):
    await set_club(bot, structure_email=IDN)
    await chat.say("/start mermoz")
    await chat.say(typed)
    code = await read_code(relay_without_smtputf8, IDN_ASCII)
    replies = await chat.say(code)
    assert "Menu" in replies[-1]["text"] or replies[-1].get("reply_markup"), chat.transcript()
    assert await bot.services.db.fetchval("SELECT count(*) FROM contacts") == 1


async def test_a_line_break_in_the_club_name_does_not_stop_its_code_mail(chat, bot, smtp):
    await set_club(bot, name="Aéroclub\nMermoz")
    await chat.say("/start mermoz")
    await chat.say(MERMOZ["structure_email"])
    message = await smtp.mailbox.wait_for(to=MERMOZ["structure_email"])
    assert "\n" not in message["subject"] and "Mermoz" in message["subject"]
    assert await codes_counted(bot) == 1


async def test_a_code_not_mailed_never_counts_whatever_the_error(chat, bot, smtp, monkeypatch):
    async def broken(to, subject, body, **kwargs):
        raise RuntimeError("a bug in the mailer")

    monkeypatch.setattr(bot.services.mailer, "send", broken)
    for _ in range(4):
        await chat.say("/start mermoz")
        await chat.say(MERMOZ["structure_email"])
    # The mail goes out after the reply (bot/outbox.py): wait for it to be given up.
    await asyncio.wait_for(bot.services.outbox.idle.wait(), 30)
    assert await codes_counted(bot) == 0
    assert not await bot.services.db.fetchval("SELECT count(*) FROM verification_codes")


async def test_an_address_the_relay_refuses_for_good_is_not_told_try_again_later(
    chat, bot, relay_without_smtputf8
):
    await set_club(bot, structure_email="bürö@mermoz.example.fr")
    await chat.say("/start mermoz")
    replies = await chat.say("bürö@mermoz.example.fr")
    # The code step answers at once; the relay's refusal is told right after (bot/outbox.py).
    told = await chat.telegram.wait_for_bot_message(
        chat.chat_id, after=replies[-1]["message_id"], contains="réessayer", timeout=15
    )
    assert "quelques minutes" not in told["text"] and "réessayer n’y changera rien" in told["text"]
    await asyncio.wait_for(bot.services.outbox.idle.wait(), 30)
    assert await codes_counted(bot) == 0


async def test_a_relay_stalling_on_one_persons_code_mail_does_not_hold_back_anothers(
    chat, telegram, bot, smtp
):
    """The relay holds Jeanne's code mail at DATA (as when it checks a slow recipient domain):
    Paul's code mail, asked for just after, arrives while hers is still held, and his code works;
    once the relay takes hers, she gets it too, each mail once (bot/mail.py: POOL_SIZE)."""
    relay = RelayWatch(smtp, stall=(MERMOZ["structure_email"],))
    paul = Chat(telegram, bot, CLUB_USER_2)
    try:
        await chat.say("/start mermoz")
        await chat.say(MERMOZ["structure_email"])
        await relay.wait_stalling()
        await paul.say("/start lesailes")
        await paul.say(LESAILES["structure_email"])
        code = await read_code(smtp, LESAILES["structure_email"])
        assert smtp.mailbox.messages_to(MERMOZ["structure_email"]) == []  # hers still held
        assert not relay.release.is_set()
        replies = await paul.say(code)
        assert "Menu" in replies[-1]["text"] or replies[-1].get("reply_markup"), paul.transcript()
    finally:
        relay.release.set()
    code = await read_code(smtp, MERMOZ["structure_email"])
    replies = await chat.say(code)
    assert "Menu" in replies[-1]["text"] or replies[-1].get("reply_markup"), chat.transcript()
    await asyncio.wait_for(bot.services.outbox.idle.wait(), 30)
    assert len(smtp.mailbox.messages_to(MERMOZ["structure_email"])) == 1
    assert len(smtp.mailbox.messages_to(LESAILES["structure_email"])) == 1
