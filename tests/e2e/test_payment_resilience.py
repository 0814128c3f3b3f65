"""Card payments when things break (issue 7): receipts after a crash mid-notification, a Checkout
Session whose answer never came back, a Stripe too slow to wait for; the real bot and FakeStripe."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from bot import payments
from bot.payments import checkout
from storage import payments as payment_rows
from tests.conftest import STAFF_CHAT, verify
from tests.e2e.test_renew_and_pay import card_link, invoices_of, session_id, settled, to_invoice


class Killed(Exception):
    """kill -9, as far as the code running at that moment can tell."""


def receipts(telegram, chat_id: int) -> int:
    return sum("Paiement reçu" in (m.get("text") or "") for m in telegram.bot_messages(chat_id))


def staff_lines(telegram, number: str) -> int:
    return sum(
        number in (m.get("text") or "") and "payée" in (m.get("text") or "")
        for m in telegram.bot_messages(STAFF_CHAT)
    )


async def paid_by_transfer_unnotified(bot, number: str) -> int:
    """The payment recorded as a process would just before dying: committed, nothing sent."""
    result = await payments.record_payment(bot.services, number, "transfer", "staff:9001")
    assert result.recorded and result.payment.notified_at is None
    return result.payment.id


async def test_receipts_sent_before_a_crash_are_not_sent_again_at_start_up(
    chat, smtp, bot, telegram, monkeypatch
):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    payment_id = await paid_by_transfer_unnotified(bot, number)

    # Killed after the messages went out, before the payment was marked notified.
    async def crash(*args, **kwargs):
        raise Killed

    app_bot = bot.runtime.app.bot
    with monkeypatch.context() as patched, pytest.raises(Killed):
        patched.setattr(payment_rows, "mark_notified", crash)
        await payments.notify_paid(bot.services, app_bot, payment_id)
    assert receipts(telegram, chat.chat_id) == 1 and staff_lines(telegram, number) == 1

    # What start-up does with a payment not marked notified.
    assert [p.id for p in await payment_rows.unnotified(bot.services.db)] == [payment_id]
    await payments.notify_paid(bot.services, app_bot, payment_id)
    assert receipts(telegram, chat.chat_id) == 1, chat.transcript()
    assert staff_lines(telegram, number) == 1
    assert await payment_rows.unnotified(bot.services.db) == []


async def test_a_live_event_and_the_start_up_replay_send_one_receipt(chat, smtp, bot, telegram):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    payment_id = await paid_by_transfer_unnotified(bot, number)
    app_bot = bot.runtime.app.bot
    await asyncio.gather(
        payments.notify_paid(bot.services, app_bot, payment_id),
        payments.notify_paid(bot.services, app_bot, payment_id),
    )
    assert receipts(telegram, chat.chat_id) == 1, chat.transcript()
    assert staff_lines(telegram, number) == 1


async def test_a_receipt_telegram_could_not_take_is_sent_on_the_next_try(chat, smtp, bot, telegram):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    payment_id = await paid_by_transfer_unnotified(bot, number)
    app_bot = bot.runtime.app.bot
    telegram.inject_fault("sendMessage", "500", 1)  # the receipt; the staff line goes through
    await payments.notify_paid(bot.services, app_bot, payment_id)
    assert receipts(telegram, chat.chat_id) == 0 and staff_lines(telegram, number) == 1
    assert [p.id for p in await payment_rows.unnotified(bot.services.db)] == [payment_id]

    await payments.notify_paid(bot.services, app_bot, payment_id)  # start-up or the job
    assert receipts(telegram, chat.chat_id) == 1 and staff_lines(telegram, number) == 1
    assert await payment_rows.unnotified(bot.services.db) == []


async def test_a_session_whose_answer_was_lost_is_handed_out_not_created_twice(
    chat, smtp, bot, stripe
):
    await verify(chat, smtp)
    await to_invoice(chat)
    # Stripe creates the session, answers 500 (kept and replayed to the client's 2 retries), and
    # the bot's look-up for it fails too (3 tries): nothing can be said but "unavailable".
    stripe.inject_fault("500", count=6, after=True)
    replies = await chat.press("Carte")
    assert "indisponible" in replies[-1]["text"] and "Rien n’a été débité" in replies[-1]["text"]
    assert len(stripe.sessions) == 1
    assert await bot.services.db.fetchval("SELECT count(*) FROM checkout_sessions") == 0

    # Pressed again later: other parameters for the same idempotency key, so Stripe refuses the
    # key; the session it created is found and handed out rather than a second one created.
    bot.services.clock.advance(dt.timedelta(minutes=11))
    stripe.advance_clock(11 * 60)
    link = await card_link(chat)
    assert len(stripe.sessions) == 1
    assert session_id(link) == next(iter(stripe.sessions))
    stored = await bot.services.db.fetchall("SELECT id FROM checkout_sessions")
    assert [row["id"] for row in stored] == [session_id(link)]
    assert await stripe.pay(session_id(link))
    await settled(bot, stripe)
    assert (await invoices_of(bot))[0]["status"] == "paid"


async def test_a_session_made_though_stripe_answered_500_is_handed_out_at_once(
    chat, smtp, bot, stripe
):
    """Stripe keeps the 500 for the key and replays it to every retry (docs.stripe.com/
    idempotency): the bot looks the session up and hands it out; nothing is made twice."""
    await verify(chat, smtp)
    await to_invoice(chat)
    stripe.inject_fault("500", count=3, after=True)  # made; the answer and both retries: 500
    link = await card_link(chat)
    assert len(stripe.sessions) == 1 and session_id(link) == next(iter(stripe.sessions))
    assert await stripe.pay(session_id(link))
    await settled(bot, stripe)
    assert (await invoices_of(bot))[0]["status"] == "paid"


async def test_a_stripe_too_slow_gets_a_clear_answer_and_pressing_again_gets_its_session(
    chat, smtp, bot, stripe, monkeypatch
):
    monkeypatch.setattr(checkout, "LINK_WAIT", 0.5)
    await verify(chat, smtp)
    await to_invoice(chat)
    # Carried out at once, answered only after 5 s (longer than the bot waits for a link); the
    # look-up for the session it may have made is as slow.
    stripe.inject_fault("timeout", count=2, delay=5.0)
    replies = await chat.press("Carte")
    assert "indisponible" in replies[-1]["text"], chat.transcript()
    link = await card_link(chat)  # the session Stripe created meanwhile, not a second one
    assert len(stripe.sessions) == 1 and session_id(link) == next(iter(stripe.sessions))
