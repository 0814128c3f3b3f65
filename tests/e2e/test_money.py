"""Issue 13: money is never taken twice unseen, and the real Stripe's rules hold — each case end to
end through the club chat, the staff group and the Stripe stand-in over HTTP."""

from __future__ import annotations

import datetime as dt

from bot.payments.stripe_api import STRIPE_API_VERSION
from bot.sandbox.stripe.money import DEBIT_FAILS, DEBIT_SUCCEEDS
from tests.conftest import STAFF_CHAT, STAFF_USERS, verify
from tests.e2e.test_renew_and_pay import (
    card_link,
    invoices_of,
    session_id,
    settled,
    to_invoice,
)


def advance(bot, stripe, seconds: int) -> None:
    """Time passes for the bot and for Stripe alike."""
    bot.services.clock.advance(dt.timedelta(seconds=seconds))
    stripe.advance_clock(seconds)


def told_failed(chat) -> list[dict]:
    """The club's messages saying a delayed payment failed."""
    return [m for m in chat.telegram.bot_messages(chat.chat_id) if "échoué" in (m["text"] or "")]


def staff_lines(telegram) -> list[dict]:
    return telegram.bot_messages(STAFF_CHAT)


# --- case 1: a link Stripe accepts; a refusal is not "try again" -------------------------------


async def test_every_link_expires_less_than_24_hours_after_stripes_creation(
    chat, smtp, bot, stripe
):
    await verify(chat, smtp)
    await to_invoice(chat)
    session = stripe.session(session_id(await card_link(chat)))
    assert 1800 <= session["expires_at"] - session["created"] < 24 * 3600


async def test_after_the_sandbox_date_moves_card_links_still_work(chat, smtp, bot, stripe):
    await verify(chat, smtp)
    await to_invoice(chat)
    advance(bot, stripe, 20 * 86400)  # `:date +20` moves every clock
    link = await card_link(chat)
    assert link, chat.transcript()
    assert await stripe.pay(session_id(link))
    await settled(bot, stripe)
    assert (await invoices_of(bot))[0]["status"] == "paid"


async def test_a_refusal_retrying_cannot_cure_is_not_told_as_an_outage(
    chat, smtp, bot, stripe, telegram
):
    await verify(chat, smtp)
    await to_invoice(chat)
    stripe.require_version = "2020-08-27"  # the account refuses the bot's requests, every time
    replies = await chat.press("Carte")
    text = replies[-1]["text"]
    assert "Réessayez" not in text and "quelques minutes" not in text
    assert "refusé" in text and "virement" in text
    assert not any("Carte" in label for label in chat.buttons(replies[-1]))
    assert any("refuse de créer" in m["text"] for m in staff_lines(telegram))


# --- case 2: at most one payable session; money beyond an invoice is seen and refunded ---------


async def test_asking_again_near_the_end_closes_the_old_link_first(chat, smtp, bot, stripe):
    await verify(chat, smtp)
    await to_invoice(chat)
    first = session_id(await card_link(chat))
    advance(bot, stripe, 23 * 3600 - 10 * 60)  # 10 minutes left: not handed out again
    await chat.press("Autre moyen")
    second = session_id(await card_link(chat))
    assert second != first
    assert stripe.session(first)["status"] == "expired"
    assert [s["id"] for s in stripe.sessions.values() if s["status"] == "open"] == [second]


async def test_paid_by_hand_closes_the_open_card_link(chat, smtp, bot, stripe, alice):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    link = session_id(await card_link(chat))
    await alice.say(f"/paid {number} virement")
    assert stripe.session(link)["status"] == "expired"
    assert not await stripe.pay(link)  # the club's open tab can no longer take a card


