"""The sandbox's web page: a Telegram-like client for the sandbox's chats, its mailbox, the checkout
links and a clock, on its own loopback port (the bot's production HTTP server never serves it)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.sandbox.serve import RunningServer, start_server

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
KEEP_ALIVE_SECONDS = 10.0
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_DAYS = 5 * 366
LINK_SCHEMES = ("http", "https", "mailto", "tg")
BUTTON_URL_SCHEMES = ("http", "https", "tg")
LANGUAGE_NAMES = {"fr": "French", "en": "English"}
# The page only runs scripts and styles it serves itself; documents never render on its origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

# -- Telegram entities → safe HTML ------------------------------------------------------------

_SIMPLE_TAGS = {
    "bold": ("<b>", "</b>"),
    "italic": ("<i>", "</i>"),
    "underline": ("<u>", "</u>"),
    "strikethrough": ("<s>", "</s>"),
    "spoiler": ('<span class="spoiler">', "</span>"),
    "code": ("<code>", "</code>"),
    "blockquote": ("<blockquote>", "</blockquote>"),
    "expandable_blockquote": ("<blockquote>", "</blockquote>"),
    "bot_command": ('<span class="command">', "</span>"),
    "mention": ('<span class="mention">', "</span>"),
    "hashtag": ('<span class="mention">', "</span>"),
}


def safe_href(url: str, schemes: tuple[str, ...] = LINK_SCHEMES) -> str | None:
    """`url` when it is a link the page may follow (no `javascript:` and the like), else None."""
    url = (url or "").strip()
    if not url or any(ord(c) < 32 for c in url):
        return None
    scheme = urlsplit(url).scheme.lower()
    if not scheme:
        return "https://" + url if "." in url.split("/", 1)[0] else None
    return url if scheme in schemes else None


def _tags(entity: dict, covered: str) -> tuple[str, str]:
    kind = entity.get("type")
    if kind in _SIMPLE_TAGS:
        return _SIMPLE_TAGS[kind]
    if kind == "pre":
        language = entity.get("language")
        if language:
            css = html.escape(f"language-{language}", quote=True)
            return f'<pre><code class="{css}">', "</code></pre>"
        return "<pre>", "</pre>"
    if kind in ("text_link", "url", "email"):
        if kind == "text_link":
            href = safe_href(entity.get("url", ""))
        elif kind == "email":
            href = safe_href("mailto:" + covered)
        else:
            href = safe_href(covered)
        if href is None:
            return "<span>", "</span>"
        attr = html.escape(href, quote=True)
        return f'<a href="{attr}" target="_blank" rel="noopener noreferrer">', "</a>"
    return "", ""


def entities_to_html(text: str, entities: list[dict] | None) -> str:
    """Telegram text plus its entities (offsets in UTF-16 units) as HTML where every character
    of the text is escaped and only the formatting the entities describe becomes markup."""
    data = (text or "").encode("utf-16-le")
    size = len(data) // 2

    def piece(start: int, end: int) -> str:
        return data[2 * start : 2 * end].decode("utf-16-le", errors="replace")

    valid = []
    for entity in entities or []:
        offset, length = entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(length, int):
            continue
        if offset < 0 or length <= 0 or offset + length > size:
            continue
        valid.append((offset, offset + length, entity))
    valid.sort(key=lambda item: (item[0], -item[1]))
    starts: dict[int, list[tuple[int, int, dict]]] = {}
    for item in valid:
        starts.setdefault(item[0], []).append(item)
    bounds = sorted({0, size, *(s for s, _, _ in valid), *(e for _, e, _ in valid)})
    out: list[str] = []
    stack: list[tuple[int, str, str]] = []  # (end, opening tag, closing tag)
    for index, pos in enumerate(bounds):
        if any(end == pos for end, _, _ in stack):
            # Close what ends here; entities that cross it are closed and opened again.
            reopen = []
            while any(end == pos for end, _, _ in stack):
                top = stack.pop()
                out.append(top[2])
                if top[0] != pos:
                    reopen.append(top)
            for item in reversed(reopen):
                out.append(item[1])
                stack.append(item)
        for start, end, entity in starts.get(pos, []):
            opening, closing = _tags(entity, piece(start, end))
            out.append(opening)
            stack.append((end, opening, closing))
        if index + 1 < len(bounds):
            out.append(html.escape(piece(pos, bounds[index + 1]), quote=True))
    while stack:
        out.append(stack.pop()[2])
    return "".join(out)


# -- what the page receives -------------------------------------------------------------------


def _name(user: dict) -> str:
    return " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p) or "?"


def _body(message: dict) -> tuple[str, list[dict] | None]:
    if message.get("text") is not None:
        return message["text"], message.get("entities")
    return message.get("caption") or "", message.get("caption_entities")


def _snippet(message: dict, limit: int = 90) -> str:
    text, _ = _body(message)
    if not text:
        if message.get("document"):
            text = "Document: " + (message["document"].get("file_name") or "document")
        elif message.get("photo"):
            text = "Photo"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def topic_service(message: dict) -> str | None:
    """A forum topic's service message in words (created, renamed, closed, reopened)."""
    if "forum_topic_created" in message:
        return f"Topic “{message['forum_topic_created'].get('name', '')}” created"
    if "forum_topic_edited" in message:
        name = message["forum_topic_edited"].get("name")
        return f"Topic renamed “{name}”" if name else "Topic icon changed"
    if "forum_topic_closed" in message:
        return "Topic closed"
    if "forum_topic_reopened" in message:
        return "Topic reopened"
    return None


