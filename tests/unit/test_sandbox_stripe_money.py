"""The Stripe stand-in as strict as Stripe where the bot's money depends on it (issue 13):
`expires_at` less than 24 h after creation on its own clock, a pinned `Stripe-Version`, delayed
payments (SEPA Direct Debit) that settle days later, and refunds created once."""

from __future__ import annotations

import httpx
import pytest
import stripe

from bot.sandbox.serve import serving
from bot.sandbox.stripe import start_fake_stripe
from bot.sandbox.stripe.money import DEBIT_FAILS, DEBIT_SUCCEEDS
from tests.unit.test_sandbox_stripe import (
    API_KEY,
    FAST,
    SECRET,
    Receiver,
    client_for,
    create,
    session_params,
)


@pytest.fixture
async def fake():
    hook = Receiver()
    async with serving(hook.app) as running:
        stand_in, server = await start_fake_stripe(
            api_key=API_KEY,
            webhook_secret=SECRET,
            webhook_url=running.url + "/stripe/webhook",
            retry_delays=FAST,
        )
        yield stand_in
        await server.stop()


@pytest.fixture
def client(fake) -> stripe.StripeClient:
    return client_for(fake, max_network_retries=0)


PINNED = "2026-10-28.endive"


async def test_expires_at_must_be_less_than_24_hours_after_creation_on_its_own_clock(fake, client):
    fake.advance_clock(7200)  # the stand-in's clock is two hours ahead of the caller's
    now = int(fake.now())
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await create(client, expires_at=now + 86400)
    assert "less than 24 hours" in refused.value.user_message
    await create(client, expires_at=now + 86399)
    with pytest.raises(stripe.InvalidRequestError):  # fine on the caller's clock, not on Stripe's
        await create(client, expires_at=now - 7200 + 1800 + 60)
    session = await create(client)  # Stripe's default: 24 hours
    assert session.expires_at - session.created == 86400


async def test_a_malformed_stripe_version_is_refused(fake):
    client = client_for(fake, max_network_retries=0, stripe_version="yesterday")
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.checkout.sessions.create_async(session_params())


async def test_an_account_can_require_its_pinned_version(fake):
    fake.require_version = PINNED
    unpinned = client_for(fake, max_network_retries=0, stripe_version="2024-06-20")
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await unpinned.v1.checkout.sessions.create_async(session_params())
    assert PINNED in refused.value.user_message
    async with httpx.AsyncClient() as http:  # no Stripe-Version header at all
        answer = await http.get(f"{fake.base_url}/v1/checkout/sessions", auth=(API_KEY, ""))
    assert answer.status_code == 400 and PINNED in answer.json()["error"]["message"]
    pinned = client_for(fake, max_network_retries=0, stripe_version=PINNED)
    session = await pinned.v1.checkout.sessions.create_async(session_params())
    assert fake.requests[-1]["stripe_version"] == PINNED and session.status == "open"


@pytest.mark.parametrize(
    ("iban", "outcome"), [(DEBIT_SUCCEEDS, "succeeded"), (DEBIT_FAILS, "failed")]
)
async def test_a_debit_completes_unpaid_then_settles_days_later(fake, client, iban, outcome):
    session = await create(client)
    assert fake.pay_by_debit(session.id, iban)
    now = fake.session(session.id)
    assert (now["status"], now["payment_status"]) == ("complete", "unpaid")
    completed = fake.events[-1]
    assert completed["type"] == "checkout.session.completed"
    assert completed["data"]["object"]["payment_status"] == "unpaid"
    intent = await client.v1.payment_intents.retrieve_async(now["payment_intent"])
    assert intent.status == "processing"
    fake.advance_clock(2 * 86400)
    assert fake.events[-1]["type"] == "checkout.session.completed"  # not yet
    fake.advance_clock(86400)
    settled = fake.events[-1]
    assert settled["type"] == f"checkout.session.async_payment_{outcome}"
    expected = "paid" if outcome == "succeeded" else "unpaid"
    assert fake.session(session.id)["payment_status"] == expected
    assert fake.session(session.id)["status"] == "complete"


async def test_a_debit_needs_a_euro_session_that_allows_it(fake, client):
    card_only = await create(client, payment_method_types=["card"])
    assert not fake.pay_by_debit(card_only.id, DEBIT_SUCCEEDS)
    assert not fake.pay_by_debit((await create(client)).id, "FR7630006000011234567890189")


async def test_a_refund_is_made_once_per_idempotency_key_and_never_beyond_the_payment(fake, client):
    session = await create(client)
    assert await fake.pay(session.id)
    intent = fake.session(session.id)["payment_intent"]
    params = {"payment_intent": intent, "reason": "duplicate"}
    first = await client.v1.refunds.create_async(params, {"idempotency_key": "refund-1"})
    again = await client.v1.refunds.create_async(params, {"idempotency_key": "refund-1"})
    assert first.id == again.id and len(fake.refunds) == 1
    assert (first.amount, first.status) == (session.amount_total, "succeeded")
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await client.v1.refunds.create_async(params, {"idempotency_key": "refund-2"})
    assert refused.value.code == "charge_already_refunded"
    assert (await client.v1.refunds.retrieve_async(first.id)).payment_intent == intent


async def test_refunds_are_listed_by_payment_intent_newest_first(fake, client):
    first, second = await create(client), await create(client)
    assert await fake.pay(first.id) and await fake.pay(second.id)
    intent = fake.session(first.id)["payment_intent"]
    made = await client.v1.refunds.create_async(
        {"payment_intent": intent, "amount": 100, "metadata": {"overpayment": "7"}}
    )
    await client.v1.refunds.create_async(
        {"payment_intent": fake.session(second.id)["payment_intent"]}
    )
    listed = await client.v1.refunds.list_async({"payment_intent": intent})
    assert [r.id for r in listed.data] == [made.id]
    assert listed.data[0].metadata["overpayment"] == "7"
    assert len((await client.v1.refunds.list_async({"limit": 1})).data) == 1
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.refunds.list_async({"status": "succeeded"})


async def test_a_payment_still_processing_cannot_be_refunded(fake, client):
    session = await create(client)
    assert fake.pay_by_debit(session.id, DEBIT_SUCCEEDS)
    intent = fake.session(session.id)["payment_intent"]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await client.v1.refunds.create_async({"payment_intent": intent})
    assert refused.value.code == "charge_not_refundable"
