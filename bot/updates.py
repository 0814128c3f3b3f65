"""How updates are scheduled and acknowledged: chats run concurrently, one update at a time within
a chat, and Telegram forgets an update only once its effects and the chat's new state are saved.

Custom updates from Stripe or jobs carry a `lock_key` so events about one invoice never overlap."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable
from typing import Any, Protocol

from telegram import Update
from telegram.ext import Application, BaseUpdateProcessor, ExtBot

from bot.keyed_locks import KeyedLocks
from bot.metrics import update_kind
from bot.telegram_send import ChatMigration, TelegramSendPath

log = logging.getLogger(__name__)


class Inbox(Protocol):
    """Durable store of updates received and not handled yet (storage/inbox.py)."""

    async def add(self, updates: list[tuple[int, dict]]) -> None: ...
    async def remove(self, update_id: int, *, later: bool = False) -> None: ...
    async def flush(self) -> None: ...


# chat_data key: the chat's last updates handled (saved with the chat's state), each as
# `handled_key`: its id and what it carries, since an id alone does not name one update.
HANDLED = "handled_updates"
HANDLED_KEPT = 16
# How many settled update ids the ledger remembers (far more than a poll can bring back).
SETTLED_KEPT = 4096
# One chat's backlog (issue 12 case 4). A person has one or two updates in hand at a time; a
# flood has many. Past JOURNAL_AT updates in hand, a chat's updates are written to the inbox
# (storage/inbox.py) so Telegram's offset can move past them: getUpdates returns at most 100
# updates from the offset, and an offset held at one chat's oldest update hid every other chat's.
# Past CHAT_BACKLOG, a chat's further updates are shed: confirmed and never handled (refusing
# costs nothing: no parsing, no answer, no database write).
JOURNAL_AT = 4
CHAT_BACKLOG = 16
# Updates in hand, all chats together, before every one of them is written to the inbox (many
# chats with a few updates each must not hold the offset either).
HELD_MAX = 32


def chat_of(raw: dict) -> tuple[str, int] | None:
    """The chat (or, without one, the user) a raw update (Bot API JSON) comes from."""
    for key, payload in raw.items():
        if key == "update_id" or not isinstance(payload, dict):
            continue
        chat = payload.get("chat") or (payload.get("message") or {}).get("chat")
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            return ("chat", chat["id"])
        user = payload.get("from") or payload.get("user")
        if isinstance(user, dict) and isinstance(user.get("id"), int):
            return ("user", user["id"])
    return None


def handled_key(update: Update) -> str:
    """What names one update in a chat's handled list: its id, and the callback query's id or
    the message's id (and edit date for an edit); its kinds and sender for the rest.

    Telegram resends the very same update after a crash (same id, same content), but a bot's
    update ids do not always go on from the last: after a week without updates the next one "is
    chosen randomly instead of sequentially" (Bot API, Update), and a stand-in restarted may
    start again. An id alone then takes a new update for one handled before a restart."""
    query = update.callback_query
    if query is not None:
        return f"{update.update_id}:callback:{query.id}"
    message = update.effective_message
    if message is not None:
        # A message id is never given again in a chat (Telegram); an edit is a new update about
        # the same message, told apart by its edit date.
        edited = message.edit_date
        when = f":{int(edited.timestamp())}" if edited is not None else ""
        return f"{update.update_id}:message:{message.message_id}{when}"
    user = update.effective_user
    kinds = [k for k in Update.ALL_TYPES if getattr(update, k, None) is not None]
    return f"{update.update_id}:{','.join(kinds)}:{user.id if user else ''}"


def was_handled(handled: list, update: Update, key: str) -> bool:
    """Whether the chat's handled list names this update. A bare int (saved before keys were
    used) matches by id only, so a resend after a crash across the upgrade is still skipped."""
    return key in handled or update.update_id in handled


def lock_key(update: object) -> Any:
    if isinstance(update, Update):
        if update.effective_chat:
            return ("chat", update.effective_chat.id)
        if update.effective_user:
            return ("user", update.effective_user.id)
        return None
    return getattr(update, "lock_key", None)


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Concurrency across chats, order within a chat (what a ConversationHandler needs).

    An update waits for its chat's turn before it takes one of the `max_concurrent_updates`
    slots: updates queued behind their own chat hold no slot, so chats with a backlog never
    keep the other chats' updates waiting (PTB's base class takes the slot first)."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks = KeyedLocks()

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = lock_key(update)
        if key is None:
            async with self._semaphore:
                await coroutine
            return
        async with self._locks.hold(key), self._semaphore:
            await coroutine

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine  # process_update above does the ordering

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
    settled, and a webhook call is answered once its update is settled.

    `journal_all` (polling): every update received is written to the inbox before the next
    getUpdates, so the offset moves past it at once and long polling stays long. Holding the
    offset instead made Telegram answer every poll at once with the updates in hand: ~1.2
    getUpdates per update at 10 people instead of ~0.2 (bench/README.md)."""

    def __init__(self, *, journal_all: bool = False) -> None:
        self.journal_all = journal_all
        self._pending: dict[int, asyncio.Future] = {}
        # The last settled ids: Telegram resends those above the offset, and a poll sent before
        # the offset moved can bring back those below it; neither must be handled twice.
        self._settled: set[int] = set()
        self._settled_order: deque[int] = deque()
        self._highest: int | None = None
        self._progress = asyncio.Event()
        self.generation = 0  # how many updates were settled so far
        self.polled_at_generation = -1
        # Per chat: the ids in hand; the raw updates not yet in the inbox; those in the inbox
        # (they no longer hold the offset).
        self._chat_of: dict[int, Any] = {}
        self._by_chat: dict[Any, set[int]] = {}
        self._raw: dict[int, dict] = {}
        self._journaled: set[int] = set()
        self.shed = 0  # updates refused because their chat had CHAT_BACKLOG in hand

    def receive(
        self, update_id: int, chat: Any = None, raw: dict | None = None, *, replay: bool = False
    ) -> bool:
        """Record a received update; False when it is already pending or settled (a resend), or
        shed (its chat already has CHAT_BACKLOG updates in hand: settled at once, never handled;
        not for a `replay` of the inbox, whose updates were accepted before).
        `raw` (the Bot API JSON) lets the update be written to the inbox if it comes to that."""
        if update_id in self._pending or update_id in self._settled:
            return False
        if self._highest is None or update_id > self._highest:
            self._highest = update_id
        in_hand = self._by_chat.get(chat) if chat is not None else None
        if in_hand is not None and len(in_hand) >= CHAT_BACKLOG and not replay:
            self.shed += 1
            if self.shed == 1 or self.shed % 100 == 0:
                log.warning("a chat floods: %s update(s) shed so far", self.shed)
            self._remember_settled(update_id)
            return False
        self._pending[update_id] = asyncio.get_running_loop().create_future()
        if chat is not None:
            self._chat_of[update_id] = chat
            self._by_chat.setdefault(chat, set()).add(update_id)
        if raw is not None:
            self._raw[update_id] = raw
        return True

    def unreceive(self, update_id: int) -> None:
        """Forget an update received and not handled, as if it never came (its batch was
        dropped before it was queued); nothing when it is already in the inbox."""
        if update_id not in self._pending or update_id in self._journaled:
            return
        future = self._pending.pop(update_id)
        future.cancel()
        # The offset must not confirm it: Telegram gives it again (settled ones above it that
        # come back with it are recognised as settled).
        if self._highest is not None and update_id <= self._highest:
            self._highest = update_id - 1
        self._out_of_hand(update_id)

    def _out_of_hand(self, update_id: int) -> None:
        """No longer in hand: dropped from its raw JSON and from its chat's backlog."""
        self._raw.pop(update_id, None)
        chat = self._chat_of.pop(update_id, None)
        in_hand = self._by_chat.get(chat)
        if in_hand is not None:
            in_hand.discard(update_id)
            if not in_hand:
                del self._by_chat[chat]

    def to_journal(self) -> list[tuple[int, dict]]:
        """The updates to write to the inbox now: those of chats with JOURNAL_AT or more in
        hand, or all of them once HELD_MAX are in hand; oldest first."""
        held = [i for i in self._pending if i not in self._journaled and i in self._raw]
        if len(held) < HELD_MAX and not self.journal_all:
            held = [
                i for i in held if len(self._by_chat.get(self._chat_of.get(i), ())) >= JOURNAL_AT
            ]
        return [(i, self._raw[i]) for i in sorted(held)]

    def journaled(self, update_ids: list[int]) -> None:
        """These updates are in the inbox: Telegram may forget them."""
        for update_id in update_ids:
            if update_id in self._pending:
                self._journaled.add(update_id)
                self._raw.pop(update_id, None)

    def is_journaled(self, update_id: int) -> bool:
        return update_id in self._journaled

    def chat_backlog(self, chat: Any) -> int:
        return len(self._by_chat.get(chat, ()))

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
        self._journaled.discard(update_id)
        self._out_of_hand(update_id)
        self._remember_settled(update_id)
        self.generation += 1
        self._progress.set()

    def _remember_settled(self, update_id: int) -> None:
        self._settled.add(update_id)
        self._settled_order.append(update_id)
        while len(self._settled_order) > SETTLED_KEPT:
            self._settled.discard(self._settled_order.popleft())

    def offset(self) -> int | None:
        """The getUpdates offset that confirms exactly the updates settled or in the inbox."""
        held = [i for i in self._pending if i not in self._journaled]
        if held:
            return min(held)
        return None if self._highest is None else self._highest + 1

    @property
    def holding(self) -> bool:
        """Some update is still in hand and not in the inbox: Telegram answers getUpdates at
        once, with it again."""
        return any(i not in self._journaled for i in self._pending)

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
    LATEST_KEPT = 10_000  # chats whose latest message id is remembered (in memory)

    def __init__(self, *args: Any, ledger: UpdateLedger, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        with self._unfrozen():
            self.ledger = ledger
            self.inbox: Inbox | None = None
            self._latest: OrderedDict[int, int] = OrderedDict()

    def latest_message_id(self, chat_id: int) -> int | None:
        """The id of the chat's latest message this process knows of: sent by the bot, whatever
        sent it (replies, receipts, reminders, copies), or received (`saw_message`). None: none
        since the start (handlers/common.py then answers a press with a new message)."""
        return self._latest.get(chat_id)

    def saw_message(self, chat_id: int, message_id: int) -> None:
        """A message in the chat (message ids grow within a chat: the highest is the latest)."""
        latest = self._latest
        if message_id >= latest.get(chat_id, 0):
            latest[chat_id] = message_id
            latest.move_to_end(chat_id)
            if len(latest) > self.LATEST_KEPT:
                latest.popitem(last=False)

    def _saw_sent(self, data: dict | None, result: Any) -> None:
        # sendX and forwardMessage answer a Message; copyMessage a MessageId (no chat); the
        # …Messages and sendMediaGroup methods a list of them.
        for sent in result if isinstance(result, list) else (result,):
            if not isinstance(sent, dict) or not isinstance(sent.get("message_id"), int):
                continue
            chat_id = (sent.get("chat") or {}).get("id", (data or {}).get("chat_id"))
            if isinstance(chat_id, int):
                self.saw_message(chat_id, sent["message_id"])

    def keep_in(self, inbox: Inbox) -> None:
        """Where updates of a flooding chat (or, polling, every update) are written so the
        offset can move past them."""
        with self._unfrozen():
            self.inbox = inbox

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
        if endpoint.startswith(("send", "copy", "forward")):
            self._saw_sent(data, result)
        elif endpoint == "getUpdates" and isinstance(result, list):
            ledger = self.ledger
            result = [u for u in result if ledger.receive(u["update_id"], chat_of(u), u)]
            try:
                await journal(ledger, self.inbox)
            except BaseException:
                # PTB drops the batch; Telegram's offset did not move past it, so the next poll
                # brings these again: they must not look pending then (or they were never
                # handled, and held their chat's backlog for good).
                for update in result:
                    ledger.unreceive(update["update_id"])
                raise
        return result


async def journal(ledger: UpdateLedger, inbox: Inbox | None) -> None:
    """Write what the ledger says must leave Telegram's hands to the inbox (none without one)."""
    due = ledger.to_journal() if inbox is not None else []
    if due:
        await inbox.add(due)
        ledger.journaled([update_id for update_id, _ in due])


class OfbotApplication(Application):
    """An Application that writes changed state to the database after every update.

    PTB's default flushes persistence every `update_interval` seconds; a conversation must survive
    `kill -9` at any step, so each update's changes are written as soon as it is handled. The ids
    of a chat's last updates are saved with its state, so an update Telegram sends again after a
    crash (see UpdateLedger) is not handled twice; with what they carry (`handled_key`), so a
    new update whose id a restart of the ids gave again is handled."""

    @property
    def ledger(self) -> UpdateLedger:
        return self.bot.ledger

    async def process_update(self, update: object) -> None:
        if not isinstance(update, Update):
            await self._process_and_save(update)
            return
        chat = update.effective_chat
        forgot = False
        try:
            handled = self.chat_data[chat.id].setdefault(HANDLED, []) if chat else None
            if handled is not None:
                key = handled_key(update)
                if was_handled(handled, update, key):
                    log.info("update %s was handled before a restart: skipped", update.update_id)
                    return
                handled.append(key)
                del handled[:-HANDLED_KEPT]
            if update.message is not None and chat is not None:
                self.bot.saw_message(chat.id, update.message.message_id)
            forgot = await self._process_and_save(update)
        finally:
            try:
                if self.ledger.is_journaled(update.update_id) and self.bot.inbox is not None:
                    # With a chat, its saved handled ids guard a replay: the delete can wait
                    # for the next poll's transaction. After /forget, the rows waiting (they
                    # carry the person's words and ids) go at once.
                    later = chat is not None and not forgot
                    await self.bot.inbox.remove(update.update_id, later=later)
            finally:
                self.ledger.settle(update.update_id)

    async def replay_inbox(self, pending: list[dict]) -> int:
        """At start-up, before updates are fetched: the updates left in the inbox by the last
        run, queued in their order (each still deduplicated by the chat's handled ids)."""
        queued = 0
        for raw in pending:
            if self.ledger.receive(raw["update_id"], chat_of(raw), replay=True):
                self.ledger.journaled([raw["update_id"]])
                await self.update_queue.put(Update.de_json(raw, self.bot))
                queued += 1
        return queued

    def forget_after_update(self, chat_id: int | None, user_id: int | None) -> None:
        """`/forget`: once the update being handled is done, drop the chat's and the user's
        PTB data (memory and database) instead of saving them again."""
        forgetting = self.__dict__.setdefault("_forgetting", [])
        forgetting.append((chat_id, user_id))

    async def _process_and_save(self, update: object) -> bool:
        """Handle the update and save what it changed; True when it made the bot forget a
        person (/forget)."""
        metrics = self.bot_data["services"].metrics
        kind = update_kind(update)
        with metrics.latency.labels(kind=kind).time():
            await super().process_update(update)
            forgetting = self.__dict__.get("_forgetting")
            forgot = bool(forgetting)
            while forgetting:
                chat_id, user_id = forgetting.pop()
                if chat_id is not None:
                    self.drop_chat_data(chat_id)
                if user_id is not None:
                    self.drop_user_data(user_id)
            if self.persistence:
                await self.update_persistence()
                self.__dict__.setdefault("_saved", set()).add(id(update))
        metrics.updates.labels(kind=kind).inc()
        return forgot

    def _mark_for_persistence_update(
        self, *, update: object | None = None, job: Any = None
    ) -> None:
        # PTB marks an update's chat and user for the next persistence run once more when the
        # update's task ends (Application.__create_task_callback), after _process_and_save has
        # written them: the next update would deep-copy, serialise and compare both again for
        # nothing (2 writes per update instead of 1, bench/README.md).
        saved = self.__dict__.get("_saved")
        if update is not None and job is None and saved and id(update) in saved:
            saved.discard(id(update))
            return
        super()._mark_for_persistence_update(update=update, job=job)

    async def stop(self) -> None:
        """After the queued updates are handled, confirm them to Telegram (polling only)."""
        await super().stop()
        if self.bot.inbox is not None:
            await self.bot.inbox.flush()
        offset = self.ledger.offset()
        if self.updater is not None and offset is not None:
            try:
                # Bounded: a Bot API that hangs must not hold up a stop.
                await asyncio.wait_for(
                    ExtBot.get_updates(self.bot, offset=offset, limit=1, timeout=0), 5
                )
            except Exception as exc:  # a restart receives them again, deduplicated
                log.warning("could not confirm the last updates to Telegram: %s", exc)
