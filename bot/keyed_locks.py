"""One asyncio lock per key, kept only while someone holds or waits for it, so that work about
one thing (a chat, an invoice, a payment) never overlaps while other keys run freely."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable


class KeyedLocks:
    """`async with locks.hold(key):` — callers with the same key run one at a time, in order;
    a key's lock is dropped when its last holder or waiter leaves (no growth with keys seen)."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, list] = {}  # key -> [lock, holders and waiters]

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[key]
