"""Injected failures of the API: 500 answers, slow requests, held-back answers (timeouts) and
dropped connections. A dropped connection sends headers and no body (stripe-python retries it)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging

from starlette.responses import JSONResponse, Response

from bot.sandbox.stripe.api import _Fault, _json_headers
from bot.sandbox.stripe.errors import StripeError
from bot.sandbox.stripe.signing import new_id

FAULT_KINDS = ("500", "timeout", "connection_reset", "slow")


_dropping = contextvars.ContextVar("fake_stripe_dropping", default=False)


class _DropFilter(logging.Filter):
    """uvicorn logs an error when an app ends a response early; here that is the point."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_dropping.get() and "without completing response" in str(record.msg))


def _install_drop_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropFilter) for f in logger.filters):
        logger.addFilter(_DropFilter())


class _DroppedResponse(Response):
    """Send the status line and headers, then nothing: uvicorn closes the connection mid-answer,
    which the client sees as a connection reset (a transport error, retried by stripe-python)."""

    def __init__(self) -> None:
        super().__init__(b"")

    async def __call__(self, scope, receive, send) -> None:
        _dropping.set(True)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )


class FaultsMixin:
    """Injecting faults and answering the requests they hit."""

    def inject_fault(
        self,
        kind: str,
        count: int = 1,
        path_prefix: str = "/v1/",
        *,
        delay: float = 90.0,
        after: bool | None = None,
    ) -> None:
        """Make the next `count` API requests under `path_prefix` fail.

        "500": an api_error answer from inside the endpoint, kept for the request's
        Idempotency-Key as Stripe keeps it (a retry with that key gets the 500 again); `after`
        says whether the endpoint's effect (a refund made, a session created) happened first.
        "connection_reset": the connection drops mid-answer; "timeout": the answer comes only
        after `delay` seconds (longer than the client waits); for these two `after` says whether
        the request was carried out (then a retry with the same key gets the replay) or never
        reached the API. "slow": the request is carried out after `delay` seconds and answered
        then; meanwhile its Idempotency-Key is in use (another request with it gets a 409).
        Default `after`: yes for "timeout", no otherwise."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")
        if after is None:
            after = kind == "timeout"
        self._faults.append(_Fault(kind, int(count), path_prefix, float(delay), bool(after)))

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and path.startswith(fault.path_prefix):
                fault.remaining -= 1
                self._faults = [f for f in self._faults if f.remaining > 0]
                return fault
        return None

    async def _fault_response(self, fault: _Fault, response: Response | None) -> Response:
        if fault.kind == "connection_reset":
            return _DroppedResponse()
        if fault.kind == "timeout":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.delay)
            if response is not None:
                return response
        error = StripeError(
            500,
            "An unknown error occurred",
            type="api_error",
        )
        return JSONResponse(
            error.body(), status_code=500, headers=_json_headers(new_id("req_", 14))
        )