async def test_a_second_payment_is_recorded_and_staff_refund_it_once(
    chat, smtp, bot, stripe, telegram, alice
):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    link = session_id(await card_link(chat))
    stripe.inject_fault("500", count=10, path_prefix="/v1/checkout/sessions/")  # no expiring now
    await alice.say(f"/paid {number} cheque")
    assert await stripe.pay(link)  # the card is taken as well
    await settled(bot, stripe)
    [row] = await bot.services.db.fetchall("SELECT * FROM overpayments")
    assert (row["reason"], row["amount_cents"]) == ("already_paid", 72000)
    alert = next(m for m in staff_lines(telegram) if "en trop" in m["text"])
    assert number in alert["text"] and "720,00" in alert["text"]
    _, data = alice.find_button("Rembourser", alert)
    for staff_user in STAFF_USERS:  # two staff press at the same moment
        await telegram.press(staff_user, alert["message_id"], data, chat_id=STAFF_CHAT)
    await bot.idle()
    assert len(stripe.refunds) == 1
    [refund] = stripe.refunds.values()
    assert refund["amount"] == 72000 and refund["payment_intent"] == row["payment_intent"]
    assert (await bot.services.db.fetchval("SELECT refund_id FROM overpayments")) == refund["id"]


async def _second_payment_alert(chat, smtp, bot, stripe, telegram, alice) -> tuple[dict, str]:
    """A card payment of an invoice paid by cheque meanwhile: the staff alert and its Refund
    button's data."""
    await verify(chat, smtp)
    number = await to_invoice(chat)
    link = session_id(await card_link(chat))
    stripe.inject_fault("500", count=10, path_prefix="/v1/checkout/sessions/")  # no expiring now
    await alice.say(f"/paid {number} cheque")
    assert await stripe.pay(link)
    await settled(bot, stripe)
    stripe._faults.clear()
    alert = next(m for m in staff_lines(telegram) if "en trop" in m["text"])
    _, data = alice.find_button("Rembourser", alert)
    return alert, data


async def _press_refund(bot, telegram, alert: dict, data: str) -> str:
    await telegram.press(STAFF_USERS[0], alert["message_id"], data, chat_id=STAFF_CHAT)
    await bot.idle()
    return staff_lines(telegram)[-1]["text"]


async def test_a_refund_made_though_stripe_answered_500_is_found_not_made_again(
    chat, smtp, bot, stripe, telegram, alice
):
    """Stripe keeps a key's 500 and replays it for 24 hours (docs.stripe.com/idempotency): the
    refund was made, the answer and every retry say 500, and Stripe cannot be asked just then.
    Pressing again finds the refund: done, never a second one, never stuck."""
    alert, data = await _second_payment_alert(chat, smtp, bot, stripe, telegram, alice)
    # The refund, its two retries (replays) and the look-up with its retries all get a 500.
    stripe.inject_fault("500", count=6, path_prefix="/v1/refunds", after=True)
    first = await _press_refund(bot, telegram, alert, data)
    assert "refusé" in first and len(stripe.refunds) == 1
    again = await _press_refund(bot, telegram, alert, data)
    [refund] = stripe.refunds.values()
    assert "déjà été fait" in again and refund["id"] in again
    assert len(stripe.refunds) == 1
    row = await bot.services.db.fetchone("SELECT * FROM overpayments")
    assert (row["refund_id"], row["refund_status"]) == (refund["id"], "succeeded")


async def test_a_refund_stripe_failed_before_making_is_made_on_the_next_press(
    chat, smtp, bot, stripe, telegram, alice
):
    alert, data = await _second_payment_alert(chat, smtp, bot, stripe, telegram, alice)
    stripe.inject_fault("500", count=6, path_prefix="/v1/refunds")  # failed before any refund
    first = await _press_refund(bot, telegram, alert, data)
    assert "refusé" in first and stripe.refunds == {}
    again = await _press_refund(bot, telegram, alert, data)
    [refund] = stripe.refunds.values()
    assert "demandé à Stripe" in again and refund["id"] in again
    keys = [r["idempotency_key"] for r in stripe.requests if r["path"] == "/v1/refunds"]
    assert keys[-1] != keys[0]  # the first key's 500 is replayed for 24 h: a key of its own


async def _crashed_mid_refund(bot, stripe, *, refund_made: bool) -> None:
    """What a bot killed during a Refund press leaves: the press's claim in the database (as the
    code before migration 024 wrote it) and no answer recorded; the refund made at Stripe or not."""
    db = bot.services.db
    row = await db.fetchone("SELECT * FROM overpayments")
    await db.execute(
        "UPDATE overpayments SET refund_status = 'requested', refunded_by = 'staff:1',"
        " refund_attempts = 1 WHERE id = ?",
        (row["id"],),
    )
    if refund_made:  # the request reached Stripe before the process died
        params = {
            "payment_intent": row["payment_intent"],
            "amount": row["amount_cents"],
            "reason": "duplicate",
            "metadata": {"overpayment": str(row["id"]), "session": row["session_id"]},
        }
        key = {"idempotency_key": f"refund-overpayment-{row['id']}-1"}
        await bot.services.stripe.v1.refunds.create_async(params, key)


