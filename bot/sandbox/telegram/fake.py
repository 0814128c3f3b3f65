"""`FakeTelegram`: the Bot API server and the people, assembled from one mixin per method family.

A new family of methods goes in a module of its own (a mixin with an `api_methods` table); list it here."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from bot.sandbox.telegram.bot_api import ServerMixin
from bot.sandbox.telegram.callbacks import CallbacksMixin, _CallbackQuery
from bot.sandbox.telegram.chats import ChatsMixin
from bot.sandbox.telegram.commands import CommandsKey, CommandsMixin
from bot.sandbox.telegram.editing import EditingMixin
from bot.sandbox.telegram.files import FilesMixin, StoredFile
from bot.sandbox.telegram.forum import ForumMixin
from bot.sandbox.telegram.groups import GroupsMixin
from bot.sandbox.telegram.limits import RateLimits
from bot.sandbox.telegram.observe import ObserveMixin
from bot.sandbox.telegram.params import Upload
from bot.sandbox.telegram.sending import SendingMixin
from bot.sandbox.telegram.state import _Chat, _Fault
from bot.sandbox.telegram.updates import UpdatesMixin
from bot.sandbox.telegram.user_http import UserHttpMixin
from bot.sandbox.telegram.users import UsersMixin

log = logging.getLogger(__name__)


class FakeTelegram(
    ServerMixin,
    UpdatesMixin,
    CommandsMixin,
    ChatsMixin,
    SendingMixin,
    EditingMixin,
    CallbacksMixin,
    ForumMixin,
    FilesMixin,
    UsersMixin,
    GroupsMixin,
    ObserveMixin,
    UserHttpMixin,
):
    """The Bot API server (`app`) and the people talking to the bot (the user-side methods).

    Rate limits count sends and edits; set `global_rate`, `chat_rate` or `group_per_minute` to 0
    to switch that limit off. Everything lives in memory; state changes never await, so concurrent
    requests in one event loop see consistent state. Call `close()` before stopping the server:
    it ends long polls, event streams and webhook delivery.

    The Bot API methods are the union of the mixins' `api_methods` tables (lower-case method
    name -> handler attribute, called as `handler(params, files)`)."""

    def __init__(
        self,
        token: str = "123456:SANDBOX",
        *,
        global_rate: float = 30.0,
        chat_rate: float = 1.0,
        chat_burst: int = 5,
        group_per_minute: int = 20,
        clock: Callable[[], float] = time.monotonic,
        username: str = "ofbot_sandbox_bot",
        first_update_id: int | None = None,
        ids_path: Path | None = None,
    ) -> None:
        self.token = token
        self.clock = clock
        # Seconds added to the wall clock for message dates: the sandbox's moved date
        # (`:date +20`, "Move" on the page) moves every stand-in's clock, this one's too.
        self.date_offset = 0.0
        self.url: str | None = None
        self.bot_user = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "OpenFlyers (sandbox)",
            "username": username,
        }
        self.limits = RateLimits(clock, global_rate, chat_rate, chat_burst, group_per_minute)
        self._users: dict[int, dict] = {}
        self._hidden_forwards: set[int] = set()
        self._chats: dict[int, _Chat] = {}
        self._files: dict[str, StoredFile] = {}
        self._file_paths: dict[str, str] = {}
        self._file_numbers = itertools.count(1)
        self._callbacks: dict[str, _CallbackQuery] = {}
        self._callback_numbers = itertools.count(1)
        self.callback_answers: list[dict] = []
        self.api_calls: collections.deque[tuple[str, dict]] = collections.deque(maxlen=1000)

        self._updates: list[dict] = []
        # Telegram's update ids are large and never start again at 1 for a bot (Bot API, Update:
        # "start from a certain positive number and increase sequentially"; after a week without
        # updates the next one "is chosen randomly instead of sequentially"): a realistic large
        # start by default, and with `ids_path` (the sandbox's `--keep`) the ids of the last run
        # go on increasing, update ids and each chat's message ids alike.
        self.ids_path = ids_path
        self._saved_message_ids: dict[int, int] = {}
        if first_update_id is None:
            first_update_id = random.randrange(100_000_000, 900_000_000)
        self._next_update_id = first_update_id
        self._load_ids()
        self.update_count = 0  # updates produced and not dropped: what the bot will receive
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._webhook: dict[str, Any] = {"url": ""}
        # The TLS-terminating proxy in front of a bot: public https origin -> local http origin.
        self.webhook_routes: dict[str, str] = {}
        self._webhook_task: asyncio.Task | None = None

        self._commands: dict[CommandsKey, list[dict]] = {}
        self._descriptions: dict[tuple[str, str], str] = {}
        self._menu_buttons: dict[int | None, dict] = {}
        self._faults: list[_Fault] = []
        self._subscribers: list[asyncio.Queue] = []
        self._changed = asyncio.Event()
        self._new_update = asyncio.Event()
        self._closing = asyncio.Event()
        self.rate_limited = 0
        self.delivered: dict[int, int] = {}
        self.calls: dict[str, int] = {}

        self._methods: dict[str, Callable[[dict, dict[str, Upload]], Any]] = {
            name: getattr(self, attribute)
            for cls in reversed(type(self).__mro__)
            for name, attribute in vars(cls).get("api_methods", {}).items()
        }
        self.app = Starlette(routes=[*self.bot_api_routes(), *self.user_routes()])

    def _load_ids(self) -> None:
        if self.ids_path is None:
            return
        try:
            saved = json.loads(Path(self.ids_path).read_text())
            next_update_id = int(saved["next_update_id"])
            message_ids = {int(k): int(v) for k, v in saved["next_message_ids"].items()}
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # Written atomically, so only a hand-edited file gets here: start afresh (large ids;
            # the bot tells updates apart by more than their ids anyway).
            log.warning("sandbox id state %s unreadable (%s): ids start afresh", self.ids_path, exc)
            return
        self._next_update_id = max(self._next_update_id, next_update_id)
        self._saved_message_ids = message_ids

    def _save_ids(self) -> None:
        """Write the next update id and each chat's next message id (only with `ids_path`),
        atomically: a sandbox killed mid-write keeps the previous file."""
        if self.ids_path is None:
            return
        path = Path(self.ids_path)
        message_ids = dict(self._saved_message_ids)
        message_ids.update({chat_id: chat.next_id for chat_id, chat in self._chats.items()})
        state = {
            "next_update_id": self._next_update_id,
            "next_message_ids": {str(k): v for k, v in message_ids.items()},
        }
        tmp = path.with_name(path.name + ".tmp")
        with contextlib.suppress(OSError):  # the ids then start from the last saved state
            tmp.write_text(json.dumps(state))
            os.replace(tmp, path)

    def _new_chat(self, info: dict, members: set[int], **fields: Any) -> _Chat:
        """A chat the fake starts to know, its message ids going on from a kept run's."""
        chat = _Chat(info, members, **fields)
        chat.next_id = max(chat.next_id, self._saved_message_ids.get(info["id"], 1))
        return chat

    def wall_clock(self) -> float:
        """Unix seconds for dates Telegram stamps (message, edit): the wall clock plus the
        sandbox's moved date."""
        return time.time() + self.date_offset

    @property
    def stats(self) -> dict:
        return {
            "rate_limited": self.rate_limited,
            "delivered": dict(self.delivered),
            "calls": dict(self.calls),
            "pending_updates": len(self._updates),
            "update_count": self.update_count,
        }

    async def close(self) -> None:
        """End long polls, event streams and webhook delivery, so the server can stop."""
        self._closing.set()
        self._signal_updates()
        self._signal_change()
        for queue in self._subscribers:
            queue.put_nowait(None)
        await self._stop_webhook_task()