def _buttons(message: dict) -> list[list[dict]]:
    rows = []
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        buttons = []
        for button in row:
            shown: dict[str, Any] = {"text": button.get("text", "")}
            if "callback_data" in button:
                shown["data"] = button["callback_data"]
            elif button.get("url"):
                href = safe_href(button["url"], BUTTON_URL_SCHEMES)
                if href:
                    shown["url"] = href
            buttons.append(shown)
        rows.append(buttons)
    return rows


def page_message(message: dict, *, edited: bool | None = None) -> dict:
    """One message as the page draws it: text already turned into safe HTML, files as links."""
    text, entities = _body(message)
    sender = message.get("from") or {}
    chat_id = (message.get("chat") or {}).get("id")
    shown: dict[str, Any] = {
        "id": message["message_id"],
        "chat_id": chat_id,
        "date": message.get("date"),
        "from": {"id": sender.get("id"), "name": _name(sender), "is_bot": sender.get("is_bot")},
        "text": text,
        "html": entities_to_html(text, entities),
        "edited": bool(message.get("edit_date")) if edited is None else edited,
        "buttons": _buttons(message),
        # Forums: the topic the message is in (None: the General topic, or not a forum).
        "thread_id": message.get("message_thread_id") if message.get("is_topic_message") else None,
        "service": topic_service(message),
    }
    document = message.get("document")
    if document:
        shown["document"] = {
            "name": document.get("file_name") or "document",
            "size": document.get("file_size"),
            "mime": document.get("mime_type"),
            "url": f"/files/{quote(document['file_id'], safe='')}",
        }
    if message.get("photo"):
        largest = message["photo"][-1]
        shown["photo"] = {"url": f"/files/{quote(largest['file_id'], safe='')}?inline=1"}
    replied = message.get("reply_to_message")
    if replied and replied.get("message_id") == shown["thread_id"]:
        replied = None  # in a topic, every message "replies" to its creation: not worth showing
    if replied:
        shown["reply_to"] = {
            "id": replied.get("message_id"),
            "from": _name(replied.get("from") or {}),
            "text": _snippet(replied),
        }
    forwarded = message.get("forward_origin") or {}
    if forwarded:
        origin = forwarded.get("sender_user") or {}
        shown["forwarded_from"] = (
            _name(origin) if origin else forwarded.get("sender_user_name") or "hidden"
        )
    return shown


