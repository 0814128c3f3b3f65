"""The sandbox page's live part: one hub reads the stand-ins' change queues (fake Telegram, mailbox)
and fans each change out to every open page."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.sandbox.web.page import _body, _mailbox, page_mail, page_message

log = logging.getLogger(__name__)


class Hub:
    """Reads the fake Telegram's and the mailbox's change queues once and hands each change to
    every connected page as (event name, data); `None` tells a page's stream to end."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox
        self.clients: set[asyncio.Queue] = set()
        self.closing = asyncio.Event()
        # After a reset the page starts each chat afresh: ids up to these belong to before.
        self.hidden_up_to: dict[int, int] = {}
        # Telegram clients say "edited" when the text changed, not when a keyboard went away.
        self._texts: dict[tuple[int, int], str] = {}
        self._text_edited: set[tuple[int, int]] = set()
        self._tasks: list[asyncio.Task] = []
        self._telegram_queue: asyncio.Queue | None = None
        self._mail_queue: asyncio.Queue | None = None

    def start(self) -> None:
        self._telegram_queue = self.sandbox.telegram.subscribe()
        self._mail_queue = _mailbox(self.sandbox).subscribe()
        self._tasks = [
            asyncio.create_task(self._pump(self._telegram_queue, self._on_telegram)),
            asyncio.create_task(self._pump(self._mail_queue, self._on_mail)),
        ]

    async def close(self) -> None:
        self.closing.set()
        for queue in list(self.clients):
            queue.put_nowait(None)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._telegram_queue is not None:
            self.sandbox.telegram.unsubscribe(self._telegram_queue)
        if self._mail_queue is not None:
            _mailbox(self.sandbox).unsubscribe(self._mail_queue)

    def connect(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        self.clients.add(queue)
        return queue

    def disconnect(self, queue: asyncio.Queue) -> None:
        self.clients.discard(queue)

    def publish(self, kind: str, data: dict) -> None:
        for queue in list(self.clients):
            queue.put_nowait((kind, data))

    async def _pump(self, queue: asyncio.Queue, handle) -> None:
        while True:
            event = await queue.get()
            if event is None:  # the stand-in closed
                return
            try:
                handle(event)
            except Exception:  # one odd event must not stop the page's updates
                log.exception("sandbox page: could not relay an event")

    def visible(self, chat_id: int, message_id: int) -> bool:
        return message_id > self.hidden_up_to.get(chat_id, 0)

    def shown(self, message: dict) -> dict:
        key = ((message.get("chat") or {}).get("id"), message["message_id"])
        known = key in self._texts
        return page_message(message, edited=(key in self._text_edited) if known else None)

    def _on_telegram(self, event: dict) -> None:
        kind, chat_id, message = event.get("kind"), event.get("chat_id"), event.get("message")
        if not message or "message_id" not in message:
            return
        key = (chat_id, message["message_id"])
        if kind == "message":
            self._texts[key] = _body(message)[0]
        elif kind == "edit":
            text = _body(message)[0]
            if key in self._texts and self._texts[key] != text:
                self._text_edited.add(key)
            self._texts.setdefault(key, text)
        if not self.visible(chat_id, message["message_id"]):
            return
        if kind in ("message", "edit"):
            self.publish(kind, {"chat_id": chat_id, "message": self.shown(message)})
        elif kind == "delete":
            self.publish("delete", {"chat_id": chat_id, "message_id": message["message_id"]})
        elif kind == "callback_answer":
            answer = event.get("answer") or {}
            if answer.get("text"):
                self.publish(
                    "notice",
                    {
                        "chat_id": chat_id,
                        "user_id": answer.get("user_id"),
                        "text": answer["text"],
                        "alert": bool(answer.get("show_alert")),
                    },
                )

    def _on_mail(self, mail: dict) -> None:
        self.publish("mail", page_mail(mail))
