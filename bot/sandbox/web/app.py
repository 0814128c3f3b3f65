"""The sandbox's web page: a Telegram-like client for the sandbox's chats, its mailbox, the checkout
links and a clock, on its own loopback port (the bot's production HTTP server never serves it)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from pathlib import Path
from urllib.parse import quote, urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.sandbox.serve import RunningServer, start_server
from bot.sandbox.web.hub import Hub
from bot.sandbox.web.page import _mailbox, _name, page_mail, page_message
from bot.sandbox.web.reset import reset_sandbox

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent.parent / "static"
KEEP_ALIVE_SECONDS = 10.0
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_DAYS = 5 * 366
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
            from bot.reminders.pacing import RunInProgress

            try:
                summary = await self.sandbox.run_reminders()
            except RunInProgress as exc:
                # Expected (a second click, the terminal's :reminders, the 09:00 job): one line.
                log.info("sandbox page: reminders not started: %s", exc)
                raise ApiError(
                    "a reminders run is already in progress: nothing more was started;"
                    " its summary comes when it ends",
                    409,
                ) from exc
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