def page_mail(mail: dict) -> dict:
    return {
        "id": mail.get("id"),
        "to": list(mail.get("rcpt_tos") or []),
        "from": mail.get("from") or mail.get("mail_from") or "",
        "subject": mail.get("subject") or "",
        "text": mail.get("text") or "",
        "received_at": mail.get("received_at"),
    }


def _mailbox(sandbox):
    return getattr(sandbox.smtp, "mailbox", sandbox.smtp)


# -- resetting the sandbox --------------------------------------------------------------------


async def reset_sandbox(sandbox) -> None:
    """Back to the sample data: stop the bot, delete its database, seed it again, start a fresh
    bot (its clock back to today) and empty the mailbox. The stand-ins keep running."""
    from bot.clock import Clock
    from bot.runtime import Runtime
    from bot.sandbox.run import align_clocks, seed

    settings = sandbox.settings
    await sandbox.runtime.stop()
    db = Path(settings.db)
    for suffix in ("", "-wal", "-shm", "-journal"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    await seed(settings)
    runtime = Runtime(settings, clock=Clock(settings.tz))
    await runtime.start()
    runtime.services.checkout_return_url = getattr(sandbox, "checkout_return_url", None)
    sandbox.runtime = runtime
    align_clocks(sandbox)
    if getattr(sandbox, "stripe", None) is not None:
        sandbox.stripe.webhook_url = runtime.http.url + "/stripe/webhook"
    _mailbox(sandbox).clear()


# -- the live part: one hub fans the stand-ins' events out to every open page ----------------


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


# -- the Starlette app ------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class SandboxWeb:
    """The page's Starlette app (`app`) over a running sandbox."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox
        self.hub = Hub(sandbox)
        self._reset_lock = asyncio.Lock()
        self.app = Starlette(
            routes=[
                Route("/", self.index, methods=["GET"]),
                Route("/api/state", self.state, methods=["GET"]),
                Route("/api/events", self.events, methods=["GET"]),
                Route("/api/send", self.send, methods=["POST"]),
                Route("/api/press", self.press, methods=["POST"]),
                Route("/api/upload", self.upload, methods=["POST"]),
                Route("/api/clock", self.clock, methods=["POST"]),
                Route("/api/reminders", self.reminders, methods=["POST"]),
                Route("/api/reset", self.reset, methods=["POST"]),
                Route("/files/{file_id}", self.download, methods=["GET"]),
                Mount("/static", StaticFiles(directory=STATIC), name="static"),
            ],
            middleware=[
                # Another site in the same browser must not drive the sandbox (DNS rebinding).
                Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"]),
            ],
        )

    @property
    def telegram(self):
        return self.sandbox.telegram

    # -- reading ---------------------------------------------------------------------------

    def _roles(self) -> dict[int, str]:
        from bot.sandbox.run import CLUB_CONTACT, SECOND_CONTACT

        staff = set(self.sandbox.settings.staff_user_ids or ())
        roles = {CLUB_CONTACT: "club contact", SECOND_CONTACT: "second club contact"}
        return {**roles, **dict.fromkeys(staff, "staff")}

    def _member(self, user: dict, roles: dict[int, str]) -> dict:
        language = user.get("language_code") or ""
        return {
            "id": user["id"],
            "name": _name(user),
            "role": roles.get(user["id"], "club contact"),
            "language": LANGUAGE_NAMES.get(language, language),
        }

    def snapshot(self) -> dict:
        """Everything the page shows: the date, the chats with their messages, the mailbox."""
        roles = self._roles()
        staff = set(self.sandbox.settings.staff_user_ids or ())
        chats = []
        for entry in self.telegram.chats():
            info = entry["chat"]
            chat_id = info["id"]
            messages = [
                self.hub.shown(m)
                for m in self.telegram.messages(chat_id)
                if self.hub.visible(chat_id, m["message_id"])
            ]
            private = info.get("type") == "private"
            # Staff members' own chats with the bot only matter once something was said there.
            if private and chat_id in staff and not messages:
                continue
            members = [self._member(u, roles) for u in entry["members"]]
            if private and members:
                person = members[0]
                title = person["name"]
                subtitle = " · ".join(p for p in (person["role"], person["language"]) if p)
            else:
                title = info.get("title") or str(chat_id)
                subtitle = ", ".join(m["name"] for m in members)
            chats.append(
                {
                    "id": chat_id,
                    "type": info.get("type"),
                    "title": title,
                    "subtitle": subtitle,
                    "members": members,
                    "messages": messages,
                    "forum": bool(info.get("is_forum")),
                    "topics": [
                        {"id": t["message_thread_id"], "name": t["name"], "closed": t["is_closed"]}
                        for t in entry.get("topics", [])
                    ],
                }
            )
        chats.sort(key=lambda c: (c["type"] != "private", c["id"] < 0, abs(c["id"])))
        return {
            "bot": {"id": self.telegram.bot_user["id"], "name": _name(self.telegram.bot_user)},
            "clock": self._clock(),
            "chats": chats,
            "mails": [page_mail(m) for m in _mailbox(self.sandbox).messages],
        }

    def _clock(self) -> dict:
        clock = self.sandbox.clock
        today = clock.today()
        return {
            "date": today.isoformat(),
            "label": f"{today:%A} {today.day} {today:%B %Y}",
            "offset_days": clock.offset // dt.timedelta(days=1),
        }

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

    async def state(self, request: Request) -> Response:
        return JSONResponse(self.snapshot())

    async def events(self, request: Request) -> Response:
        if self.hub.closing.is_set():
            return Response(status_code=204)  # a browser stops reconnecting on 204
        queue = self.hub.connect()
        snapshot = self.snapshot()

        async def stream():
            try:
                yield "retry: 1000\n\n" + _sse("state", snapshot)
                while not self.hub.closing.is_set():
                    try:
                        item = await asyncio.wait_for(queue.get(), KEEP_ALIVE_SECONDS)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if item is None:
                        return
                    yield _sse(*item)
            finally:
                self.hub.disconnect(queue)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def download(self, request: Request) -> Response:
        try:
            stored = self.telegram.file(request.path_params["file_id"])
        except KeyError:
            return JSONResponse({"error": "no such file"}, status_code=404)
        mime = stored.mime_type or "application/octet-stream"
        inline = request.query_params.get("inline") and mime.startswith("image/")
        disposition = "inline" if inline else "attachment"
        ascii_name = stored.file_name.encode("ascii", "replace").decode().replace('"', "")
        headers = {
            **SECURITY_HEADERS,
            "Content-Disposition": (
                f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''"
                f"{quote(stored.file_name, safe='')}"
            ),
        }
        return Response(stored.data, media_type=mime, headers=headers)

    # -- acting ----------------------------------------------------------------------------

    async def send(self, request: Request) -> Response:
        async def act() -> dict:
            body = await _json(request)
            user_id, chat_id = _int(body, "user_id"), _int(body, "chat_id")
            text = body.get("text")
            if not isinstance(text, str) or not text.strip():
                raise ApiError("type a message first")
            reply_to = body.get("reply_to")
            thread = body.get("thread_id")
            sent = await self.telegram.send_text(
                user_id,
                text,
                chat_id=chat_id,
                reply_to_message_id=int(reply_to) if reply_to else None,
                message_thread_id=_int(body, "thread_id") if thread else None,
            )
            return {"ok": True, "message": page_message(sent)}

        return await self._act(request, act)

    async def press(self, request: Request) -> Response:
        async def act() -> dict:
            body = await _json(request)
            data = body.get("data")
            if not isinstance(data, str):
                raise ApiError("which button?")
            await self.telegram.press(
                _int(body, "user_id"), _int(body, "message_id"), data, chat_id=_int(body, "chat_id")
            )
            return {"ok": True}

        return await self._act(request, act)

    async def upload(self, request: Request) -> Response:
        """The file is the request body; who, where, its name and a caption are query values."""

        async def act() -> dict:
            params = request.query_params
            user_id, chat_id = _int(params, "user_id"), _int(params, "chat_id")
            data = await _read_limited(request, MAX_UPLOAD_BYTES)
            if not data:
                raise ApiError("the file is empty")
            name = (params.get("filename") or "file").replace("/", "_").replace("\\", "_")
            mime = request.headers.get("content-type", "").split(";")[0].strip()
            caption = params.get("caption") or None
            if mime in ("image/jpeg", "image/png", "image/gif", "image/webp"):
                sent = await self.telegram.send_photo(
                    user_id, chat_id=chat_id, caption=caption, data=data
                )
            else:
                sent = await self.telegram.send_document(
                    user_id,
                    filename=name[:200],
                    data=data,
                    mime_type=mime or None,
                    chat_id=chat_id,
                    caption=caption,
                )
            return {"ok": True, "message": page_message(sent)}

        return await self._act(request, act)

    async def clock(self, request: Request) -> Response:
        async def act() -> dict:
            from bot.sandbox.run import advance_clock

            days = _int(await _json(request), "days")
            if not 1 <= days <= MAX_DAYS:
                raise ApiError(f"move the date forward by 1 to {MAX_DAYS} days")
            advance_clock(self.sandbox, days)
            clock = self._clock()
            self.hub.publish("clock", clock)
            return {"ok": True, "clock": clock}

        return await self._act(request, act)

    async def reminders(self, request: Request) -> Response:
        async def act() -> dict:
            try:
                summary = await self.sandbox.run_reminders()
            except Exception as exc:  # shown on the page: the person sees why nothing was sent
                log.exception("sandbox page: running the reminders failed")
                raise ApiError(
                    f"the reminders could not run: {type(exc).__name__}: {exc}", 500
                ) from exc
            return {"ok": True, "summary": str(summary)}

        return await self._act(request, act)

    async def reset(self, request: Request) -> Response:
        async def act() -> dict:
            if self._reset_lock.locked():
                raise ApiError("a reset is already under way", 409)
            async with self._reset_lock:
                self.hub.publish("resetting", {})
                try:
                    await reset_sandbox(self.sandbox)
                except Exception as exc:  # shown on the page; the log has the traceback
                    log.exception("sandbox page: the reset failed")
                    raise ApiError(f"the reset failed: {type(exc).__name__}: {exc}", 500) from exc
                for entry in self.telegram.chats():
                    self.hub.hidden_up_to[entry["chat"]["id"]] = entry["last_message_id"]
                snapshot = self.snapshot()
                self.hub.publish("state", snapshot)
            return {"ok": True, "clock": snapshot["clock"]}

        return await self._act(request, act)

    async def _act(self, request: Request, act) -> Response:
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            return JSONResponse({"error": "cross-site request refused"}, status_code=403)
        try:
            return JSONResponse(await act())
        except ApiError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except (KeyError, LookupError, ValueError, TypeError) as exc:
            # The stand-in's own refusals (not a member, no such button…) are the person's to see.
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return JSONResponse({"error": str(message)}, status_code=400)


def _sse(kind: str, data: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _json(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError as exc:
        raise ApiError("the request body is not JSON") from exc
    if not isinstance(body, dict):
        raise ApiError("the request body is not a JSON object")
    return body


def _int(values, key: str) -> int:
    value = values.get(key)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(f"{key} must be a whole number") from None


async def _read_limited(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(f"files over {limit // (1024 * 1024)} MB are refused", 413)
        chunks.append(chunk)
    return b"".join(chunks)


class WebServer(RunningServer):
    """The running page: `url`, and `stop()` that ends the live streams before the server."""

    def __init__(self, web: SandboxWeb, running: RunningServer) -> None:
        super().__init__(running.server, running.task, running.host, running.port)
        self.web = web

    async def stop(self) -> None:
        await self.web.hub.close()
        await super().stop()


async def start_web(sandbox, port: int = 0, host: str = "127.0.0.1") -> WebServer:
    """Serve the sandbox page on a loopback port (0: a free one)."""
    web = SandboxWeb(sandbox)
    web.hub.start()
    try:
        running = await start_server(web.app, host, port)
    except BaseException:
        await web.hub.close()
        raise
    return WebServer(web, running)