async def test_a_refund_press_cut_by_a_crash_is_made_on_a_later_press(
    chat, smtp, bot, stripe, telegram, alice
):
    """The claim of a press whose process died was final: every later press answered "already
    done or requested" and the club was never refunded."""
    alert, data = await _second_payment_alert(chat, smtp, bot, stripe, telegram, alice)
    await _crashed_mid_refund(bot, stripe, refund_made=False)
    await bot.restart()
    again = await _press_refund(bot, telegram, alert, data)
    [refund] = stripe.refunds.values()
    assert "demandé à Stripe" in again and refund["id"] in again, again
    row = await bot.services.db.fetchone("SELECT * FROM overpayments")
    assert (row["refund_id"], row["refund_status"]) == (refund["id"], "succeeded")


async def test_a_refund_made_before_a_crash_is_found_by_a_later_press_not_made_again(
    chat, smtp, bot, stripe, telegram, alice
):
    alert, data = await _second_payment_alert(chat, smtp, bot, stripe, telegram, alice)
    await _crashed_mid_refund(bot, stripe, refund_made=True)
    await bot.restart()
    again = await _press_refund(bot, telegram, alert, data)
    [refund] = stripe.refunds.values()
    assert "déjà été fait" in again and refund["id"] in again, again
    assert (await bot.services.db.fetchval("SELECT refund_id FROM overpayments")) == refund["id"]


async def test_a_refund_claim_still_running_is_not_taken_until_it_is_stale(
    chat, smtp, bot, stripe, telegram, alice
):
    import time

    from bot.payments.refunds import CLAIM_TTL
    from storage import payments as payment_rows

    alert, data = await _second_payment_alert(chat, smtp, bot, stripe, telegram, alice)
    services = bot.services
    overpayment_id = await services.db.fetchval("SELECT id FROM overpayments")
    now = int(time.time())
    # Another press's attempt, under way (its Stripe call not answered yet).
    assert await payment_rows.claim_refund(
        services.db, overpayment_id, "staff:1", now=now, stale_before=now - CLAIM_TTL
    )
    advance(bot, stripe, 3 * 86400)  # the sandbox's `:date +3` says nothing of that attempt
    assert "en cours" in await _press_refund(bot, telegram, alert, data)
    assert stripe.refunds == {}  # and the button stays, for a press once the claim is stale
    # CLAIM_TTL seconds later that process is gone: its claim is stale.
    await services.db.execute(
        "UPDATE overpayments SET refund_claimed_at = refund_claimed_at - ?", (CLAIM_TTL + 1,)
    )
    again = await _press_refund(bot, telegram, alert, data)
    [refund] = stripe.refunds.values()
    assert "demandé à Stripe" in again and refund["id"] in again, again


async def test_a_stored_link_stripe_no_longer_knows_is_replaced_not_handed_out_for_ever(
    chat, smtp, bot, stripe
):
    """Stripe answers 404 for a stored session (keys switched from test to live or to another
    account, a database restored elsewhere, `ofbot sandbox --keep` with a fresh Stripe): that
    session can take no money here. It was taken for an outage: its dead URL handed out while
    its time lasted, then "unavailable, try again in a few minutes" for ever, and the reconcile
    job counted an error every 10 minutes."""
    from bot.payments import reconcile

    await verify(chat, smtp)
    await to_invoice(chat)
    old = session_id(await card_link(chat))
    del stripe.sessions[old]  # this Stripe account has no such session
    await chat.press("Autre moyen")
    new = session_id(await card_link(chat))
    assert new != old and stripe.session(new)["status"] == "open", chat.transcript()
    status = "SELECT status FROM checkout_sessions WHERE id = ?"
    assert await bot.services.db.fetchval(status, (old,)) == "expired"
    del stripe.sessions[new]
    summary = await reconcile(bot.services, None)
    assert summary.errors == 0 and summary.expired == 1, summary
    assert await bot.services.db.fetchval(status, (new,)) == "expired"
    await chat.press("Autre moyen")
    assert await stripe.pay(session_id(await card_link(chat)))
    await settled(bot, stripe)
    assert (await invoices_of(bot))[0]["status"] == "paid"


