"""The API over HTTP (`/v1/...`): API keys, routing, idempotency keys, request ids and injected faults.

A replayed Idempotency-Key returns the stored answer; the same key with other parameters is refused."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import dataclasses
import hmac
import re
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.sandbox.stripe.errors import StripeError
from bot.sandbox.stripe.model import _Ctx
from bot.sandbox.stripe.params import _read_params
from bot.sandbox.stripe.rules import DEFAULT_API_VERSION, IDEMPOTENCY_TTL, MAX_IDEMPOTENCY_KEY
from bot.sandbox.stripe.signing import new_id


@dataclasses.dataclass
class _Stored:
    """An idempotent result, replayed for the same key and parameters."""

    method: str
    path: str
    params: dict
    status: int
    body: dict
    request_id: str
    created: float


def _mask_key(key: str) -> str:
    prefix = re.match(r"^(sk|rk|pk)_(test|live)_", key)
    head = prefix.group(0) if prefix else ""
    tail = key[-4:] if len(key) - len(head) > 4 else ""
    return head + "*" * max(4, len(key) - len(head) - len(tail)) + tail


def _json_headers(request_id: str) -> dict[str, str]:
    return {
        "Request-Id": request_id,
        "Cache-Control": "no-cache, no-store",
        "Access-Control-Allow-Origin": "*",
    }


class ApiMixin:
    """`/v1/...`: authentication, routing to `_api_*` handlers and idempotency."""

    _ROUTES: tuple[tuple[str, re.Pattern, str], ...] = tuple(
        (method, re.compile(pattern), handler)
        for method, pattern, handler in (
            ("POST", r"/v1/checkout/sessions", "_api_create_session"),
            ("GET", r"/v1/checkout/sessions", "_api_list_sessions"),
            ("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)", "_api_retrieve_session"),
            ("POST", r"/v1/checkout/sessions/(?P<id>[^/]+)", "_api_update_session"),
            ("POST", r"/v1/checkout/sessions/(?P<id>[^/]+)/expire", "_api_expire_session"),
            ("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)/line_items", "_api_line_items"),
            ("GET", r"/v1/payment_intents/(?P<id>[^/]+)", "_api_retrieve_payment_intent"),
            ("GET", r"/v1/events", "_api_list_events"),
            ("GET", r"/v1/events/(?P<id>[^/]+)", "_api_retrieve_event"),
            ("GET", r"/v1/balance", "_api_retrieve_balance"),
            ("POST", r"/v1/webhook_endpoints", "_api_create_webhook_endpoint"),
            ("GET", r"/v1/webhook_endpoints", "_api_list_webhook_endpoints"),
            ("GET", r"/v1/webhook_endpoints/(?P<id>[^/]+)", "_api_retrieve_webhook_endpoint"),
            ("POST", r"/v1/webhook_endpoints/(?P<id>[^/]+)", "_api_update_webhook_endpoint"),
            ("DELETE", r"/v1/webhook_endpoints/(?P<id>[^/]+)", "_api_delete_webhook_endpoint"),
            ("POST", r"/v1/refunds", "_api_create_refund"),
            ("GET", r"/v1/refunds/(?P<id>[^/]+)", "_api_retrieve_refund"),
        )
    )

    async def _http_api(self, request: Request) -> Response:
        self._ensure_background()
        fault = self._take_fault(request.url.path)
        if fault is not None and not fault.after:
            # Never reached the API: logged, not carried out.
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "params": None,
                    "idempotency_key": request.headers.get("idempotency-key"),
                    "stripe_version": request.headers.get("stripe-version"),
                    "request_id": None,
                    "status": 500 if fault.kind == "500" else None,
                    "replayed": False,
                    "fault": fault.kind,
                }
            )
            return await self._fault_response(fault, None)
        response = await self._api_response(request)
        if fault is not None:
            self.requests[-1]["fault"] = fault.kind
            return await self._fault_response(fault, response)
        return response

    async def _api_response(self, request: Request) -> Response:
        method = request.method
        path = request.url.path
        ctx = _Ctx(
            request_id=new_id("req_", 14),
            idempotency_key=request.headers.get("idempotency-key") if method == "POST" else None,
            api_version=request.headers.get("stripe-version")
            or self.api_version
            or DEFAULT_API_VERSION,
        )
        params: dict = {}
        replayed = False
        original_request = None
        try:
            self._authenticate(request.headers.get("authorization"))
            self._check_version(request.headers.get("stripe-version"))
            handler, path_params = self._route(method, path)
            params = await _read_params(request)
            self.expire_due()
            if ctx.idempotency_key is None:
                status, body = 200, handler(params, ctx, **path_params)
            else:
                status, body, original_request = await self._run_idempotent(
                    ctx, method, path, params, lambda: handler(params, ctx, **path_params)
                )
                replayed = original_request is not None
        except StripeError as error:
            status, body = error.status, error.body(ctx.request_id)
            extra_headers = error.headers
        else:
            extra_headers = {}
        headers = _json_headers(ctx.request_id)
        headers["Stripe-Version"] = ctx.api_version
        headers.update(extra_headers)
        if ctx.idempotency_key is not None:
            headers["Idempotency-Key"] = ctx.idempotency_key
        if replayed:
            headers["Idempotent-Replayed"] = "true"
            headers["Original-Request"] = original_request or ""
        self.requests.append(
            {
                "method": method,
                "path": path,
                "params": params,
                "idempotency_key": ctx.idempotency_key,
                "stripe_version": request.headers.get("stripe-version"),
                "request_id": ctx.request_id,
                "status": status,
                "replayed": replayed,
                "fault": None,
            }
        )
        return JSONResponse(body, status_code=status, headers=headers)

    def _authenticate(self, header: str | None) -> None:
        key = None
        if header:
            scheme, _, credentials = header.partition(" ")
            if scheme.lower() == "bearer":
                key = credentials.strip()
            elif scheme.lower() == "basic":
                with contextlib.suppress(ValueError, UnicodeDecodeError):
                    key = base64.b64decode(credentials.strip()).decode().partition(":")[0]
        if not key:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
                "or we can help at https://support.stripe.com/.",
                headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
            )
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise StripeError(
                401,
                f"Invalid API Key provided: {_mask_key(key)}",
                headers={"WWW-Authenticate": 'Basic realm="Stripe"'},
            )

    def _route(self, method: str, path: str) -> tuple[Callable[..., dict], dict[str, str]]:
        for route_method, pattern, name in self._ROUTES:
            found = pattern.fullmatch(path)
            if found and route_method == method:
                return getattr(self, name), found.groupdict()
        raise StripeError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        )

    async def _run_idempotent(
        self, ctx: _Ctx, method: str, path: str, params: dict, run: Callable[[], dict]
    ) -> tuple[int, dict, str | None]:
        key = ctx.idempotency_key or ""
        if len(key) > MAX_IDEMPOTENCY_KEY:
            raise StripeError(
                400,
                f"Invalid Idempotency-Key header: the key must be at most {MAX_IDEMPOTENCY_KEY} "
                "characters long.",
            )
        now = self.now()
        for old in [k for k, s in self._idempotent.items() if now - s.created > IDEMPOTENCY_TTL]:
            del self._idempotent[old]
            self._key_locks.pop(old, None)
        # Two requests with one key at once: the second waits and gets the first one's result.
        lock = self._key_locks.setdefault(key, asyncio.Lock())
        async with lock:
            stored = self._idempotent.get(key)
            if stored is not None:
                if (stored.method, stored.path) != (method, path):
                    raise StripeError(
                        400,
                        "Keys for idempotent requests can only be used for the same endpoint "
                        f"they were first used for ('{stored.method} {stored.path}' vs "
                        f"'{method} {path}'). Try using a key other than '{key}' if you meant "
                        "to execute a different request.",
                        type="idempotency_error",
                    )
                if stored.params != params:
                    raise StripeError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters "
                        f"they were first used with. Try using a key other than '{key}' if you "
                        "meant to execute a different request.",
                        type="idempotency_error",
                    )
                return stored.status, copy.deepcopy(stored.body), stored.request_id
            try:
                status, body = 200, run()
            except StripeError as error:
                if not error.store:
                    raise
                status, body = error.status, error.body(ctx.request_id)
            if status < 500:
                self._idempotent[key] = _Stored(
                    method,
                    path,
                    copy.deepcopy(params),
                    status,
                    copy.deepcopy(body),
                    ctx.request_id,
                    now,
                )
            return status, body, None
