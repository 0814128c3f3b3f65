"""The Bot API rate limiter paces per chat, per group and broadcasts, on a virtual clock: a
reply to one person never waits behind other chats' replies (issue 19)."""

from __future__ import annotations

import datetime as dt

import pytest
from telegram.error import RetryAfter

from bot.ratelimit import Broadcast, TelegramRateLimiter


class VirtualTime:
    """A clock that only moves when told; sleeps are recorded, not slept."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def time_() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def limiter(time_: VirtualTime) -> TelegramRateLimiter:
    return TelegramRateLimiter(max_retries=2, clock=time_.clock, sleep=time_.sleep)


async def send(
    limiter, time_, chat_id=None, rate_limit_args=None, callback=None, endpoint="sendMessage"
) -> float:
    """One request; returns how long the limiter made it wait."""
    before = len(time_.waits)

    async def ok():
        return {"ok": True}

    data = {} if chat_id is None else {"chat_id": chat_id, "text": "x"}
    await limiter.process_request(callback or ok, (), {}, endpoint, data, rate_limit_args)
    return sum(time_.waits[before:])


async def test_a_private_chat_gets_a_burst_then_one_per_second(time_):
    limiter = TelegramRateLimiter(private_burst=5, clock=time_.clock, sleep=time_.sleep)
    waits = [await send(limiter, time_, 42) for _ in range(7)]
    assert waits == [0, 0, 0, 0, 0, pytest.approx(1.0), pytest.approx(2.0)]


async def test_replies_to_other_chats_never_wait_behind_one_busy_chat(limiter, time_):
    for _ in range(20):
        await send(limiter, time_, 42)
    # A hundred people answered at the same moment: none waits (one global queue at 30/s
    # made the last of them wait over 3 s).
    waits = [await send(limiter, time_, 1000 + i) for i in range(100)]
    assert waits == [0] * 100


async def test_a_group_gets_twenty_messages_a_minute(limiter, time_):
    waits = [await send(limiter, time_, -100123) for _ in range(21)]
    assert waits[:20] == [0] * 20
    # "Not more than 20 messages per minute to the same group" (Bot FAQ): the 21st goes a minute
    # (and a second for the trip to Telegram) after the first; a bucket refilled at 20/min let it
    # go 3 s later, and 39 messages through in the first minute.
    assert waits[20] == pytest.approx(61.0)
    assert await send(limiter, time_, "@some_channel") == 0  # another group: its own budget


async def test_a_group_never_gets_more_than_twenty_in_any_minute(limiter, time_):
    sent = []
    for step in range(120):  # one message asked for every half second for a minute
        time_.now = step * 0.5
        wait = await send(limiter, time_, -100123)
        sent.append(time_.now + wait)
    for first in sent:
        assert sum(1 for t in sent if first <= t < first + 60.0) <= 20


async def test_topic_service_messages_count_in_the_group_budget(limiter, time_):
    for _ in range(10):
        await send(limiter, time_, -100123, endpoint="editForumTopic")
    waits = [await send(limiter, time_, -100123) for _ in range(11)]
    assert waits[:10] == [0] * 10 and waits[10] == pytest.approx(61.0)


async def test_requests_that_put_nothing_in_the_chat_are_not_paced(limiter, time_):
    for endpoint in ("getChat", "getChatMember", "deleteMessage", "sendChatAction"):
        waits = [await send(limiter, time_, -100123, endpoint=endpoint) for _ in range(30)]
        assert waits == [0] * 30
    assert [await send(limiter, time_, -100123) for _ in range(20)] == [0] * 20


async def test_broadcasts_are_paced_at_thirty_a_second_and_replies_are_not(limiter, time_):
    waits = [await send(limiter, time_, 5000 + i, Broadcast()) for i in range(31)]
    assert waits[0] == 0
    assert waits[30] == pytest.approx(30 / 30)
    # A reply during the campaign is not queued behind it.
    assert await send(limiter, time_, 42) == 0


async def test_requests_naming_no_chat_are_not_paced(limiter, time_):
    waits = [await send(limiter, time_) for _ in range(100)]
    assert waits == [0] * 100


async def test_a_429_holds_only_its_chat_and_is_retried(limiter, time_):
    calls = 0

    async def flooded():
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RetryAfter(dt.timedelta(seconds=2))
        return {"ok": True}

    assert await send(limiter, time_, 42, callback=flooded) == pytest.approx(2.1)
    assert calls == 2
    assert await send(limiter, time_, 43) == 0


async def test_a_429_past_the_retries_is_raised(limiter, time_):
    async def always_flooded():
        raise RetryAfter(dt.timedelta(seconds=1))

    with pytest.raises(RetryAfter):
        await send(limiter, time_, 42, callback=always_flooded)
    assert len(time_.waits) >= 2


def test_the_application_uses_it():
    from bot.app import build_application
    from bot.services import Services
    from bot.settings import Settings

    settings = Settings(telegram_token="123:abc", telegram_api_url="http://127.0.0.1:9")
    services = Services(settings=settings, db=None, texts=None, clock=None, mailer=None)
    app = build_application(services)
    assert isinstance(app.bot.rate_limiter, TelegramRateLimiter)
