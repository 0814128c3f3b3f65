"""Reading what happened, for tests and the sandbox UIs: chats, messages, transcripts, waits, events.

Waits wake on every change; messages are seen in their current state (edits applied, deletions gone)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Callable
from typing import Any

from bot.sandbox.telegram.state import _contains


class ObserveMixin:
    """Read-only views of the chats and change notifications for tests and the UIs."""

    def chats(self) -> list[dict]:
        """Every chat with its members, for the UIs."""
        return [
            {
                "chat": copy.deepcopy(chat.info),
                "members": [copy.deepcopy(self._users[m]) for m in sorted(chat.members)],
                "blocked": chat.blocked,
                "last_message_id": max(chat.messages, default=0),
                "topics": [topic.as_dict() for topic in chat.topics.values()],
            }
            for chat in self._chats.values()
        ]

    def messages(self, chat_id: int) -> list[dict]:
        """Current state of every message in the chat, oldest first (edits applied, deletions gone)."""
        if chat_id not in self._chats:
            raise KeyError(f"no chat {chat_id}")
        return [copy.deepcopy(m) for m in self._chats[chat_id].messages.values()]

    def bot_messages(self, chat_id: int) -> list[dict]:
        return [m for m in self.messages(chat_id) if m["from"]["id"] == self.bot_user["id"]]

    def last_bot_message(self, chat_id: int) -> dict | None:
        found = self.bot_messages(chat_id)
        return found[-1] if found else None

    def transcript(self, chat_id: int) -> str:
        lines = []
        for m in self.messages(chat_id):
            who = "bot" if m["from"]["is_bot"] else m["from"]["first_name"]
            body = m.get("text") or m.get("caption") or ""
            if "document" in m:
                body = f"[document {m['document'].get('file_name')}] {body}"
            elif "photo" in m:
                body = f"[photo] {body}"
            for service in ("created", "edited", "closed", "reopened"):
                if f"forum_topic_{service}" in m:
                    body = f"[topic {service}] {m[f'forum_topic_{service}'].get('name', '')}"
            if m.get("is_topic_message"):
                body = f"[in topic #{m['message_thread_id']}] {body}"
            buttons = [
                b["text"]
                for row in m.get("reply_markup", {}).get("inline_keyboard", [])
                for b in row
            ]
            extra = f"  {buttons}" if buttons else ""
            lines.append(f"#{m['message_id']} {who}: {body}{extra}")
        return "\n".join(lines) or "(no messages)"

    async def _wait(self, predicate: Callable[[], dict | None], timeout: float, what: str, chat_id):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            found = predicate()
            if found is not None:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"{what} within {timeout}s; chat {chat_id}:\n{self.transcript(chat_id)}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def wait_for_bot_message(
        self,
        chat_id: int,
        *,
        after: int | None = None,
        contains: str | None = None,
        timeout: float = 5.0,
        pressed: dict | None = None,
    ) -> dict:
        """The oldest bot message with id > `after` whose text or caption contains `contains`.

        Messages are seen in their current state, so one edited to match counts too.
        `pressed` (a message as read before a button under it was pressed): that message too,
        once the bot edited its text into the answer (a keyboard removed is no answer)."""

        def find() -> dict | None:
            if pressed is not None:
                now = self._chats[chat_id].messages.get(pressed["message_id"])
                if (
                    now is not None
                    and now.get("_edits", 0) > pressed.get("_edits", 0)
                    and now.get("text") != pressed.get("text")
                    and _contains(now, contains)
                ):
                    return copy.deepcopy(now)
            for message in self.bot_messages(chat_id):
                if message["message_id"] > (after or 0) and _contains(message, contains):
                    return message
            return None

        what = f"no bot message after #{after or 0}" + (
            f" containing {contains!r}" if contains else ""
        )
        return await self._wait(find, timeout, what, chat_id)

    async def wait_for_edit(
        self,
        chat_id: int,
        message_id: int,
        *,
        contains: str | None = None,
        after_edits: int = 0,
        timeout: float = 5.0,
    ) -> dict:
        """The message once edited more than `after_edits` times (and containing `contains`)."""

        def find() -> dict | None:
            message = self._chats[chat_id].messages.get(message_id)
            if message and message["_edits"] > after_edits and _contains(message, contains):
                return copy.deepcopy(message)
            return None

        what = f"message #{message_id} not edited" + (
            f" to contain {contains!r}" if contains else ""
        )
        return await self._wait(find, timeout, what, chat_id)

    def subscribe(self) -> asyncio.Queue:
        """A queue receiving every change: {"kind", "chat_id", "message"}; `None` means closed."""
        queue: asyncio.Queue = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(queue)

    def _emit(self, kind: str, chat_id: int, message: dict, **extra: Any) -> None:
        event = {"kind": kind, "chat_id": chat_id, "message": copy.deepcopy(message), **extra}
        for queue in self._subscribers:
            queue.put_nowait(copy.deepcopy(event))
        self._signal_change()

    def _signal_change(self) -> None:
        # Waiters hold the old event; a fresh one is armed for the next change.
        self._changed.set()
        self._changed = asyncio.Event()
