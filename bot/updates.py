"""How updates are scheduled and acknowledged: chats run concurrently, one update at a time within
a chat, and Telegram forgets an update only once its effects and the chat's new state are saved.

Custom updates from Stripe or jobs carry a `lock_key` so events about one invoice never overlap."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseUpdateProcessor, ExtBot

from bot.metrics import update_kind
from bot.telegram_send import ChatMigration, TelegramSendPath

log = logging.getLogger(__name__)

# chat_data key: the ids of the chat's last updates handled (saved with the chat's state).
HANDLED = "handled_updates"
HANDLED_KEPT = 16
# How many settled update ids the ledger remembers (far more than a poll can bring back).
SETTLED_KEPT = 4096


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


class UpdateLedger:
    """The Telegram updates received and not yet handled and saved.

    Telegram forgets an update once a getUpdates call passes an offset above it, or once its
    webhook call is answered. PTB confirms an update as soon as it is fetched: a `kill -9` between
    the bot's answer and the save of the chat's new step lost the step (the person was asked the
    previous question again). With the ledger, the offset stays at the oldest update not yet
    settled, and a webhook call is answered once its update is settled."""

    def __init__(self) -> None:
        self._pending: dict[int, asyncio.Future] = {}
        # The last settled ids: Telegram resends those above the offset, and a poll sent before
        # the offset moved can bring back those below it; neither must be handled twice.
        self._settled: set[int] = set()
        self._settled_order: deque[int] = deque()
        self._highest: int | None = None
        self._progress = asyncio.Event()
        self.generation = 0  # how many updates were settled so far
        self.polled_at_generation = -1

    def receive(self, update_id: int) -> bool:
        """Record a received update; False when it is already pending or settled (a resend)."""
        if update_id in self._pending or update_id in self._settled:
            return False
        self._pending[update_id] = asyncio.get_running_loop().create_future()
        if self._highest is None or update_id > self._highest:
            self._highest = update_id
        return True

    def settled(self, update_id: int) -> asyncio.Future:
        """Resolves when the update is settled (at once for one not pending)."""
        future = self._pending.get(update_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            future.set_result(None)
        return future

    def settle(self, update_id: int) -> None:
        future = self._pending.pop(update_id, None)
        if future is None:
            return
        if not future.done():
            future.set_result(None)
        self._settled.add(update_id)
        self._settled_order.append(update_id)
        while len(self._settled_order) > SETTLED_KEPT:
            self._settled.discard(self._settled_order.popleft())
        self.generation += 1
        self._progress.set()

    def offset(self) -> int | None:
        """The getUpdates offset that confirms exactly the updates settled so far."""
        if self._pending:
            return min(self._pending)
        return None if self._highest is None else self._highest + 1

    @property
    def holding(self) -> bool:
        """Some update is still in hand: Telegram answers getUpdates at once, with it again."""
        return bool(self._pending)

    async def wait_for_progress(self, since: int, timeout: float) -> None:
        """Return once an update was settled after `generation` was `since`, or after `timeout`."""
        while self.generation == since:
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), timeout)
            except TimeoutError:
                return


class OfbotBot(TelegramSendPath, ExtBot):
    """ExtBot whose getUpdates confirms only the updates the ledger has settled, and whose every
    request keeps to Telegram's limits and follows migrated groups (bot/telegram_send.py).

    While an update is in hand, Telegram answers every getUpdates at once, that update included:
    the next poll waits for one to be settled (at most HOLD_WAIT, so new updates still come in),
    and updates received before are dropped from the answer before PTB parses them."""

    HOLD_WAIT = 0.05

    def __init__(self, *args: Any, ledger: UpdateLedger, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        with self._unfrozen():
            self.ledger = ledger

    def follow_migrations(self, callback: ChatMigration) -> None:
        """`callback(old_chat_id, new_chat_id)` when Telegram answers that a group migrated."""
        with self._unfrozen():
            self.on_chat_migrated = callback

    async def get_updates(self, offset: int | None = None, *args: Any, **kwargs: Any):
        ledger = self.ledger
        if ledger.holding:
            await ledger.wait_for_progress(ledger.polled_at_generation, self.HOLD_WAIT)
        ledger.polled_at_generation = ledger.generation
        ours = ledger.offset()
        return await super().get_updates(ours if ours is not None else offset, *args, **kwargs)

    async def _post(self, endpoint: str, data: dict | None = None, **kwargs: Any) -> Any:
        result = await super()._post(endpoint, data, **kwargs)
        if endpoint == "getUpdates" and isinstance(result, list):
            result = [u for u in result if self.ledger.receive(u["update_id"])]
        return result


class OfbotApplication(Application):
    """An Application that writes changed state to the database after every update.

    PTB's default flushes persistence every `update_interval` seconds; a conversation must survive
    `kill -9` at any step, so each update's changes are written as soon as it is handled. The ids
    of a chat's last updates are saved with its state, so an update Telegram sends again after a
    crash (see UpdateLedger) is not handled twice."""

    @property
    def ledger(self) -> UpdateLedger:
        return self.bot.ledger

    async def process_update(self, update: object) -> None:
        if not isinstance(update, Update):
            await self._process_and_save(update)
            return
        chat = update.effective_chat
        try:
            handled = self.chat_data[chat.id].setdefault(HANDLED, []) if chat else None
            if handled is not None and update.update_id in handled:
                log.info("update %s was handled before a restart: skipped", update.update_id)
                return
            if handled is not None:
                handled.append(update.update_id)
                del handled[:-HANDLED_KEPT]
            await self._process_and_save(update)
        finally:
            self.ledger.settle(update.update_id)

    def forget_after_update(self, chat_id: int | None, user_id: int | None) -> None:
        """`/forget`: once the update being handled is done, drop the chat's and the user's
        PTB data (memory and database) instead of saving them again."""
        forgetting = self.__dict__.setdefault("_forgetting", [])
        forgetting.append((chat_id, user_id))

    async def _process_and_save(self, update: object) -> None:
        metrics = self.bot_data["services"].metrics
        kind = update_kind(update)
        with metrics.latency.labels(kind=kind).time():
            await super().process_update(update)
            forgetting = self.__dict__.get("_forgetting")
            while forgetting:
                chat_id, user_id = forgetting.pop()
                if chat_id is not None:
                    self.drop_chat_data(chat_id)
                if user_id is not None:
                    self.drop_user_data(user_id)
            if self.persistence:
                await self.update_persistence()
        metrics.updates.labels(kind=kind).inc()

    async def stop(self) -> None:
        """After the queued updates are handled, confirm them to Telegram (polling only)."""
        await super().stop()
        offset = self.ledger.offset()
        if self.updater is not None and offset is not None:
            try:
                # Bounded: a Bot API that hangs must not hold up a stop.
                await asyncio.wait_for(
                    ExtBot.get_updates(self.bot, offset=offset, limit=1, timeout=0), 5
                )
            except Exception as exc:  # a restart receives them again, deduplicated
                log.warning("could not confirm the last updates to Telegram: %s", exc)