# --- case 3: a session is reused or paid only when it is provably this invoice's -----------------


async def test_a_session_of_a_former_database_is_never_reused_nor_applied(
    chat, smtp, bot, stripe, telegram
):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    old = session_id(await card_link(chat))
    # The database is restored from a backup / the sandbox is reset: invoices start again.
    db = bot.services.db
    for table in ("checkout_sessions", "invoice_payment_keys"):
        await db.execute(f"DELETE FROM {table}")
    await chat.press("Autre moyen")
    new = session_id(await card_link(chat))
    assert new != old and stripe.session(new)["metadata"]["invoice"] == number
    assert stripe.session(old)["metadata"]["invoice"] == number  # same number, other invoice
    assert await stripe.pay(old)
    await settled(bot, stripe)
    assert (await invoices_of(bot))[0]["status"] == "open"  # not applied to today's invoice
    [row] = await db.fetchall("SELECT * FROM overpayments")
    assert row["reason"] == "not_ours" and row["session_id"] == old


# --- case 4: payments that complete later ------------------------------------------------------


async def test_a_delayed_payment_is_pending_blocks_a_second_link_then_pays(chat, smtp, bot, stripe):
    await verify(chat, smtp)
    await to_invoice(chat)
    link = session_id(await card_link(chat))
    assert stripe.pay_by_debit(link, DEBIT_SUCCEEDS)
    await settled(bot, stripe)
    assert "en cours" in chat.last()["text"]
    assert (await invoices_of(bot))[0]["status"] == "open"
    await chat.press("Autre moyen")
    replies = await chat.press("Carte")
    assert any("en cours" in m["text"] for m in replies) and len(stripe.sessions) == 1
    advance(bot, stripe, 3 * 86400)
    await settled(bot, stripe)
    assert (await invoices_of(bot))[0]["status"] == "paid"
    assert "Paiement reçu" in chat.last()["text"]


async def test_a_failed_delayed_payment_lets_the_club_pay_again(chat, smtp, bot, stripe):
    await verify(chat, smtp)
    await to_invoice(chat)
    link = session_id(await card_link(chat))
    assert stripe.pay_by_debit(link, DEBIT_FAILS)
    await settled(bot, stripe)
    advance(bot, stripe, 3 * 86400)
    await settled(bot, stripe)
    assert "échoué" in chat.last()["text"]
    replies = await chat.press("Payer")
    assert any("Carte" in label for label in chat.buttons(replies[-1]))
    fresh = session_id(await card_link(chat))
    assert fresh != link and await stripe.pay(fresh)
    await settled(bot, stripe)
    assert (await invoices_of(bot))[0]["status"] == "paid"


async def test_a_failed_debit_whose_event_never_came_is_found_and_told_once(
    chat, smtp, bot, stripe
):
    """The session stays complete/unpaid after a failed debit; only its PaymentIntent says it
    failed (back at requires_payment_method). Without the event the invoice stayed "payment on
    its way" for ever: no card link again, the reconcile job blind to it."""
    from bot.payments import reconcile

    await verify(chat, smtp)
    await to_invoice(chat)
    link = session_id(await card_link(chat))
    assert stripe.pay_by_debit(link, DEBIT_FAILS)
    await settled(bot, stripe)
    stripe.webhook_url = None  # the failure's event never reaches the bot
    advance(bot, stripe, 3 * 86400)
    stripe.expire_due()
    [failure] = [e for e in stripe.events if e["type"].endswith("async_payment_failed")]
    await reconcile(bot.services, bot.runtime.app.bot)
    await bot.idle()
    assert len(told_failed(chat)) == 1, chat.transcript()
    # Only delayed methods fail this way (a card is declined on Stripe's page): said as a debit.
    assert (
        "prélèvement" in told_failed(chat)[0]["text"]
        and "carte de" not in told_failed(chat)[0]["text"]
    )
    await chat.press("Payer")
    fresh = session_id(await card_link(chat))  # a card link again, not "on its way"
    assert fresh != link
    # The event arrives at last (Stripe's retries): the club is not told a second time.
    stripe.webhook_url = bot.runtime.http.url + "/stripe/webhook"
    await stripe.redeliver(failure["id"])
    await settled(bot, stripe)
    assert len(told_failed(chat)) == 1, chat.transcript()
    assert await stripe.pay(fresh)
    await settled(bot, stripe)
    assert (await invoices_of(bot))[0]["status"] == "paid"


