"""`GET /metrics` (SPEC §6): Prometheus' text format behind `Authorization: Bearer
<OFBOT_METRICS_TOKEN>`, not served when the setting is unset; the figures follow what the bot did."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.runtime import Runtime
from tests.conftest import (
    BotHarness,
    Chat,
    free_port,
    replace_settings,
    sample_club,
    seed_database,
    verify,
)
from tests.e2e.test_renew_and_pay import card_link, session_id, settled, to_invoice

TOKEN = "m3tr1cs-Zq3v_8LrT0pWx2Ks9mYbN4cH7dJ1fGeA6u"


@pytest.fixture
async def metered(settings, telegram, stripe):
    """The bot with OFBOT_METRICS_TOKEN set."""
    settings = replace_settings(settings, metrics_token=TOKEN)
    await seed_database(settings)
    runtime = Runtime(settings)
    await runtime.start()
    harness = BotHarness(runtime, telegram, stripe)
    yield harness
    await harness.runtime.stop()


async def scrape(bot, token: str | None = TOKEN, scheme: str = "Bearer") -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    async with httpx.AsyncClient() as client:
        return await client.get(bot.runtime.http.url + "/metrics", headers=headers)


def samples(text: str) -> dict[tuple, float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted((k, str(v)) for k, v in labels.items()))), 0.0)


async def test_not_served_when_the_token_is_unset(bot):
    assert bot.services.settings.metrics_token is None
    assert (await scrape(bot)).status_code == 404


@pytest.mark.parametrize(
    ("token", "scheme"),
    [(None, "Bearer"), ("wrong-" + TOKEN[6:], "Bearer"), (TOKEN, "Basic"), (TOKEN[:-1], "Bearer")],
)
async def test_refused_without_the_right_bearer_token(metered, token, scheme):
    answer = await scrape(metered, token, scheme)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert "ofbot_" not in answer.text


async def test_the_figures_follow_what_the_bot_did(metered, telegram, smtp, stripe):
    chat = Chat(telegram, metered, 1001)
    first = await scrape(metered)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/plain; version=")
    before = samples(first.text)
    assert value(before, "ofbot_open_invoices") == 0

    await verify(chat, smtp)
    number = await to_invoice(chat)
    telegram.inject_fault("sendMessage", "429")
    await chat.say("/menu")  # answered after one 429 (the rate limiter waits it out)
    found = samples((await scrape(metered)).text)
    assert value(found, "ofbot_updates_total", kind="command") >= 2  # /start, /menu
    assert value(found, "ofbot_updates_total", kind="message") >= 3  # subdomain, address, code
    assert value(found, "ofbot_updates_total", kind="callback_query") >= 3
    assert value(found, "ofbot_handler_seconds_count", kind="callback_query") >= 3
    assert value(found, "ofbot_bot_api_requests_total", method="sendMessage", status=200) >= 5
    assert value(found, "ofbot_bot_api_requests_total", method="sendMessage", status=429) == 1
    assert value(found, "ofbot_bot_api_rate_limited_total", method="sendMessage") == 1
    assert value(found, "ofbot_mails_total", outcome="sent") == 1  # the one-time code
    assert value(found, "ofbot_mails_total", outcome="failed") == 0
    assert value(found, "ofbot_open_invoices") == 1
    assert value(found, "ofbot_open_invoices_cents") == 72000
    assert value(found, "ofbot_open_escalations", status="open") == 0

    assert await stripe.pay(session_id(await card_link(chat)), card="4242424242424242")
    await settled(metered, stripe)
    found = samples((await scrape(metered)).text)
    assert value(found, "ofbot_open_invoices") == 0
    assert value(found, "ofbot_stripe_webhooks_total", result="accepted") >= 1
    assert (
        value(found, "ofbot_stripe_events_total", type="checkout.session.completed", outcome="paid")
        == 1
    ), found
    assert number  # the invoice paid is the one issued


async def test_a_failed_mail_is_counted(metered, telegram, smtp):
    mailer = metered.services.mailer
    mailer.settings = replace_settings(mailer.settings, smtp_port=free_port())  # relay gone
    chat = Chat(telegram, metered, 1001)
    await chat.say("/start")
    await chat.say("mermoz")
    await chat.say(sample_club("mermoz")["structure_email"])
    found = samples((await scrape(metered)).text)
    assert value(found, "ofbot_mails_total", outcome="failed") >= 1


async def test_a_handler_error_is_counted(metered, telegram):
    from telegram.ext import MessageHandler, filters

    async def broken(update, context):
        raise RuntimeError("a bug in a handler")

    metered.runtime.app.add_handler(MessageHandler(filters.Regex("^boom$"), broken), group=-5)
    before = value(samples((await scrape(metered)).text), "ofbot_errors_total", where="handler")
    await Chat(telegram, metered, 1001).say("boom")
    found = samples((await scrape(metered)).text)
    assert value(found, "ofbot_errors_total", where="handler") == before + 1
