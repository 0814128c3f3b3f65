"""Payments without Telegram: record_payment once (whoever records it), the on-paid registry, the
renewal moving the subscription on, receipts, webhook verification and dedup, event processing in
any order, card links against the Stripe stand-in (reuse, expiry, idempotency, faults), reconcile."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import types

import pytest
from telegram import Chat, ChatMember, User
from telegram.error import Forbidden

from bot import invoices, payments
from bot.catalogue import add_one_year
from bot.payments import checkout, keys, record_payment
from bot.sandbox.stripe import forged_signature, sign_payload, start_fake_stripe
from storage import clubs as club_rows
from storage import contacts
from storage import invoices as invoice_rows
from tests.unit.test_invoices import TODAY, renew, services_on

SECRET = "whsec_unit"


@pytest.fixture
async def services(tmp_path):
    async with services_on(tmp_path) as built:
        yield built


class FakeBot:
    """Records what would be sent; chats in `blocked` answer Forbidden as Telegram does."""

    def __init__(self, blocked=()):
        self.sent: list[tuple[int, str]] = []
        self.blocked = set(blocked)

    async def send_message(self, chat_id, text, **kwargs):
        if chat_id in self.blocked:
            raise Forbidden("bot was blocked by the user")
        self.sent.append((chat_id, text))

    async def get_chat_member(self, chat_id, user_id):
        return ChatMember(User(user_id, f"Staff {user_id}", False), ChatMember.MEMBER)

    async def get_chat(self, chat_id):
        # The staff group is not a forum here: staff lines go to its one stream.
        return Chat(chat_id, "supergroup")


async def add_contact(services, subdomain, chat_id, lang="fr"):
    club = await club_rows.get_by_subdomain(services.db, subdomain)
    async with services.db.transaction() as conn:
        await contacts.upsert(
            conn,
            club_id=club.id,
            chat_id=chat_id,
            user_id=chat_id,
            display_name="x",
            language=lang,
            email_kind="structure",
            verified_at="2026-11-26T10:00:00+01:00",
        )


# --- record_payment ---------------------------------------------------------------------------


async def test_paying_a_renewal_moves_the_subscription_on_in_one_go(services):
    invoice = (await renew(services, count=6)).invoice
    result = await record_payment(services, invoice.number, "transfer", "staff:9001")
    assert result.status == "paid" and result.recorded
    club = await club_rows.get_by_subdomain(services.db, "mermoz")
    assert club.subscription_ends == add_one_year(dt.date(2026, 12, 16))
    assert club.subscribed_resources == 6
    assert result.invoice.status == "paid" and result.payment.amount_cents == 93600
    actions = [
        row["action"] for row in await services.db.fetchall("SELECT action FROM audit ORDER BY id")
    ]
    assert actions[-2:] == ["club.renewed", "invoice.paid"]


async def test_paying_twice_changes_nothing_and_says_so(services):
    invoice = (await renew(services)).invoice
    first = await record_payment(services, invoice.id, "cheque", "staff:1")
    ends = (await club_rows.get(services.db, invoice.club_id)).subscription_ends
    second = await record_payment(services, invoice.id, "card", "stripe:evt_x")
    assert second.status == "already_paid" and second.payment.id == first.payment.id
    assert second.payment.method == "cheque"
    assert (await club_rows.get(services.db, invoice.club_id)).subscription_ends == ends
    assert await services.db.fetchval("SELECT count(*) FROM payments") == 1


async def test_many_payments_at_once_record_one(services):
    invoice = (await renew(services)).invoice
    results = await asyncio.gather(
        *(record_payment(services, invoice.id, "card", f"stripe:{n}") for n in range(10))
    )
    assert [r.status for r in results].count("paid") == 1
    assert await services.db.fetchval("SELECT count(*) FROM payments") == 1


async def test_cancelled_unknown_and_bad_method_are_refused(services):
    invoice = (await renew(services)).invoice
    assert (await record_payment(services, invoice.id, "bitcoin", "x")).status == "bad_method"
    assert (await record_payment(services, "OF-2026-999999", "cheque", "x")).status == "not_found"
    await invoices.cancel_invoice(services, invoice.id, actor="staff:1")
    assert (await record_payment(services, invoice.id, "cheque", "x")).status == "cancelled"
    assert await services.db.fetchval("SELECT count(*) FROM payments") == 0


async def test_a_lapsed_club_runs_to_the_invoiced_period_end(services):
    services.clock.advance(dt.timedelta(days=30))
    invoice = (await renew(services)).invoice
    await record_payment(services, invoice.id, "card", "x")
    club = await club_rows.get(services.db, invoice.club_id)
    assert club.subscription_ends == invoice.period_end
    assert invoice.period_end == add_one_year(services.clock.today()) - dt.timedelta(days=1)


async def test_a_plan_change_is_recorded_on_payment(services):
    invoice = (await renew(services, plan="business_plus", count=4)).invoice
    await record_payment(services, invoice.id, "card", "x")
    assert (await club_rows.get(services.db, invoice.club_id)).plan == "business_plus"


async def test_the_on_paid_registry_runs_the_kind_hooks(services, monkeypatch):
    seen = []

    async def in_tx(conn, svc, invoice):
        seen.append(("tx", invoice.number, conn.in_transaction))

    async def after(svc, bot, invoice):
        seen.append(("after", invoice.number, bot is not None))

    monkeypatch.setitem(payments.ON_PAID, "migration", payments.PaidHooks(in_tx, after))
    club = await club_rows.get_by_subdomain(services.db, "icare")
    from bot.catalogue import quote_migration

    quote = quote_migration(services.catalogue, plan_id=club.plan, country="FR", vat_number=None)
    issued = await invoices.issue_invoice(
        services, club_id=club.id, kind="migration", quote=quote, actor="staff:1"
    )
    await record_payment(services, issued.invoice.id, "transfer", "staff:1", bot=FakeBot())
    assert seen == [("tx", issued.invoice.number, True), ("after", issued.invoice.number, True)]


async def test_receipts_go_to_every_active_contact_in_its_language_and_staff_once(services):
    services.settings = dataclasses.replace(services.settings, staff_chat_id=-100)
    await add_contact(services, "mermoz", 11, "fr")
    await add_contact(services, "mermoz", 12, "en")
    await add_contact(services, "mermoz", 13, "fr")
    await add_contact(services, "icare", 14, "fr")  # another club: nothing
    bot = FakeBot(blocked={13})
    invoice = (await renew(services)).invoice
    await record_payment(services, invoice.id, "card", "stripe:evt_1", bot=bot)
    by_chat = dict(bot.sent)
    assert set(by_chat) == {11, 12, -100}
    assert "Paiement reçu" in by_chat[11] and "Payment received" in by_chat[12]
    assert "16 décembre 2027" in by_chat[11] and "16 December 2027" in by_chat[12]
    assert invoice.number in by_chat[-100] and "carte" in by_chat[-100]
    assert not (await contacts.get(services.db, invoice.club_id, 13)).active
    assert await services.db.fetchval("SELECT notified_at IS NOT NULL FROM payments")
    await payments.notify_paid(services, bot, 1)  # already notified: nothing more
    assert len(bot.sent) == 3


# --- the webhook ------------------------------------------------------------------------------


def event(type_="checkout.session.completed", number="OF-2026-000001", key=None, **session):
    obj = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "status": "complete",
        "payment_status": "paid",
        "amount_total": 72000,
        "currency": "eur",
        "client_reference_id": number,
        "metadata": {"invoice": number, "club": "mermoz"},
        "payment_intent": "pi_1",
    }
    if key:  # the invoice's payment key: the session is provably this invoice's
        obj["metadata"]["invoice_key"] = key
    obj.update(session)
    return {"id": f"evt_{type_}_{obj['status']}", "type": type_, "data": {"object": obj}}


@pytest.fixture
def webhook_services(services):
    services.settings = dataclasses.replace(services.settings, stripe_webhook_secret=SECRET)
    return services


async def test_a_good_signature_stores_the_event_once(webhook_services):
    payload = json.dumps(event()).encode()
    header = sign_payload(payload, SECRET)
    update = await payments.receive_webhook(webhook_services, payload, header)
    assert update.event_id == "evt_checkout.session.completed_complete"
    assert update.lock_key == ("invoice", "OF-2026-000001")
    again = await payments.receive_webhook(webhook_services, payload, header)
    assert again == update  # stored once, still to process
    assert await webhook_services.db.fetchval("SELECT count(*) FROM stripe_events") == 1
    await payments.process_event(webhook_services, None, update.event_id)
    assert await payments.receive_webhook(webhook_services, payload, header) is None


@pytest.mark.parametrize("kind", ["forged", "missing", "stale", "garbage", "other_body"])
async def test_bad_signatures_are_refused_and_nothing_is_stored(webhook_services, kind):
    payload = json.dumps(event()).encode()
    header = {
        "forged": forged_signature(payload),
        "missing": None,
        "stale": sign_payload(payload, SECRET, int(webhook_services.clock.timestamp()) - 600),
        "garbage": "nonsense",
        "other_body": sign_payload(b'{"id": "evt_other"}', SECRET),
    }[kind]
    with pytest.raises(payments.WebhookRefused):
        await payments.receive_webhook(webhook_services, payload, header)
    assert await webhook_services.db.fetchval("SELECT count(*) FROM stripe_events") == 0


async def test_no_secret_configured_refuses_everything(services):
    payload = json.dumps(event()).encode()
    with pytest.raises(payments.WebhookRefused):
        await payments.receive_webhook(services, payload, sign_payload(payload, SECRET))


async def _deliver(services, body: dict, bot=None) -> str | None:
    payload = json.dumps(body).encode()
    update = await payments.receive_webhook(services, payload, sign_payload(payload, SECRET))
    if update is None:
        return None
    return await payments.process_event(services, bot, update.event_id)


async def test_events_in_any_order_leave_the_invoice_paid(webhook_services):
    invoice = (await renew(webhook_services)).invoice
    key = await keys.key_of(webhook_services, invoice)
    expired = event("checkout.session.expired", status="expired", payment_status="unpaid", key=key)
    completed = event(key=key)
    assert await _deliver(webhook_services, completed) == "paid"
    assert await _deliver(webhook_services, expired) == "expired"
    assert await _deliver(webhook_services, completed) is None
    stored = await invoice_rows.get(webhook_services.db, invoice.id)
    assert stored.status == "paid"
    assert await webhook_services.db.fetchval("SELECT count(*) FROM payments") == 1


async def test_async_payment_succeeded_pays_and_unpaid_completion_waits(webhook_services):
    invoice = (await renew(webhook_services)).invoice
    key = await keys.key_of(webhook_services, invoice)
    pending = event(payment_status="unpaid", key=key)
    assert await _deliver(webhook_services, pending) == "pending"
    assert (await invoice_rows.get(webhook_services.db, invoice.id)).status == "open"
    succeeded = event("checkout.session.async_payment_succeeded", id="cs_test_1", key=key)
    assert await _deliver(webhook_services, succeeded) == "paid"


async def test_async_payment_failed_tells_the_club(webhook_services):
    await add_contact(webhook_services, "mermoz", 11)
    invoice = (await renew(webhook_services)).invoice
    bot = FakeBot()
    key = await keys.key_of(webhook_services, invoice)  # the session is provably this invoice's
    failed = event("checkout.session.async_payment_failed", payment_status="unpaid", key=key)
    assert await _deliver(webhook_services, failed, bot) == "payment_failed"
    assert bot.sent and invoice.number in bot.sent[0][1] and "échoué" in bot.sent[0][1]
    assert (await invoice_rows.get(webhook_services.db, invoice.id)).status == "open"


async def test_a_wrong_amount_is_not_taken_as_payment(webhook_services):
    webhook_services.settings = dataclasses.replace(webhook_services.settings, staff_chat_id=-100)
    invoice = (await renew(webhook_services)).invoice
    bot = FakeBot()
    key = await keys.key_of(webhook_services, invoice)
    mismatch = event(amount_total=100, key=key)
    assert await _deliver(webhook_services, mismatch, bot) == "amount_mismatch"
    assert (await invoice_rows.get(webhook_services.db, invoice.id)).status == "open"
    assert bot.sent[0][0] == -100 and "de moins que dû" in bot.sent[0][1]


async def test_unknown_invoice_and_other_events_are_recorded(webhook_services):
    assert await _deliver(webhook_services, event(number="OF-2026-424242")) == "unknown_invoice"
    other = {"id": "evt_other", "type": "customer.created", "data": {"object": {}}}
    assert await _deliver(webhook_services, other) == "ignored"
    rows = await webhook_services.db.fetchall("SELECT processed_at FROM stripe_events")
    assert all(row["processed_at"] for row in rows)


async def test_start_up_replays_unprocessed_events_and_unsent_receipts(webhook_services):
    invoice = (await renew(webhook_services)).invoice
    payload = json.dumps(event()).encode()
    await payments.receive_webhook(webhook_services, payload, sign_payload(payload, SECRET))
    await record_payment(webhook_services, invoice.id, "cheque", "staff:1")  # no bot: not notified
    await add_contact(webhook_services, "mermoz", 11)

    app = types.SimpleNamespace(
        bot_data={"services": webhook_services},
        bot=FakeBot(),
        job_queue=None,
        update_queue=asyncio.Queue(),
    )
    await payments.replay_on_startup(app)
    queued = app.update_queue.get_nowait()
    assert queued.event_id == "evt_checkout.session.completed_complete"
    assert app.bot.sent and "Paiement reçu" in app.bot.sent[0][1]


# --- card links and reconcile against the Stripe stand-in ------------------------------------


@pytest.fixture
async def fake_stripe(services):
    fake, server = await start_fake_stripe(api_key="sk_test_unit", webhook_secret=SECRET)
    settings = dataclasses.replace(
        services.settings, stripe_secret_key="sk_test_unit", stripe_api_url=fake.base_url
    )
    services.settings = settings
    services.bot_username = "ofbot_test_bot"
    client, http = payments.make_stripe_client(settings)
    services.stripe = client
    # The stand-in and the bot agree on the time (the bot's clock is set to TODAY).
    fake._offset = services.clock.timestamp() - fake._clock()
    yield fake
    await http.close_async()
    await server.stop()


async def test_a_card_link_is_reused_while_open_and_renewed_after_expiry(services, fake_stripe):
    invoice = (await renew(services)).invoice
    first = await payments.card_link(services, invoice, "fr")
    assert not first.reused and first.url.startswith(fake_stripe.base_url)
    again = await payments.card_link(services, invoice, "fr")
    assert again.reused and again.url == first.url
    session = next(iter(fake_stripe.sessions.values()))
    names = [item["description"] for item in fake_stripe.line_items[session["id"]]]
    assert names == ["Abonnement annuel Business", "Ressources (Business)", "TVA 20 %"]
    assert session["amount_total"] == invoice.ttc_cents
    assert session["success_url"] == "https://t.me/ofbot_test_bot?start=paid_OF-2026-000001"
    services.clock.advance(dt.timedelta(hours=24, seconds=1))
    fake_stripe.advance_clock(24 * 3600 + 1)
    fresh = await payments.card_link(services, invoice, "fr")
    assert not fresh.reused and fresh.url != first.url
    sent = [r["idempotency_key"] for r in fake_stripe.requests if r["method"] == "POST"]
    key = await keys.key_of(services, invoice)  # the invoice's own: never another's after a restore
    assert sent == [f"checkout-OF-2026-000001-{key}-1", f"checkout-OF-2026-000001-{key}-2"]


async def test_a_link_close_to_its_end_is_not_handed_out(services, fake_stripe):
    invoice = (await renew(services)).invoice
    first = await payments.card_link(services, invoice, "fr")
    services.clock.advance(dt.timedelta(hours=23, minutes=50))
    fake_stripe.advance_clock(23 * 3600 + 50 * 60)
    fresh = await payments.card_link(services, invoice, "fr")
    assert fresh.url != first.url and len(fake_stripe.sessions) == 2


async def test_another_language_with_the_same_attempt_takes_the_next_key(services, fake_stripe):
    invoice = (await renew(services)).invoice
    # A run that created attempt 1 in French and stopped before storing it.
    key = await keys.key_of(services, invoice)
    params = checkout._checkout_params(
        services, invoice, await club_rows.get(services.db, invoice.club_id), "fr", key
    )
    orphan = await services.stripe.v1.checkout.sessions.create_async(
        params, {"idempotency_key": f"checkout-OF-2026-000001-{key}-1"}
    )
    link = await payments.card_link(services, invoice, "en")
    assert link.url and len(fake_stripe.sessions) == 2
    assert fake_stripe.requests[-1]["idempotency_key"] == f"checkout-OF-2026-000001-{key}-2"
    # One payable session per invoice: the French one nobody stored is closed.
    assert fake_stripe.session(orphan.id)["status"] == "expired"


async def test_a_replayed_create_returns_the_same_session(services, fake_stripe):
    """The first create reached Stripe but its answer was lost: the retry gets the same one."""
    invoice = (await renew(services)).invoice
    fake_stripe.inject_fault("connection_reset", after=True)
    link = await payments.card_link(services, invoice, "fr")
    assert len(fake_stripe.sessions) == 1 and link.url


async def test_a_500_kept_for_the_key_moves_to_the_next_key_once_none_was_created(
    services, fake_stripe
):
    """Stripe replays a key's 500 for 24 hours (docs.stripe.com/idempotency): the same key can
    never succeed. No session was made: the next attempt, with a key of its own, makes one."""
    invoice = (await renew(services)).invoice
    fake_stripe.inject_fault("500")  # inside the endpoint, before any session is made
    link = await payments.card_link(services, invoice, "fr")
    assert link.url and len(fake_stripe.sessions) == 1
    key = await keys.key_of(services, invoice)
    posts = [
        (r["idempotency_key"], r["status"]) for r in fake_stripe.requests if r["method"] == "POST"
    ]
    assert posts[0] == (f"checkout-OF-2026-000001-{key}-1", 500)
    assert posts[-1] == (f"checkout-OF-2026-000001-{key}-2", 200)
    [row] = await services.db.fetchall("SELECT id, attempt FROM checkout_sessions")
    assert (row["id"], row["attempt"]) == (next(iter(fake_stripe.sessions)), 2)


async def test_a_500_after_the_session_was_made_hands_that_session_out(services, fake_stripe):
    invoice = (await renew(services)).invoice
    fake_stripe.inject_fault("500", after=True)  # the session is made, the answer is a 500
    link = await payments.card_link(services, invoice, "fr")
    [made] = fake_stripe.sessions
    assert link.url and made in link.url and len(fake_stripe.sessions) == 1
    again = await payments.card_link(services, invoice, "fr")
    assert again.reused and again.url == link.url


async def test_a_500_on_expire_is_looked_up_not_taken_for_expired(services, fake_stripe):
    invoice = (await renew(services)).invoice
    first = await payments.card_link(services, invoice, "fr")
    services.clock.advance(dt.timedelta(hours=22, minutes=50))  # 10 minutes left: not handed out
    fake_stripe.advance_clock(22 * 3600 + 50 * 60)
    [made] = fake_stripe.sessions
    fake_stripe.inject_fault("500", count=3, path_prefix=f"/v1/checkout/sessions/{made}/expire")
    with pytest.raises(payments.PaymentUnavailable):  # could not close it: no second link
        await payments.card_link(services, invoice, "fr")
    assert [s["status"] for s in fake_stripe.sessions.values()] == ["open"]
    fresh = await payments.card_link(services, invoice, "fr")
    assert fresh.url != first.url
    assert [s["status"] for s in fake_stripe.sessions.values()] == ["expired", "open"]


async def test_a_key_in_use_by_another_request_is_waited_for_not_a_failure(services, fake_stripe):
    """Another process of ours is creating this attempt's session (same key) and Stripe is slow:
    it answers 409 `idempotency_key_in_use` meanwhile. In progress: wait, ask again, get it."""
    invoice = (await renew(services)).invoice
    key = await keys.key_of(services, invoice)
    club = await club_rows.get(services.db, invoice.club_id)
    params = checkout._checkout_params(services, invoice, club, "fr", key)
    fake_stripe.inject_fault("slow", delay=3.0)
    elsewhere = asyncio.create_task(
        services.stripe.v1.checkout.sessions.create_async(
            params, {"idempotency_key": f"checkout-OF-2026-000001-{key}-1"}
        )
    )
    while not fake_stripe._keys_in_use:
        await asyncio.sleep(0.01)
    link = await payments.card_link(services, invoice, "fr")
    made = await elsewhere
    assert made.id in link.url and len(fake_stripe.sessions) == 1
    assert any(r["status"] == 409 for r in fake_stripe.requests)


async def test_stripe_errors_give_payment_unavailable_and_store_nothing(services, fake_stripe):
    invoice = (await renew(services)).invoice
    fake_stripe.inject_fault("500", count=20)  # the create, its retries, and the look-up
    with pytest.raises(payments.PaymentUnavailable) as error:
        await payments.card_link(services, invoice, "fr")
    assert error.value.reason == "stripe_error"
    assert await services.db.fetchval("SELECT count(*) FROM checkout_sessions") == 0


async def test_no_stripe_configured_and_closed_invoices(services):
    invoice = (await renew(services)).invoice
    with pytest.raises(payments.PaymentUnavailable) as error:
        await payments.card_link(services, invoice, "fr")
    assert error.value.reason == "not_configured"


async def test_a_link_asked_for_a_session_paid_meanwhile_records_the_payment(services, fake_stripe):
    invoice = (await renew(services)).invoice
    link = await payments.card_link(services, invoice, "fr")
    fake_stripe.webhook_url = None
    assert await fake_stripe.pay(link.url.rsplit("/", 1)[1])
    again = await payments.card_link(services, invoice, "fr")
    assert again.paid
    assert (await invoice_rows.get(services.db, invoice.id)).status == "paid"


async def test_reconcile_finds_paid_sessions_even_unstored_ones(services, fake_stripe):
    first = (await renew(services)).invoice
    second = (await renew(services, "icare", plan="first_price", count=3)).invoice
    link = await payments.card_link(services, first, "fr")
    # A session for the second invoice that the bot never stored (it stopped right after).
    params = checkout._checkout_params(
        services,
        second,
        await club_rows.get(services.db, second.club_id),
        "fr",
        await keys.key_of(services, second),
    )
    orphan = await services.stripe.v1.checkout.sessions.create_async(params)
    assert await fake_stripe.pay(link.url.rsplit("/", 1)[1])
    assert await fake_stripe.pay(orphan.id)
    summary = await payments.reconcile(services, None)
    assert (summary.paid, summary.errors) == (2, 0), summary
    for invoice in (first, second):
        assert (await invoice_rows.get(services.db, invoice.id)).status == "paid"
    again = await payments.reconcile(services, None)
    assert again.paid == 0
    assert "paid: 0" in str(again)


async def test_replacing_an_invoice_expires_its_open_links(services, fake_stripe):
    invoice = (await renew(services)).invoice
    link = await payments.card_link(services, invoice, "fr")
    await renew(services, count=5, replace=invoice.id)
    await payments.expire_links(services, invoice.id)
    assert fake_stripe.session(link.url.rsplit("/", 1)[1])["status"] == "expired"


async def test_today_is_fixed_for_these_tests(services):
    assert services.clock.today() == TODAY
