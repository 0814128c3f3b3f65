"""The API over HTTP (`/v1/...`): API keys, routing, idempotency keys, request ids and injected faults.

A replayed Idempotency-Key returns the stored answer, a 500 included; the same key with other
parameters is refused; a key still in use by a request being carried out gets a 409."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import dataclasses
import hmac
import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.sandbox.stripe.errors import StripeError
from bot.sandbox.stripe.model import _Ctx
from bot.sandbox.stripe.params import _read_params
from bot.sandbox.stripe.rules import DEFAULT_API_VERSION, IDEMPOTENCY_TTL, MAX_IDEMPOTENCY_KEY
from bot.sandbox.stripe.signing import new_id


@dataclasses.dataclass
class _Fault:
    """An injected failure (bot/sandbox/stripe/faults.py: `inject_fault`)."""

    kind: str
    remaining: int
    path_prefix: str
    delay: float
    after: bool


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
            ("GET", r"/v1/refunds", "_api_list_refunds"),
            ("GET", r"/v1/refunds/(?P<id>[^/]+)", "_api_retrieve_refund"),
        )
    )

    async def _http_api(self, request: Request) -> Response:
        self._ensure_background()
        fault = self._take_fault(request.url.path)
        if fault is not None and fault.kind != "500" and not fault.after and fault.kind != "slow":
            # Never reached the API: logged, not carried out.
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "params": None,
                    "idempotency_key": request.headers.get("idempotency-key"),
                    "stripe_version": request.headers.get("stripe-version"),
                    "request_id": None,
                    "status": None,
                    "replayed": False,
                    "fault": fault.kind,
                }
            )
            return await self._fault_response(fault, None)
        # A "500" or "slow" fault acts inside the endpoint (`_api_response`), where the
        # idempotency layer sees it; the others act on the answer.
        inside = fault if fault is not None and fault.kind in ("500", "slow") else None
        response = await self._api_response(request, inside)
        if fault is not None:
            self.requests[-1]["fault"] = fault.kind
            if inside is None:
                return await self._fault_response(fault, response)
        return response

    async def _api_response(self, request: Request, fault: _Fault | None = None) -> Response:
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

            async def run() -> dict:
                return await self._carry_out(fault, lambda: handler(params, ctx, **path_params))

            if ctx.idempotency_key is None:
                status, body = 200, await run()
            else:
                status, body, original_request = await self._run_idempotent(
                    ctx, method, path, params, run
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

    async def _carry_out(self, fault: _Fault | None, handler: Callable[[], dict]) -> dict:
        """Run the endpoint, with the fault that acts inside it: "slow" waits `delay` seconds
        first (its idempotency key is in use meanwhile); "500" fails before the endpoint's effect
        (`after` false) or after it (the effect stands). Either 500 is an error the idempotency
        layer keeps, as Stripe keeps the result of any request whose endpoint began executing."""
        if fault is not None and fault.kind == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.delay)
        if fault is not None and fault.kind == "500" and not fault.after:
            raise _server_error()
        body = handler()
        if fault is not None and fault.kind == "500":
            raise _server_error()
        return body

    async def _run_idempotent(
        self,
        ctx: _Ctx,
        method: str,
        path: str,
        params: dict,
        run: Callable[[], Awaitable[dict]],
    ) -> tuple[int, dict, str | None]:
        """Stripe's idempotency (https://docs.stripe.com/idempotency): the status and body of the
        first request for a key are saved once its endpoint began executing, "regardless of
        whether it succeeds or fails", and returned to every later request with that key,
        "including 500 errors", for 24 hours. Not saved: a request refused by validation (the
        key is not spent), and one made while another with the same key is being carried out
        (409 `idempotency_error`, code `idempotency_key_in_use`; stripe-go
        `ErrorCodeIdempotencyKeyInUse`)."""
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
        if key in self._keys_in_use:
            raise StripeError(
                409,
                "There is currently another in-progress request using this idempotent key "
                "(that probably means you submitted twice, and the other request is still going "
                f"through): {key}. Please try again later.",
                type="idempotency_error",
                code="idempotency_key_in_use",
            )
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
        self._keys_in_use.add(key)
        try:
            try:
                status, body = 200, await run()
            except StripeError as error:
                if not error.store:
                    raise
                status, body = error.status, error.body(ctx.request_id)
            self._idempotent[key] = _Stored(
                method,
                path,
                copy.deepcopy(params),
                status,
                copy.deepcopy(body),
                ctx.request_id,
                now,
            )
        finally:
            self._keys_in_use.discard(key)
        return status, body, None


def _server_error() -> StripeError:
    """Stripe's answer to a failure on its side (kept for the idempotency key)."""
    return StripeError(500, "An unknown error occurred", type="api_error", store=True)