async def test_a_failed_debit_of_a_former_database_is_not_told_to_todays_club(
    chat, smtp, bot, stripe
):
    """Invoice numbers start again after a restore: the failure of an old session that carries
    today's number is nobody's here (the same rule as for a payment: bot/payments/keys.py)."""
    await verify(chat, smtp)
    await to_invoice(chat)
    old = session_id(await card_link(chat))
    assert stripe.pay_by_debit(old, DEBIT_FAILS)
    await settled(bot, stripe)
    db = bot.services.db
    for table in ("checkout_sessions", "invoice_payment_keys"):
        await db.execute(f"DELETE FROM {table}")
    advance(bot, stripe, 3 * 86400)
    stripe.expire_due()
    await settled(bot, stripe)
    assert not told_failed(chat), chat.transcript()


async def test_paid_by_hand_takes_an_invoice_number_never_a_database_id(chat, smtp, bot, alice):
    """`/paid 1` is not an invoice number: it used to pay the invoice whose database id is 1,
    which after the first new year is not OF-<year>-000001 (ids and sequences part then)."""
    await verify(chat, smtp)
    number = await to_invoice(chat)
    [row] = await invoices_of(bot)
    assert row["id"] == 1
    for typed in ("1", "000001", " 1 "):
        replies = await alice.say(f"/paid {typed} virement")
        assert "inconnue" in replies[-1]["text"] and "OF-2026-000123" in replies[-1]["text"]
        assert (await invoices_of(bot))[0]["status"] == "open"
    replies = await alice.say(f"/paid {number.lower()} virement")
    assert (await invoices_of(bot))[0]["status"] == "paid", replies[-1]["text"]


async def test_an_invoice_whose_debit_is_on_its_way_is_not_replaced(chat, smtp, bot, stripe):
    """Replacing it cancelled the invoice the club's bank was paying: the debit then arrived for a
    cancelled invoice (money to refund) while the club was asked to pay the new one as well."""
    await verify(chat, smtp)
    number = await to_invoice(chat)
    link = session_id(await card_link(chat))
    assert stripe.pay_by_debit(link, DEBIT_SUCCEEDS)
    await settled(bot, stripe)
    await chat.say("/start")
    await chat.press("Renouveler")
    replies = await chat.press("5")  # another count for the same period
    replies = await chat.press("Confirmer")
    text = replies[-1]["text"]
    assert "en cours" in text and number in text, chat.transcript()
    assert not any("Remplacer" in label for label in chat.buttons(replies[-1]))
    assert [r["status"] for r in await invoices_of(bot)] == ["open"]
    assert await bot.services.db.fetchval("SELECT count(*) FROM credit_notes") == 0
    advance(bot, stripe, 3 * 86400)
    await settled(bot, stripe)
    assert [r["status"] for r in await invoices_of(bot)] == ["paid"]
    assert await bot.services.db.fetchval("SELECT count(*) FROM overpayments") == 0


async def test_a_replace_button_pressed_once_the_debit_started_replaces_nothing(
    chat, smtp, bot, stripe
):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    link = session_id(await card_link(chat))
    await chat.say("/start")
    await chat.press("Renouveler")
    await chat.press("5")
    offer = await chat.press("Confirmer")
    assert any("Remplacer" in label for label in chat.buttons(offer[-1])), chat.transcript()
    assert stripe.pay_by_debit(link, DEBIT_SUCCEEDS)  # the club's other tab, meanwhile
    await settled(bot, stripe)
    replies = await chat.press("Remplacer", offer[-1])
    assert any("en cours" in m["text"] and number in m["text"] for m in replies), chat.transcript()
    assert [r["status"] for r in await invoices_of(bot)] == ["open"]
    assert await bot.services.db.fetchval("SELECT count(*) FROM credit_notes") == 0


# --- case 7: one pinned API version on every request ----------------------------------------------


