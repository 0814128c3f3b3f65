"""The sandbox Stripe server, driven over loopback HTTP by the official `stripe` client and httpx:
Checkout Sessions, idempotency, expiry, the checkout page, and signed webhooks with retries."""

from __future__ import annotations

import asyncio
import html.parser
import json
import re
import time

import httpx
import pytest
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.sandbox.serve import serving
from bot.sandbox.stripe import (
    FakeStripe,
    decode_params,
    forged_signature,
    format_amount,
    start_fake_stripe,
)
from bot.sandbox.stripe.rules import DEFAULT_API_VERSION

API_KEY = "sk_test_unit_4242"
SECRET = "whsec_unit_secret"
FAST = (0.01, 0.01, 0.01)


def session_params(**changes) -> dict:
    params = {
        "mode": "payment",
        "success_url": "https://club.example/paid?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://club.example/cancelled",
        "client_reference_id": "OF-2026-000123",
        "customer_email": "tresorier@mermoz.example",
        "metadata": {"invoice": "OF-2026-000123", "club": "mermoz"},
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "eur",
                    "unit_amount": 100000,
                    "product_data": {"name": "Abonnement Standard 2026"},
                },
            },
            {
                "quantity": 2,
                "price_data": {
                    "currency": "eur",
                    "unit_amount": 11728,
                    "product_data": {"name": "Ressource supplémentaire"},
                },
            },
        ],
    }
    params.update(changes)
    return params


