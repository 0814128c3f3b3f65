"""Telegram's limits: lengths of texts, captions and callback data, and the rate buckets.

The rate limits as Telegram documents them: 30/s overall and ~1/s per chat (token buckets), at
most 20 messages in any minute per group (a sliding window)."""

from __future__ import annotations

import collections
import math
from collections.abc import Callable

from bot.sandbox.telegram.errors import ApiError

MAX_TEXT = 4096


MAX_CAPTION = 1024


MAX_CALLBACK_DATA = 64


# Rate limits, as Telegram documents them (Bot FAQ "My bot is hitting limits", and
# `telegram.constants.FloodLimit`): 30/s overall and ~1/s per chat with short bursts (token
# buckets), and "not more than 20 messages per minute to the same group": a sliding window, at
# most 20 in any 60 s (a bucket starting full at 20 and refilled at 20/min let 39 through in the
# first minute). Counted: messages sent, edited, and topic service messages (forum.py).


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


class _Window:
    """At most `limit` messages in any `seconds`-long window."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.sent: collections.deque[float] = collections.deque()

    def wait(self, now: float) -> float:
        while self.sent and self.sent[0] <= now - self.seconds:
            self.sent.popleft()
        if len(self.sent) < self.limit:
            return 0.0
        return self.sent[0] + self.seconds - now

    def spend(self, now: float) -> None:
        self.sent.append(now)


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
        self.chats: dict[int, _Bucket | _Window] = {}

    def _chat_bucket(self, chat_id: int, now: float) -> _Bucket | _Window | None:
        if chat_id not in self.chats:
            if chat_id < 0:
                if self.group_per_minute <= 0:
                    return None
                bucket = _Window(self.group_per_minute, 60.0)
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
            if isinstance(bucket, _Window):
                bucket.spend(now)
            else:
                bucket.tokens -= 1
