"""Control of the fake over HTTP (`/sandbox/...`) for the sandbox UIs: sessions, events, clock, faults, pay.

These routes are the sandbox's own; Stripe has none of them."""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.sandbox.stripe.params import _json_body


class ControlMixin:
    """`/sandbox/...` routes of the fake Stripe."""

    async def _http_sessions(self, request: Request) -> Response:
        self.expire_due()
        data = [self._session_view(s, ("line_items",)) for s in self.sessions.values()]
        return JSONResponse({"now": int(self.now()), "data": data})

    async def _http_events(self, request: Request) -> Response:
        return JSONResponse({"data": self.events})

    async def _http_deliveries(self, request: Request) -> Response:
        return JSONResponse({"pending": self._pending, "data": self.deliveries})

    async def _http_clock(self, request: Request) -> Response:
        body = await _json_body(request)
        try:
            seconds = float(body.get("advance_seconds", 0))
        except (TypeError, ValueError):
            return JSONResponse({"error": "advance_seconds must be a number"}, status_code=400)
        return JSONResponse({"now": self.advance_clock(seconds)})

    async def _http_fault(self, request: Request) -> Response:
        body = await _json_body(request)
        try:
            self.inject_fault(
                str(body.get("kind")),
                int(body.get("count", 1)),
                str(body.get("path_prefix", "/v1/")),
                delay=float(body.get("delay", 90.0)),
                after=body.get("after"),
            )
        except (TypeError, ValueError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"ok": True, "faults": [dataclasses.asdict(f) for f in self._faults]})

    async def _http_pay(self, request: Request) -> Response:
        body = await _json_body(request)
        outcome = self.attempt_payment(
            str(body.get("session", "")),
            str(body.get("card", "4242424242424242")),
            exp=body.get("exp"),
            cvc=body.get("cvc"),
            name=body.get("name"),
            email=body.get("email"),
        )
        return JSONResponse(
            dataclasses.asdict(outcome), status_code=200 if outcome.ok else outcome.status
        )

    async def _http_webhook(self, request: Request) -> Response:
        body = await _json_body(request)
        self.webhook_url = body.get("url") or None
        return JSONResponse({"webhook_url": self.webhook_url})
