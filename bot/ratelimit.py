"""Paces Bot API sends the way Telegram limits them: per chat, per group, and broadcasts overall,
so that a reply to one person never waits behind other chats' replies or a reminders campaign.

Telegram's limits (Bot FAQ "My bot is hitting limits, how do I avoid this?", and
`telegram.constants.FloodLimit`): in a single chat, avoid more than about one message per second
(short bursts pass); in a group, no more than 20 messages per minute; bulk notifications to many
users, no more than about 30 messages per second. The sandbox enforces the stricter reading of
each (bot/sandbox/telegram/limits.py `RateLimits`: 1/s per private chat with a burst of 5, at most
20 messages in any 60 s per group, 30/s overall), counting messages sent and edited and the
service messages of forum topics created, renamed, closed or reopened.

Only those requests are paced (`PACED`): reading a chat, answering a callback query or deleting a
message puts nothing in the chat and spends none of its budget."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram.constants import FloodLimit
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot.telegram_send import CREATES_MESSAGE

log = logging.getLogger(__name__)

PRIVATE_RATE = 1.0  # messages per second in one private chat
# Telegram lets short bursts through in a private chat and does not say how long; a person's
# conversation rarely needs more than a few messages in a row. Past this burst the chat is paced
# at 1/s, and a 429 (the sandbox answers one past a burst of 5) holds that chat only.
PRIVATE_BURST = 20
GROUP_PER_MINUTE = FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP  # 20
# "Not more than 20 messages per minute to the same group": at most 20 in any window of this many
# seconds — a minute, and a second more for the time a request takes to reach Telegram (two
# messages 60.0 s apart as the bot sends them may arrive 59.99 s apart).
GROUP_WINDOW = 61.0
# Requests that put a message in the chat (sent, edited, or a forum topic's service message).
PACED = CREATES_MESSAGE | {
    "sendMediaGroup",
    "sendSticker",
    "sendLocation",
    "sendContact",
    "sendPoll",
    "sendInvoice",
    "editMessageText",
    "editMessageCaption",
    "editMessageMedia",
    "editMessageReplyMarkup",
    "createForumTopic",
    "editForumTopic",
    "closeForumTopic",
    "reopenForumTopic",
    "deleteForumTopic",
    "editGeneralForumTopic",
    "closeGeneralForumTopic",
    "reopenGeneralForumTopic",
}
BROADCAST_RATE = FloodLimit.MESSAGES_PER_SECOND  # 30
KEPT_BUCKETS = 1024


@dataclass(frozen=True)
class Broadcast:
    """`rate_limit_args` of a message sent to many chats unprompted (reminders): such messages
    are also paced by the overall 30/s bucket. `max_retries`: 429s waited out before giving up."""

    max_retries: int = 3


class _Bucket:
    """A token bucket that hands out slots in order: `reserve()` returns how long to wait."""

    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def reserve(self, now: float) -> float:
        self._refill(now)
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def hold(self, seconds: float, now: float) -> None:
        """Telegram said to wait `seconds`: the next slot is then (the failed request's slot is
        given back, as it is retried)."""
        self._refill(now)
        self.tokens = min(self.tokens + 1, 1 - seconds * self.rate)

    def idle(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.capacity


class _Window:
    """At most `limit` slots in any `seconds`-long window, handed out in order: `reserve()`
    returns how long to wait. Same interface as _Bucket."""

    __slots__ = ("limit", "not_before", "seconds", "slots")

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.slots: collections.deque[float] = collections.deque()
        self.not_before = 0.0

    def _forget(self, now: float) -> None:
        while self.slots and self.slots[0] <= now - self.seconds:
            self.slots.popleft()

    def reserve(self, now: float) -> float:
        self._forget(now)
        slot = max(now, self.not_before)
        if len(self.slots) >= self.limit:
            slot = max(slot, self.slots[-self.limit] + self.seconds)
        self.slots.append(slot)
        return slot - now

    def hold(self, seconds: float, now: float) -> None:
        """Telegram said to wait `seconds`: nothing goes before then (the failed request's slot
        is given back, as it is retried)."""
        if self.slots:
            self.slots.pop()
        self.not_before = max(self.not_before, now + seconds)

    def idle(self, now: float) -> bool:
        self._forget(now)
        return not self.slots and now >= self.not_before


class TelegramRateLimiter(BaseRateLimiter[int | Broadcast]):
    """Per-chat pacing (1/s with a burst of 20 in a private chat, at most 20 in any minute in a
    group), and 30/s overall for broadcasts only (`rate_limit_args=Broadcast()`). Only requests
    that put a message in a chat (`PACED`) are paced: getUpdates, answerCallbackQuery, getChat,
    deleteMessage are not.

    A 429 holds only the chat (or the broadcast bucket) it was answered for, then the request is
    retried, at most `max_retries` times (an int `rate_limit_args` overrides it per call)."""

    def __init__(
        self,
        max_retries: int = 3,
        *,
        private_rate: float = PRIVATE_RATE,
        private_burst: int = PRIVATE_BURST,
        group_per_minute: float = GROUP_PER_MINUTE,
        broadcast_rate: float = BROADCAST_RATE,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`clock` (monotonic seconds; the event loop's by default) and `sleep` are for tests."""
        self.clock = clock
        self.sleep = sleep
        self.max_retries = max_retries
        self.private_rate = private_rate
        self.private_burst = private_burst
        self.group_per_minute = group_per_minute
        self.broadcast_rate = broadcast_rate
        self._chats: dict[int | str, _Bucket | _Window] = {}
        self._broadcast: _Bucket | None = None

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    def _chat_bucket(self, chat: int | str, now: float) -> _Bucket | _Window | None:
        bucket = self._chats.get(chat)
        if bucket is not None:
            return bucket
        group = isinstance(chat, str) or chat < 0
        if group:
            if self.group_per_minute <= 0:
                return None
            bucket = _Window(int(self.group_per_minute), GROUP_WINDOW)
        else:
            if self.private_rate <= 0:
                return None
            bucket = _Bucket(self.private_rate, self.private_burst, now)
        if len(self._chats) >= KEPT_BUCKETS:
            # Forget the chats whose bucket is full again: they would start full anyway.
            for key in [k for k, b in self._chats.items() if b.idle(now)]:
                del self._chats[key]
        self._chats[chat] = bucket
        return bucket

    def _buckets(
        self, chat: int | str | None, broadcast: bool, now: float
    ) -> list[_Bucket | _Window]:
        buckets = []
        if chat is not None:
            bucket = self._chat_bucket(chat, now)
            if bucket is not None:
                buckets.append(bucket)
        if broadcast and self.broadcast_rate > 0:
            if self._broadcast is None:
                self._broadcast = _Bucket(self.broadcast_rate, 1, now)
            buckets.append(self._broadcast)
        return buckets

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict | list[dict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | Broadcast | None,
    ) -> bool | dict | list[dict]:
        broadcast = isinstance(rate_limit_args, Broadcast)
        if broadcast:
            max_retries = rate_limit_args.max_retries
        elif isinstance(rate_limit_args, int):
            max_retries = rate_limit_args
        else:
            max_retries = self.max_retries
        chat = data.get("chat_id") if endpoint in PACED else None
        if chat is not None:
            with contextlib.suppress(ValueError, TypeError):
                chat = int(chat)
        clock = self.clock or asyncio.get_running_loop().time
        for attempt in range(max_retries + 1):
            now = clock()
            buckets = self._buckets(chat, broadcast, now)
            wait = max((b.reserve(now) for b in buckets), default=0.0)
            if wait > 0:
                await self.sleep(wait)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt == max_retries:
                    log.warning("429 from Telegram after %d retries: given up", max_retries)
                    raise
                seconds = exc._retry_after.total_seconds() + 0.1
                log.info("429 from Telegram: this chat waits %.1f s", seconds)
                now = clock()
                for bucket in buckets:
                    bucket.hold(seconds, now)
                if not buckets:
                    await self.sleep(seconds)
        raise AssertionError("unreachable")  # pragma: no cover
