"""The Bot API over HTTP: `/bot<token>/<method>` and `/file/bot<token>/<path>`, with injected faults.

A call is authenticated, counted, read (query, JSON or form), then dispatched to `api_methods`."""

from __future__ import annotations

import asyncio
import inspect
from typing import ClassVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox.telegram.errors import ApiError, _Described
from bot.sandbox.telegram.params import read_params
from bot.sandbox.telegram.state import _Fault, _first


class ServerMixin:
    """`/bot<token>/<method>`: authentication, dispatch to `api_methods`, faults."""

    def bot_api_routes(self) -> list[Route]:
        return [
            Route("/bot{token}/{method}", self._http_bot_api, methods=["GET", "POST"]),
            Route("/file/bot{token}/{path:path}", self._http_file, methods=["GET"]),
        ]

    api_methods: ClassVar[dict[str, str]] = {
        "logout": "_true",
        "close": "_true",
    }

    def inject_fault(
        self, method: str | None, kind: str, count: int = 1, *, delay: float = 20.0
    ) -> None:
        """Make the next `count` calls (of `method`, or of any method) fail.

        kind "500": an Internal Server Error; "429": Too Many Requests, retry after 1;
        "timeout": answer only after `delay` seconds, longer than the client waits."""
        if kind not in ("500", "429", "timeout"):
            raise ValueError(f"unknown fault kind {kind!r}")
        self._faults.append(_Fault(method.lower() if method else None, kind, count, delay))

    def _true(self, p: dict, files: dict) -> bool:
        return True

    async def _http_bot_api(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        name = request.path_params["method"].lower()
        if name != "getupdates" and name not in self._methods:
            return ApiError(404, "Not Found").response()
        self.calls[name] = self.calls.get(name, 0) + 1
        try:
            p, files = await read_params(request)
            self.api_calls.append((request.path_params["method"], p))
            # After reading: a timed-out call still reached Telegram and is carried out, late.
            await self._apply_fault(name)
            if name == "getupdates":
                result = await self._get_updates(p, request)
            else:
                result = self._methods[name](p, files)
                if inspect.isawaitable(result):
                    result = await result
        except ApiError as exc:
            if exc.code == 429:
                self.rate_limited += 1
            return exc.response()
        except ClientDisconnect:
            return Response(status_code=499)  # nobody is left to read it
        if isinstance(result, _Described):
            return JSONResponse(
                {"ok": True, "result": result.result, "description": result.description}
            )
        return JSONResponse({"ok": True, "result": result})

    async def _apply_fault(self, name: str) -> None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.method in (None, name):
                fault.remaining -= 1
                break
        else:
            return
        self._faults = [f for f in self._faults if f.remaining > 0]
        if fault.kind == "500":
            raise ApiError(500, "Internal Server Error")
        if fault.kind == "429":
            raise ApiError(429, "Too Many Requests: retry after 1", 1)
        await _first(asyncio.sleep(fault.delay), self._closing.wait())