async def test_every_stripe_request_names_the_pinned_version(chat, smtp, bot, stripe):
    stripe.require_version = STRIPE_API_VERSION
    await verify(chat, smtp)
    await to_invoice(chat)
    link = session_id(await card_link(chat))
    assert await stripe.pay(link)
    await settled(bot, stripe)
    assert (await invoices_of(bot))[0]["status"] == "paid"
    versions = {r["stripe_version"] for r in stripe.requests}
    assert versions == {STRIPE_API_VERSION}


async def test_an_event_in_another_api_version_is_read_again_in_the_bots(chat, smtp, bot, stripe):
    """Stripe renders events in the webhook endpoint's `api_version`, else the account's default
    (Stripe API reference, Webhook Endpoints), not in the version the bot's requests name: an
    event in another version is not trusted; its session is read through the API in ours."""
    stripe.api_version = "2025-03-31.basil"  # the account's default differs from the bot's
    await verify(chat, smtp)
    await to_invoice(chat)
    link = session_id(await card_link(chat))
    before = len(stripe.requests)
    assert await stripe.pay(link)
    await settled(bot, stripe)
    assert stripe.deliveries[-1]["ok"]
    assert stripe.events[-1]["api_version"] == "2025-03-31.basil"
    read = [
        r
        for r in stripe.requests[before:]
        if r["method"] == "GET" and r["path"] == f"/v1/checkout/sessions/{link}"
    ]
    assert read and {r["stripe_version"] for r in read} == {STRIPE_API_VERSION}
    assert (await invoices_of(bot))[0]["status"] == "paid"


async def test_the_pinned_version_does_not_follow_the_librarys_default(stripe, monkeypatch):
    import stripe as stripe_library

    from bot.payments import make_stripe_client
    from bot.settings import Settings

    monkeypatch.setattr(stripe_library, "api_version", "2025-01-27.acacia")  # another package
    settings = Settings(stripe_secret_key="sk_test_sandbox", stripe_api_url=stripe.base_url)
    client, http = make_stripe_client(settings)
    try:
        await client.v1.checkout.sessions.list_async({"limit": 1})
    finally:
        await http.close_async()
    assert stripe.requests[-1]["stripe_version"] == STRIPE_API_VERSION


# --- a payment of another amount: less than due and more than due are told apart ---------------


async def _pay_amount(chat, smtp, bot, stripe, cents: int) -> str:
    await verify(chat, smtp)
    number = await to_invoice(chat)
    link = session_id(await card_link(chat))
    stripe.sessions[link]["amount_total"] = cents  # the session Stripe completes is for `cents`
    assert await stripe.pay(link)
    await settled(bot, stripe)
    return number


async def test_an_underpayment_is_announced_as_incomplete_not_as_money_in_excess(
    chat, smtp, bot, stripe, telegram
):
    number = await _pay_amount(chat, smtp, bot, stripe, 1)
    [row] = await bot.services.db.fetchall("SELECT * FROM overpayments")
    assert (row["reason"], row["amount_cents"]) == ("amount_mismatch", 1)
    [alert] = [m for m in staff_lines(telegram) if number in m["text"] and "⚠️" in m["text"]]
    text = alert["text"].replace("\u00a0", " ")  # money has a no-break space before €
    assert "en trop" not in text and "de plus" not in text, text
    assert "Paiement incomplet" in text and "0,01 €" in text and "720,00 €" in text, text
    assert "719,99 € de moins que dû" in text and "reste ouverte" in text, text
    [[button]] = alert["reply_markup"]["inline_keyboard"]
    assert button["text"].replace("\u00a0", " ") == "↩️ Rembourser le paiement incomplet : 0,01 €"
    assert (await invoices_of(bot))[0]["status"] == "open"


async def test_an_overpayment_of_the_amount_says_how_much_more(chat, smtp, bot, stripe, telegram):
    number = await _pay_amount(chat, smtp, bot, stripe, 80000)
    [alert] = [m for m in staff_lines(telegram) if number in m["text"] and "⚠️" in m["text"]]
    text = alert["text"].replace("\u00a0", " ")  # money has a no-break space before €
    assert "supérieur au montant dû" in text and "80,00 € de plus que dû" in text, text
    assert "incomplet" not in text
    [[button]] = alert["reply_markup"]["inline_keyboard"]
    assert "supérieur au dû" in button["text"] and "incomplet" not in button["text"]
    assert (await invoices_of(bot))[0]["status"] == "open"
