"""How updates are scheduled: chats run concurrently, one update at a time within a chat.

Custom updates from Stripe or jobs carry a `lock_key` so events about one invoice never overlap."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseUpdateProcessor


def lock_key(update: object) -> Any:
    if isinstance(update, Update):
        if update.effective_chat:
            return ("chat", update.effective_chat.id)
        if update.effective_user:
            return ("user", update.effective_user.id)
        return None
    return getattr(update, "lock_key", None)


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Concurrency across chats, order within a chat (what a ConversationHandler needs)."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[Any, list] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = lock_key(update)
        if key is None:
            await coroutine
            return
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                await coroutine
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[key]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


class OfbotApplication(Application):
    """An Application that writes changed state to the database after every update.

    PTB's default flushes persistence every `update_interval` seconds; a conversation must survive
    `kill -9` at any step, so each update's changes are written as soon as it is handled."""

    async def process_update(self, update: object) -> None:
        await super().process_update(update)
        if self.persistence:
            await self.update_persistence()