class Receiver:
    """A webhook endpoint that verifies with stripe-python and can be told to fail."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.fail_next = 0
        self.received: list[dict] = []  # every request: status, headers, body
        self.events: list[stripe.Event] = []
        self.app = Starlette(routes=[Route("/stripe/webhook", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        header = request.headers.get("stripe-signature")
        status = 200
        if self.fail_next > 0:
            self.fail_next -= 1
            status = 500
        else:
            try:
                self.events.append(stripe.Webhook.construct_event(body, header, self.secret))
            except (stripe.SignatureVerificationError, ValueError):
                status = 400
        self.received.append({"status": status, "signature": header, "body": body})
        return Response(status_code=status)


@pytest.fixture
async def receiver():
    hook = Receiver()
    async with serving(hook.app) as running:
        hook.url = running.url + "/stripe/webhook"
        yield hook


@pytest.fixture
async def fake(receiver):
    fake, server = await start_fake_stripe(
        api_key=API_KEY,
        webhook_secret=SECRET,
        webhook_url=receiver.url,
        retry_delays=FAST,
    )
    yield fake
    await server.stop()


def client_for(fake: FakeStripe, key: str = API_KEY, **kwargs) -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": fake.base_url},
        http_client=stripe.HTTPXClient(**kwargs.pop("http", {})),
        **kwargs,
    )


@pytest.fixture
def client(fake) -> stripe.StripeClient:
    return client_for(fake, max_network_retries=0)


async def create(client: stripe.StripeClient, key: str | None = None, **changes):
    options = {"idempotency_key": key} if key else None
    return await client.v1.checkout.sessions.create_async(session_params(**changes), options)


# -- the wire format -----------------------------------------------------------------------------


def test_bracket_notation_decodes_to_nested_values():
    pairs = [
        ("mode", "payment"),
        ("line_items[0][quantity]", "1"),
        ("line_items[0][price_data][unit_amount]", "1500"),
        ("line_items[1][quantity]", "2"),
        ("metadata[invoice]", "OF-1"),
        ("metadata[0]", "digits stay a hash key"),
        ("expand[]", "line_items"),
        ("expand[]", "payment_intent"),
    ]
    assert decode_params(pairs) == {
        "mode": "payment",
        "line_items": [
            {"quantity": "1", "price_data": {"unit_amount": "1500"}},
            {"quantity": "2"},
        ],
        "metadata": {"invoice": "OF-1", "0": "digits stay a hash key"},
        "expand": ["line_items", "payment_intent"],
    }


def test_amounts_read_like_euros():
    assert format_amount(123456, "eur") == "1 234,56 €"
    assert format_amount(5, "EUR") == "0,05 €"
    assert format_amount(100000000, "eur") == "1 000 000,00 €"
    assert format_amount(1500, "jpy") == "1 500 JPY"


# -- Checkout Sessions through stripe-python ---------------------------------------------------


async def test_create_returns_a_checkout_session_shaped_like_stripes(fake, client):
    before = int(time.time())
    session = await create(client, "renew-OF-2026-000123")
    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert session.mode == "payment"
    assert (session.status, session.payment_status) == ("open", "unpaid")
    assert session.amount_subtotal == session.amount_total == 100000 + 2 * 11728
    assert session.currency == "eur"
    assert session.client_reference_id == "OF-2026-000123"
    assert session.metadata.to_dict() == {"invoice": "OF-2026-000123", "club": "mermoz"}
    assert session.customer_email == "tresorier@mermoz.example"
    assert session.payment_intent is None
    assert session.livemode is False
    assert session.url == f"{fake.base_url}/checkout/{session.id}"
    assert session.expires_at - session.created == 24 * 3600
    assert session.created >= before
    assert "line_items" not in session  # only when expanded
    sent = fake.requests[-1]
    assert sent["idempotency_key"] == "renew-OF-2026-000123"
    assert sent["stripe_version"] == stripe.api_version
    assert sent["params"]["line_items"][1]["price_data"]["product_data"]["name"] == (
        "Ressource supplémentaire"
    )
    assert fake.events == []


async def test_line_items_can_be_expanded_and_listed(client):
    session = await client.v1.checkout.sessions.create_async(session_params(expand=["line_items"]))
    lines = session.line_items.data
    assert [(li.description, li.quantity, li.amount_total) for li in lines] == [
        ("Abonnement Standard 2026", 1, 100000),
        ("Ressource supplémentaire", 2, 23456),
    ]
    assert lines[1].price.unit_amount == 11728
    listed = await client.v1.checkout.sessions.line_items.list_async(session.id)
    assert [li.id for li in listed.data] == [li.id for li in lines]


async def test_same_idempotency_key_and_params_replay_the_same_session(fake, client):
    first = await create(client, "key-1")
    second = await create(client, "key-1")
    assert second.id == first.id
    assert len(fake.sessions) == 1
    assert second.last_response.headers.get("idempotent-replayed") == "true"
    assert fake.requests[-1]["replayed"] is True


async def test_same_key_with_other_params_is_an_idempotency_error(client):
    await create(client, "key-2")
    with pytest.raises(stripe.IdempotencyError) as raised:
        await create(client, "key-2", client_reference_id="OF-2026-000999")
    assert "same parameters" in raised.value.user_message
    assert raised.value.http_status == 400


async def test_one_key_used_at_once_makes_one_session(fake, client):
    sessions = await asyncio.gather(*(create(client, "key-race") for _ in range(6)))
    assert len({s.id for s in sessions}) == 1
    assert len(fake.sessions) == 1


async def test_every_post_carries_a_key_and_different_keys_make_different_sessions(fake, client):
    first = await create(client)
    second = await create(client)
    assert first.id != second.id
    keys = [r["idempotency_key"] for r in fake.requests]
    assert all(keys) and keys[0] != keys[1]  # stripe-python adds one to every POST


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"mode": None}, "mode"),
        ({"line_items": None}, "line_items"),
        ({"success_url": None}, "success_url"),
        (
            {"line_items": [{"price_data": {"currency": "eur", "unit_amount": 5000}}]},
            "line_items[0][quantity]",
        ),
        (
            {
                "line_items": [
                    {"quantity": 1, "price_data": {"currency": "eur", "unit_amount": 5000}}
                ]
            },
            "line_items[0][price_data][product_data]",
        ),
        (
            {
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {"currency": "eur", "product_data": {"name": "x"}},
                    }
                ]
            },
            "line_items[0][price_data][unit_amount]",
        ),
    ],
)
async def test_missing_params_are_named(client, change, param):
    params = session_params(**change)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.checkout.sessions.create_async(params)
    assert raised.value.param == param
    assert raised.value.code == "parameter_missing"
    assert raised.value.http_status == 400


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"expires_at": int(time.time()) + 10 * 60}, "expires_at"),
        ({"expires_at": int(time.time()) + 25 * 3600}, "expires_at"),
        ({"client_reference_id": "x" * 201}, "client_reference_id"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata"),
        ({"metadata": {"k" * 41: "v"}}, "metadata[" + "k" * 41 + "]"),
        ({"customer_email": "not-an-address"}, "customer_email"),
        ({"success_url": "club.example/paid"}, "success_url"),
        ({"mode": "subscription"}, "mode"),
        ({"locale": "klingon"}, "locale"),
        ({"colour": "blue"}, "colour"),
        (
            {
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": "eur",
                            "unit_amount": -1,
                            "product_data": {"name": "x"},
                        },
                    }
                ]
            },
            "line_items[0][price_data][unit_amount]",
        ),
    ],
)
async def test_invalid_params_are_refused_like_stripe(client, change, param):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.checkout.sessions.create_async(session_params(**change))
    assert raised.value.param == param
    assert raised.value.http_status == 400


async def test_expires_at_within_the_allowed_window_is_kept(client):
    expires_at = int(time.time()) + 23 * 3600
    session = await create(client, expires_at=expires_at)
    assert session.expires_at == expires_at


async def test_a_refused_request_does_not_burn_its_idempotency_key(fake, client):
    with pytest.raises(stripe.InvalidRequestError):
        await create(client, "key-3", success_url=None)
    session = await create(client, "key-3")
    assert session.status == "open"


async def test_a_wrong_api_key_is_an_authentication_error(fake):
    with pytest.raises(stripe.AuthenticationError) as raised:
        await create(client_for(fake, "sk_test_wrong_key_9999", max_network_retries=0))
    assert raised.value.http_status == 401
    assert "Invalid API Key provided: sk_test_" in raised.value.user_message
    assert "wrong_key" not in raised.value.user_message
    async with httpx.AsyncClient() as http:
        response = await http.get(fake.base_url + "/v1/checkout/sessions")
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "invalid_request_error"
        basic = await http.get(fake.base_url + "/v1/checkout/sessions", auth=(API_KEY, ""))
        assert basic.status_code == 200
    assert fake.sessions == {}


async def test_retrieve_expire_and_list(fake, client):
    first = await create(client)
    second = await create(client)
    got = await client.v1.checkout.sessions.retrieve_async(first.id)
    assert (got.id, got.status) == (first.id, "open")

    expired = await client.v1.checkout.sessions.expire_async(
        first.id, options={"idempotency_key": "expire-1"}
    )
    assert expired.status == "expired"
    assert expired.url is None
    again = await client.v1.checkout.sessions.expire_async(
        first.id, options={"idempotency_key": "expire-1"}
    )
    assert again.status == "expired"  # the replay, not an error
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.checkout.sessions.expire_async(first.id)
    assert 'status in ["open"] can be expired' in raised.value.user_message

    [event] = fake.events
    assert event["type"] == "checkout.session.expired"
    assert event["request"]["idempotency_key"] == "expire-1"

    listed = await client.v1.checkout.sessions.list_async({"limit": 1})
    assert [s.id for s in listed.data] == [second.id]  # newest first
    assert listed.has_more is True
    rest = await client.v1.checkout.sessions.list_async({"starting_after": second.id})
    assert [s.id for s in rest.data] == [first.id]
    assert rest.has_more is False
    open_only = await client.v1.checkout.sessions.list_async({"status": "open"})
    assert [s.id for s in open_only.data] == [second.id]


async def test_an_unknown_session_is_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.checkout.sessions.retrieve_async("cs_test_nope")
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.param == "session"
    assert raised.value.user_message == "No such checkout.session: 'cs_test_nope'"


async def test_sessions_expire_by_themselves_when_the_clock_passes_expires_at(fake, client):
    session = await create(client)
    fake.advance_clock(25 * 3600)
    got = await client.v1.checkout.sessions.retrieve_async(session.id)
    assert got.status == "expired"
    events = await client.v1.events.list_async({"type": "checkout.session.*"})
    assert [e.type for e in events.data] == ["checkout.session.expired"]
    assert events.data[0].data.object.id == session.id
    assert events.data[0].request.id is None  # not caused by an API request
    event = await client.v1.events.retrieve_async(events.data[0].id)
    assert event.id == events.data[0].id
    delivery = await fake.wait_for_delivery(event.id)
    assert delivery["type"] == "checkout.session.expired"


async def test_an_unrecognised_url_is_a_404_invalid_request(client, fake):
    async with httpx.AsyncClient() as http:
        response = await http.delete(
            f"{fake.base_url}/v1/checkout/sessions/cs_x",
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith("Unrecognized request URL (DELETE:")


# -- the checkout page ---------------------------------------------------------------------------


async def test_the_page_shows_the_amount_lines_and_labelled_card_fields(fake, client):
    session = await create(client)
    async with httpx.AsyncClient() as http:
        response = await http.get(session.url)
    assert response.status_code == 200
    page = response.text
    assert "€1,234.56" in page  # no locale, no browser language: the English page
    assert "Abonnement Standard 2026" in page and "Ressource supplémentaire" in page
    for field in ("card_number", "expiry", "cvc", "name"):
        assert f'<label for="{field}">' in page
        assert f'id="{field}" name="{field}"' in page
    assert 'name="viewport"' in page
    assert "<link" not in page and "<script" not in page and "src=" not in page


async def test_paying_with_4242_completes_and_a_signed_webhook_arrives(fake, client, receiver):
    session = await create(client, "key-pay")
    async with httpx.AsyncClient() as http:
        response = await http.post(
            session.url,
            data={
                "card_number": "4242 4242 4242 4242",
                "expiry": "12 / 34",
                "cvc": "123",
                "name": "Jeanne Pilote",
            },
        )
    assert response.status_code == 303
    assert response.headers["location"] == f"https://club.example/paid?session={session.id}"

    delivery = await fake.wait_for_delivery(type="checkout.session.completed")
    assert delivery["status"] == 200
    [event] = receiver.events
    assert event.type == "checkout.session.completed"
    assert event.id.startswith("evt_")
    assert event.api_version == stripe.api_version
    assert event.livemode is False
    paid = event.data.object
    assert (paid.id, paid.status, paid.payment_status) == (session.id, "complete", "paid")
    assert paid.payment_intent.startswith("pi_")
    assert paid.metadata["invoice"] == "OF-2026-000123"
    assert paid.client_reference_id == "OF-2026-000123"
    assert paid.amount_total == 123456
    assert paid.customer_details.name == "Jeanne Pilote"
    assert paid.customer_details.email == "tresorier@mermoz.example"
    raw = json.loads(receiver.received[0]["body"])
    assert set(raw) >= {"id", "object", "api_version", "created", "data", "livemode"}
    assert set(raw) >= {"pending_webhooks", "request", "type"}
    assert raw["object"] == "event"
    assert receiver.received[0]["signature"].startswith("t=")

    got = await client.v1.checkout.sessions.retrieve_async(
        session.id, {"expand": ["payment_intent"]}
    )
    assert got.status == "complete"
    assert got.payment_intent.status == "succeeded"
    assert got.payment_intent.amount_received == 123456
    # The idempotent replay is the stored first answer, as Stripe keeps it.
    assert (await create(client, "key-pay")).status == "open"

    async with httpx.AsyncClient() as http:
        again = await http.post(session.url, data={"card_number": "4242424242424242"})
        page = await http.get(session.url)
    assert again.status_code == 409
    assert "already complete" in page.text
    assert len(fake.events) == 1


async def test_a_telegram_success_url_shows_a_return_page(fake, client):
    session = await create(client, success_url="https://t.me/ofbot_sandbox_bot?start=paid")
    async with httpx.AsyncClient() as http:
        response = await http.post(session.url, data={"card_number": "4242424242424242"})
        cancel = await http.get(session.url + "/cancel")
    assert response.status_code == 200
    assert "Payment received — return to Telegram" in response.text
    assert 'href="https://t.me/ofbot_sandbox_bot?start=paid"' in response.text
    assert cancel.status_code == 303
    assert cancel.headers["location"] == "https://club.example/cancelled"


@pytest.mark.parametrize(
    ("card", "status", "message"),
    [
        ("4000 0000 0000 0002", 402, "Your card was declined."),
        ("4000000000009995", 402, "Your card has insufficient funds."),
        ("4242 4242 4242 4241", 400, "Your card number is invalid."),
        ("1234", 400, "Your card number is invalid."),
    ],
)
async def test_a_refused_card_keeps_the_session_open_and_sends_nothing(
    fake, client, card, status, message
):
    session = await create(client)
    async with httpx.AsyncClient() as http:
        response = await http.post(session.url, data={"card_number": card})
    assert response.status_code == status
    assert message in response.text
    assert 'role="alert"' in response.text
    got = await client.v1.checkout.sessions.retrieve_async(session.id)
    assert (got.status, got.payment_status) == ("open", "unpaid")
    assert fake.events == []
    assert await fake.pay(session.id, card="4000000000000002") is False
    assert await fake.pay(session.id) is True


async def test_an_expired_session_cannot_be_paid(fake, client):
    session = await create(client)
    fake.advance_clock(24 * 3600 + 1)
    async with httpx.AsyncClient() as http:
        page = await http.get(session.url)
        post = await http.post(session.url, data={"card_number": "4242424242424242"})
    assert page.status_code == 410
    assert "expired" in page.text
    assert post.status_code == 410
    assert await fake.pay(session.id) is False
    assert [e["type"] for e in fake.events] == ["checkout.session.expired"]


# -- webhooks ------------------------------------------------------------------------------------


async def test_a_failing_receiver_gets_the_event_again_until_it_answers_2xx(fake, client, receiver):
    receiver.fail_next = 2
    session = await create(client)
    assert await fake.pay(session.id)
    await fake.drain()
    attempts = [(d["attempt"], d["status"]) for d in fake.deliveries]
    assert attempts == [(1, 500), (2, 500), (3, 200)]
    assert [e.data.object.id for e in receiver.events] == [session.id]
    assert fake.events[0]["pending_webhooks"] == 0


async def test_an_unreachable_receiver_is_retried_then_given_up(fake, client):
    fake.webhook_url = "http://127.0.0.1:9/stripe/webhook"  # nothing listens on port 9
    session = await create(client)
    assert await fake.pay(session.id)
    await fake.drain()
    assert len(fake.deliveries) == 1 + len(FAST)
    assert all(d["status"] is None and d["error"] for d in fake.deliveries)
    assert fake.events[0]["pending_webhooks"] == 1


async def test_duplicate_deliveries_send_each_event_several_times(fake, client, receiver):
    fake.duplicate_deliveries = 2
    session = await create(client)
    assert await fake.pay(session.id)
    await fake.drain()
    assert [e.id for e in receiver.events] == [fake.events[0]["id"]] * 2


async def test_redeliver_sends_a_stored_event_again(fake, client, receiver):
    session = await create(client)
    assert await fake.pay(session.id)
    await fake.drain()
    record = await fake.redeliver(fake.events[0]["id"])
    assert record["ok"] is True
    assert [e.id for e in receiver.events] == [fake.events[0]["id"]] * 2


async def test_forged_missing_and_stale_signatures_are_rejected(fake, receiver):
    event = {"id": "evt_forged", "object": "event", "type": "checkout.session.completed"}
    payload = json.dumps(event)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, forged_signature(payload), SECRET)
    assert stripe.Webhook.construct_event(payload, fake.signature_header(payload), SECRET).id == (
        "evt_forged"
    )
    for kind in ("forged", "missing", "stale"):
        record = await fake.send_event(event, signature=kind)
        assert record["status"] == 400, kind
    assert (await fake.send_event(event))["status"] == 200
    assert [e.id for e in receiver.events] == ["evt_forged"]


async def test_events_are_rendered_in_the_accounts_version_or_the_endpoints_not_the_requests(
    fake, receiver
):
    """Stripe API reference, Webhook Endpoints `api_version`: "Events sent to this endpoint will be
    generated with this Stripe Version instead of your account's default Stripe Version"; the
    version a request names shapes its own answer only."""
    older = client_for(fake, max_network_retries=0, stripe_version="2025-03-31.basil")
    session = await create(older)
    assert await fake.pay(session.id)
    await fake.wait_for_delivery(type="checkout.session.completed")
    [event] = receiver.events
    assert event.api_version == DEFAULT_API_VERSION  # the account's, not the request's

    endpoint = await client_for(fake, max_network_retries=0).v1.webhook_endpoints.create_async(
        {"url": receiver.url, "enabled_events": ["*"], "api_version": "2025-03-31.basil"}
    )
    assert endpoint.api_version == "2025-03-31.basil"
    second = await create(client_for(fake, max_network_retries=0))
    assert await fake.pay(second.id)
    listed = fake.events[-1]
    await fake.wait_for_delivery(listed["id"])
    assert receiver.events[-1].api_version == "2025-03-31.basil"  # the endpoint's
    assert listed["api_version"] == DEFAULT_API_VERSION  # the event object itself: the account's


# -- faults --------------------------------------------------------------------------------------


async def test_a_500_is_kept_for_its_key_and_every_retry_gets_it_again(fake):
    """Stripe saves the first result for a key "regardless of whether it succeeds or fails" and
    later requests "return the same result, including 500 errors" (docs.stripe.com/idempotency)."""
    fake.inject_fault("500", 1)
    with pytest.raises(stripe.APIError) as raised:
        await create(client_for(fake, max_network_retries=2), "key-500")
    assert raised.value.http_status == 500
    requests = [
        (r["idempotency_key"], r["fault"], r["status"], r["replayed"]) for r in fake.requests
    ]
    assert requests == [
        ("key-500", "500", 500, False),
        ("key-500", None, 500, True),
        ("key-500", None, 500, True),
    ]
    assert fake.sessions == {}  # failed before its effect
    session = await create(client_for(fake, max_network_retries=0), "key-500-2")
    assert session.status == "open" and len(fake.sessions) == 1


async def test_a_500_after_the_effect_is_replayed_and_the_effect_stands(fake, client):
    fake.inject_fault("500", 1, after=True)
    with pytest.raises(stripe.APIError):
        await create(client, "key-500-after")
    assert len(fake.sessions) == 1  # created, though the answer was a 500
    with pytest.raises(stripe.APIError) as again:
        await create(client, "key-500-after")
    assert again.value.headers.get("idempotent-replayed") == "true"
    assert len(fake.sessions) == 1


async def test_a_key_in_use_by_a_request_still_running_gets_a_409(fake, client):
    """Stripe: a request made while another with its key is executing is not saved and gets
    409 `idempotency_error` / `idempotency_key_in_use` (stripe-go ErrorCodeIdempotencyKeyInUse)."""
    fake.inject_fault("slow", 1, delay=1.0)
    first = asyncio.create_task(create(client, "key-busy"))
    while "key-busy" not in fake._keys_in_use:
        await asyncio.sleep(0.01)
    with pytest.raises(stripe.APIError) as raised:  # stripe-python: a v1 409 is an APIError
        await create(client, "key-busy")
    assert raised.value.http_status == 409
    error = raised.value.json_body["error"]
    assert (error["type"], error["code"]) == ("idempotency_error", "idempotency_key_in_use")
    created = await first
    assert len(fake.sessions) == 1
    again = await create(client, "key-busy")  # once it is done: the replay
    assert again.id == created.id


async def test_a_raw_concurrent_request_with_the_same_key_gets_a_409(fake):
    fake.inject_fault("slow", 1, delay=1.0)
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "raw-key"}
    body = {"payment_intent": "pi_missing"}
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        first = asyncio.create_task(http.post("/v1/refunds", data=body, headers=headers))
        while "raw-key" not in fake._keys_in_use:
            await asyncio.sleep(0.01)
        second = await http.post("/v1/refunds", data=body, headers=headers)
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "idempotency_key_in_use"
        assert (await first).status_code == 404


async def test_a_500_without_retries_is_an_api_error(fake, client):
    fake.inject_fault("500", 1)
    with pytest.raises(stripe.APIError) as raised:
        await create(client)
    assert raised.value.http_status == 500
    assert fake.sessions == {}


async def test_a_dropped_connection_after_the_work_is_healed_by_the_replay(fake):
    fake.inject_fault("connection_reset", 1, after=True)
    session = await create(client_for(fake, max_network_retries=1), "key-reset")
    assert len(fake.sessions) == 1
    assert [(r["replayed"], r["fault"]) for r in fake.requests] == [
        (False, "connection_reset"),
        (True, None),
    ]
    assert session.id in fake.sessions


async def test_a_dropped_connection_is_a_connection_error(fake, client):
    fake.inject_fault("connection_reset", 1)
    with pytest.raises(stripe.APIConnectionError):
        await create(client)


async def test_a_timeout_then_a_retry_with_the_same_key_gets_the_first_session(fake):
    fake.inject_fault("timeout", 1, delay=30)
    impatient = client_for(fake, max_network_retries=0, http={"timeout": 0.3})
    with pytest.raises(stripe.APIConnectionError):
        await create(impatient, "key-timeout")
    [created] = fake.sessions
    again = await create(client_for(fake, max_network_retries=0), "key-timeout")
    assert again.id == created


# -- control over HTTP ---------------------------------------------------------------------------


async def test_the_sandbox_control_endpoints(fake, client):
    session = await create(client)
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        listed = (await http.get("/sandbox/sessions")).json()
        assert [s["id"] for s in listed["data"]] == [session.id]
        assert listed["data"][0]["line_items"]["data"][0]["quantity"] == 1
        paid = await http.post("/sandbox/pay", json={"session": session.id, "card": "4242"})
        assert paid.status_code == 400
        paid = await http.post(
            "/sandbox/pay", json={"session": session.id, "card": "4242424242424242"}
        )
        assert paid.json()["ok"] is True
        clock = (await http.post("/sandbox/clock", json={"advance_seconds": 3600})).json()
        assert clock["now"] >= int(time.time()) + 3600 - 5
        assert (await http.post("/sandbox/fault", json={"kind": "500", "count": 1})).is_success
        assert (await http.post("/sandbox/fault", json={"kind": "nope"})).status_code == 400
        events = (await http.get("/sandbox/events")).json()["data"]
        assert [e["type"] for e in events] == ["checkout.session.completed"]
        await fake.drain()
        deliveries = (await http.get("/sandbox/deliveries")).json()["data"]
        assert [d["status"] for d in deliveries] == [200]
    with pytest.raises(stripe.APIError):
        await create(client)


async def test_the_card_checks_use_stripes_words(fake, client):
    session = await create(client)
    fields = {"card_number": "4242424242424242", "expiry": "01/20", "cvc": "123"}
    async with httpx.AsyncClient() as http:
        past = await http.post(session.url, data=fields)
        short = await http.post(session.url, data={**fields, "expiry": "12/40", "cvc": "1"})
    assert past.status_code == short.status_code == 400
    assert "Your card's expiration year is in the past." in past.text
    assert "Your card's security code is incomplete." in short.text
    assert fake.sessions[session.id]["status"] == "open"


async def test_the_sweep_expires_sessions_with_an_injected_clock(receiver):
    now = [1_900_000_000.0]
    fake, server = await start_fake_stripe(
        api_key=API_KEY,
        webhook_secret=SECRET,
        webhook_url=receiver.url,
        clock=lambda: now[0],
        sweep_interval=0.01,
    )
    try:
        session = await create(client_for(fake, max_network_retries=0))
        assert session.created == 1_900_000_000
        now[0] += 24 * 3600  # no request, no advance_clock: the sweep notices
        delivery = await fake.wait_for_delivery(type="checkout.session.expired")
        assert receiver.events[0].data.object.id == session.id
        assert receiver.events[0].created == 1_900_000_000 + 24 * 3600
        assert delivery["ok"] is True
    finally:
        await server.stop()


# -- account: the balance and webhook endpoints (what `ofbot doctor` reads) ------------------


async def test_the_balance_proves_the_key_and_tells_its_mode(fake, client):
    balance = await client.v1.balance.retrieve_async()
    assert balance.object == "balance" and balance.livemode is False
    with pytest.raises(stripe.AuthenticationError):
        await client_for(fake, "sk_test_wrong", max_network_retries=0).v1.balance.retrieve_async()


async def test_webhook_endpoints_created_listed_disabled_and_deleted(fake, client):
    events = ["checkout.session.completed", "checkout.session.expired"]
    created = await client.v1.webhook_endpoints.create_async(
        {"url": "https://bot.example/stripe/webhook", "enabled_events": events}
    )
    assert created.id.startswith("we_") and created.secret == SECRET
    assert created.status == "enabled" and created.enabled_events == events
    listed = await client.v1.webhook_endpoints.list_async({"limit": 100})
    assert [e.id for e in listed.data] == [created.id]
    assert "secret" not in listed.data[0]  # shown once, at creation
    updated = await client.v1.webhook_endpoints.update_async(created.id, {"disabled": True})
    assert updated.status == "disabled"
    deleted = await client.v1.webhook_endpoints.delete_async(created.id)
    assert deleted.deleted is True
    assert (await client.v1.webhook_endpoints.list_async()).data == []
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.webhook_endpoints.retrieve_async(created.id)


@pytest.mark.parametrize(
    "params",
    [
        {"url": "https://bot.example/stripe/webhook"},
        {"url": "https://bot.example/stripe/webhook", "enabled_events": ["Not An Event"]},
        {"url": "not a url", "enabled_events": ["*"]},
    ],
)
async def test_webhook_endpoints_refuse_what_stripe_refuses(client, params):
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.webhook_endpoints.create_async(params)


async def test_a_live_key_needs_an_https_endpoint():
    fake, server = await start_fake_stripe(api_key="sk_live_unit_4242", webhook_secret=SECRET)
    try:
        client = client_for(fake, "sk_live_unit_4242", max_network_retries=0)
        assert (await client.v1.balance.retrieve_async()).livemode is True
        with pytest.raises(stripe.InvalidRequestError, match="HTTPS"):
            await client.v1.webhook_endpoints.create_async(
                {"url": "http://bot.example/stripe/webhook", "enabled_events": ["*"]}
            )
    finally:
        await server.stop()


# -- the checkout page's language (issue 17 item 5) ----------------------------------------------


async def test_the_checkout_page_speaks_the_sessions_locale(fake, client):
    """Stripe shows its hosted page in the session's `locale`; the bot asks for "fr" for a
    French-speaking club (the stand-in answered in English whatever the locale)."""
    session = await create(client, locale="fr")
    async with httpx.AsyncClient() as http:
        page = await http.get(session.url, headers={"Accept-Language": "en-US"})
        refused = await http.post(session.url, data={"card_number": "4000000000000002"})
    assert page.status_code == 200 and page.headers["content-language"] == "fr"
    assert '<html lang="fr">' in page.text
    for words in ("Payer", "Numéro de carte", "Payer par carte", "Total à payer"):
        assert words in page.text
    assert "Pay with card" not in page.text and "Card number" not in page.text
    assert refused.status_code == 402 and "Votre carte a été refusée." in refused.text


async def test_auto_or_no_locale_follows_the_browser(fake, client):
    session = await create(client, locale="auto")
    plain = await create(client)
    async with httpx.AsyncClient() as http:
        french = await http.get(session.url, headers={"Accept-Language": "fr-FR,fr;q=0.9"})
        english = await http.get(plain.url, headers={"Accept-Language": "de-DE"})
        fixed = await create(client, locale="en")
        still_english = await http.get(fixed.url, headers={"Accept-Language": "fr"})
    assert "Payer par carte" in french.text
    assert "Pay with card" in english.text
    assert "Pay with card" in still_english.text


class VisibleText(html.parser.HTMLParser):
    """The words a person sees on a page: text outside <style>/<code>, placeholders, the title."""

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "code"):
            self._skip += 1
        for name, value in attrs:
            if name in ("placeholder", "aria-label", "alt", "title") and value:
                self.handle_data(value)

    def handle_endtag(self, tag):
        if tag in ("style", "code"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.words += re.findall(r"[^\W\d_]+", data.lower())


def visible_words(page: str) -> set[str]:
    parser = VisibleText()
    parser.feed(page)
    return set(parser.words)


ENGLISH_WORDS = {
    "the",
    "of",
    "or",
    "and",
    "pay",
    "card",
    "debit",
    "account",
    "holder",
    "after",
    "days",
    "fails",
    "paid",
    "authorise",
    "payment",
    "sandbox",
    "checkout",
    "return",
    "yy",
    "link",
    "nothing",
    "this",
    "found",
    "expired",
    "with",
}
FRENCH_WORDS = {
    "le",
    "la",
    "du",
    "des",
    "ou",
    "payer",
    "carte",
    "prélèvement",
    "titulaire",
    "compte",
    "jours",
    "paiement",
    "aa",
    "bac",
    "sable",
    "lien",
    "revenez",
    "votre",
}


@pytest.mark.parametrize(("lang", "foreign"), [("fr", ENGLISH_WORDS), ("en", FRENCH_WORDS)])
async def test_every_word_of_the_checkout_pages_follows_the_locale(fake, client, lang, foreign):
    """Stripe's hosted Checkout shows the whole page in the session's `locale`: the card form,
    the SEPA debit form, every error, the title and the pages after it (the French page said
    "Authorise the debit of 36,00 €")."""
    telegram = "https://t.me/ofbot_bot?start=s1"
    other = "en" if lang == "fr" else "fr"
    pages = {}
    async with httpx.AsyncClient(headers={"Accept-Language": other}) as http:
        session = await create(client, locale=lang)
        pages["form"] = await http.get(session.url)
        pages["bad iban"] = await http.post(
            session.url, data={"iban": "FR7630006000011234567890189"}
        )
        pages["bad card"] = await http.post(session.url, data={"card_number": "4000000000000002"})
        paid = await create(client, locale=lang, success_url=telegram, cancel_url=telegram)
        pages["cancelled"] = await http.get(paid.url + "/cancel")
        pages["paid"] = await http.post(
            paid.url,
            data={"card_number": "4242424242424242", "expiry": "12 / 40", "cvc": "123"},
        )
        pages["complete"] = await http.get(paid.url)
        expired = await create(client, locale=lang)
        await client.v1.checkout.sessions.expire_async(expired.id)
        pages["expired"] = await http.get(expired.url)
        pages["unknown"] = await http.get(
            session.url.replace(session.id, "cs_test_nope"), headers={"Accept-Language": lang}
        )
    assert "IBAN" in pages["bad iban"].text and "DE89 3704" in pages["form"].text
    for name, page in pages.items():
        assert page.headers["content-language"] == lang, name
        assert f'<html lang="{lang}">' in page.text, name
        assert not visible_words(page.text) & foreign, (name, visible_words(page.text) & foreign)
    form = pages["form"].text
    amount = "1 234,56 €" if lang == "fr" else "€1,234.56"
    assert amount in form and (amount in pages["paid"].text)
