"""The user side over HTTP (`/sandbox/...`): the web page and the terminal drive the people through it.

Mistakes (unknown user, missing button) are answered as 400 with {"error"}; nothing reaches the bot then."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
from collections.abc import Callable
from typing import Any

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bot.sandbox.telegram.chats import ADMIN_RIGHTS, MEMBER_RIGHTS


class ChatIdConvertor(Convertor[int]):
    """A chat id in a path: an integer with its sign. Groups and supergroups have negative ids
    (`-100…`, Bot API, Chat.id), which Starlette's `int` convertor (digits only) does not match."""

    regex = "-?[0-9]+"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(int(value))


register_url_convertor("chat_id", ChatIdConvertor())


async def _json_body(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def _user_call(call: Callable[[], Any]) -> Response:
    """Run a user-side action for the HTTP API: its result as JSON, mistakes as 400."""
    try:
        result = call()
        if inspect.isawaitable(result):
            result = await result
    except (KeyError, LookupError, ValueError, TypeError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(result)


class UserHttpMixin:
    """`/sandbox/...` routes: the user side and the observers, over HTTP."""

    def user_routes(self) -> list[Route]:
        return [
            Route("/sandbox/chats", self._http_chats, methods=["GET"]),
            Route("/sandbox/chats/{chat_id:chat_id}/messages", self._http_messages),
            Route("/sandbox/chats/{chat_id:chat_id}/commands", self._http_commands),
            Route("/sandbox/users", self._http_add_user, methods=["POST"]),
            Route("/sandbox/send", self._http_send, methods=["POST"]),
            Route("/sandbox/press", self._http_press, methods=["POST"]),
            Route("/sandbox/photo", self._http_photo, methods=["POST"]),
            Route("/sandbox/document", self._http_document, methods=["POST"]),
            Route("/sandbox/forward", self._http_forward, methods=["POST"]),
            Route("/sandbox/block", self._http_block, methods=["POST"]),
            Route("/sandbox/files/{file_id}", self._http_download, methods=["GET"]),
            Route("/sandbox/events", self._http_events, methods=["GET"]),
            Route("/sandbox/fault", self._http_fault, methods=["POST"]),
            Route("/sandbox/stats", self._http_stats, methods=["GET"]),
            Route("/sandbox/forum", self._http_forum, methods=["POST"]),
            Route("/sandbox/topics/close", self._http_close_topic, methods=["POST"]),
            Route("/sandbox/topics/delete", self._http_delete_topic, methods=["POST"]),
            Route("/sandbox/topics/reopen", self._http_reopen_topic, methods=["POST"]),
            Route("/sandbox/bot_member", self._http_bot_member, methods=["POST"]),
        ]

    async def _http_chats(self, request: Request) -> Response:
        return JSONResponse({"bot": self.bot_user, "chats": self.chats()})

    async def _http_messages(self, request: Request) -> Response:
        chat_id = request.path_params["chat_id"]

        def since() -> list[dict]:
            after = int(request.query_params.get("after") or 0)
            return [m for m in self.messages(chat_id) if m["message_id"] > after]

        return await _user_call(since)

    async def _http_commands(self, request: Request) -> Response:
        """The menu a person sees in a chat: ?user_id= (default: the private chat's person)."""
        chat_id = request.path_params["chat_id"]
        user_id = request.query_params.get("user_id") or chat_id

        def menu() -> dict:
            return {"commands": self.menu(int(user_id), chat_id)}

        return await _user_call(menu)

    async def _http_add_user(self, request: Request) -> Response:
        body = await _json_body(request)
        return await _user_call(
            lambda: self.add_user(
                int(body["user_id"]),
                body["first_name"],
                language_code=body.get("language_code", "fr"),
                username=body.get("username"),
                last_name=body.get("last_name"),
            )
        )

    async def _http_send(self, request: Request) -> Response:
        body = await _json_body(request)
        return await _user_call(
            lambda: self.send_text(
                int(body["user_id"]),
                body["text"],
                chat_id=body.get("chat_id"),
                reply_to_message_id=body.get("reply_to_message_id"),
                message_thread_id=body.get("message_thread_id"),
            )
        )

    async def _http_press(self, request: Request) -> Response:
        body = await _json_body(request)

        async def press() -> dict:
            query_id = await self.press(
                int(body["user_id"]),
                int(body["message_id"]),
                body["data"],
                chat_id=body.get("chat_id"),
            )
            return {"callback_query_id": query_id}

        return await _user_call(press)

    async def _http_photo(self, request: Request) -> Response:
        body = await _json_body(request)
        return await _user_call(
            lambda: self.send_photo(
                int(body["user_id"]),
                chat_id=body.get("chat_id"),
                caption=body.get("caption"),
                **({"data": base64.b64decode(body["data"])} if body.get("data") else {}),
            )
        )

    async def _http_document(self, request: Request) -> Response:
        body = await _json_body(request)
        return await _user_call(
            lambda: self.send_document(
                int(body["user_id"]),
                filename=body["filename"],
                data=base64.b64decode(body["data"]),
                mime_type=body.get("mime_type"),
                chat_id=body.get("chat_id"),
                caption=body.get("caption"),
            )
        )

    async def _http_forward(self, request: Request) -> Response:
        body = await _json_body(request)
        return await _user_call(
            lambda: self.forward(
                int(body["user_id"]),
                int(body["from_chat_id"]),
                int(body["message_id"]),
                int(body["to_chat_id"]),
            )
        )

    async def _http_block(self, request: Request) -> Response:
        body = await _json_body(request)

        def block() -> dict:
            user_id = int(body["user_id"])
            if body.get("blocked", True):
                self.block_bot(user_id)
            else:
                self.unblock_bot(user_id)
            return {"user_id": user_id, "blocked": self._chats[user_id].blocked}

        return await _user_call(block)

    async def _http_download(self, request: Request) -> Response:
        stored = self._files.get(request.path_params["file_id"])
        if stored is None:
            return JSONResponse({"error": "no such file"}, status_code=404)
        filename = stored.file_name.replace('"', "")
        return Response(
            stored.data,
            media_type=stored.mime_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    async def _http_events(self, request: Request) -> Response:
        queue = self.subscribe()

        async def stream():
            try:
                yield ": connected\n\n"
                while not self._closing.is_set():
                    try:
                        event = await asyncio.wait_for(queue.get(), 15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if event is None:
                        return
                    yield f"event: {event['kind']}\ndata: {json.dumps(event)}\n\n"
            finally:
                self.unsubscribe(queue)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    async def _http_fault(self, request: Request) -> Response:
        body = await _json_body(request)

        def inject() -> dict:
            self.inject_fault(
                body.get("method"),
                str(body["kind"]),
                int(body.get("count", 1)),
                delay=float(body.get("delay", 20.0)),
            )
            return {"ok": True}

        return await _user_call(inject)

    async def _http_stats(self, request: Request) -> Response:
        return JSONResponse(self.stats)

    async def _http_forum(self, request: Request) -> Response:
        """{chat_id, enabled}: an administrator turns the group's topics on or off."""
        body = await _json_body(request)
        return await _user_call(
            lambda: self.set_forum(int(body["chat_id"]), bool(body.get("enabled", True)))
        )

    async def _http_close_topic(self, request: Request) -> Response:
        body = await _json_body(request)
        return await _user_call(
            lambda: self.close_topic(
                int(body["user_id"]), int(body["chat_id"]), int(body["message_thread_id"])
            )
        )

    async def _http_reopen_topic(self, request: Request) -> Response:
        body = await _json_body(request)
        return await _user_call(
            lambda: self.reopen_topic(
                int(body["user_id"]), int(body["chat_id"]), int(body["message_thread_id"])
            )
        )

    async def _http_bot_member(self, request: Request) -> Response:
        """{chat_id, status, rights}: an administrator sets the bot's place in a group (e.g.
        administrator with {"can_manage_topics": true}); the bot gets `my_chat_member`."""
        body = await _json_body(request)

        def set_member() -> dict:
            rights = body.get("rights") or {}
            if not isinstance(rights, dict) or not all(
                right in ADMIN_RIGHTS + MEMBER_RIGHTS and isinstance(value, bool)
                for right, value in rights.items()
            ):
                raise ValueError("rights: an object of ChatMember rights, each true or false")
            return self.set_bot_member(int(body["chat_id"]), str(body["status"]), **rights)

        return await _user_call(set_member)

    async def _http_delete_topic(self, request: Request) -> Response:
        body = await _json_body(request)

        def delete() -> dict:
            self.delete_topic(
                int(body["user_id"]), int(body["chat_id"]), int(body["message_thread_id"])
            )
            return {"ok": True}

        return await _user_call(delete)
