"""Telegram's limits: lengths of texts, captions and callback data, and the rate buckets.

The rate limits are token buckets, as Telegram documents them (30/s overall, ~1/s per chat, 20/min per group)."""

from __future__ import annotations

import math
from collections.abc import Callable

from bot.sandbox.telegram.errors import ApiError

MAX_TEXT = 4096


MAX_CAPTION = 1024


MAX_CALLBACK_DATA = 64


COUNTED_METHODS = frozenset(
    {
        "sendmessage",
        "sendphoto",
        "senddocument",
        "copymessage",
        "forwardmessage",
        "editmessagetext",
        "editmessagecaption",
        "editmessagereplymarkup",
    }
)


# Rate limits: token buckets, as the limits Telegram documents (30/s overall, ~1/s per chat with
# short bursts, 20/min per group).


class _Bucket:
    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = now

    def wait(self, now: float) -> float:
        """Seconds until one token is available (0 when it is now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class RateLimits:
    """Counts message sends and edits; a rate of 0 (or less) disables that limit."""

    def __init__(
        self,
        clock: Callable[[], float],
        global_rate: float,
        chat_rate: float,
        chat_burst: int,
        group_per_minute: int,
    ) -> None:
        self.clock = clock
        self.chat_rate = chat_rate
        self.chat_burst = chat_burst
        self.group_per_minute = group_per_minute
        self.global_bucket = (
            _Bucket(global_rate, max(global_rate, 1.0), clock()) if global_rate > 0 else None
        )
        self.chats: dict[int, _Bucket] = {}

    def _chat_bucket(self, chat_id: int, now: float) -> _Bucket | None:
        if chat_id not in self.chats:
            if chat_id < 0:
                if self.group_per_minute <= 0:
                    return None
                bucket = _Bucket(self.group_per_minute / 60, self.group_per_minute, now)
            else:
                if self.chat_rate <= 0:
                    return None
                bucket = _Bucket(self.chat_rate, max(self.chat_burst, 1), now)
            self.chats[chat_id] = bucket
        return self.chats[chat_id]

    def take(self, chat_id: int) -> None:
        """Spend one message for `chat_id`, or raise the 429 Telegram would answer."""
        now = self.clock()
        buckets = [b for b in (self.global_bucket, self._chat_bucket(chat_id, now)) if b]
        wait = max((b.wait(now) for b in buckets), default=0.0)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        for bucket in buckets:
            bucket.tokens -= 1
