"""A fake Stripe API for the sandbox and the tests (SPEC §7): Checkout Sessions, events, signed webhooks.

The official `stripe` client talks to it over loopback; a local checkout page stands in for Stripe's."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import copy
import dataclasses
import datetime
import decimal
import hashlib
import hmac
import html
import json
import logging
import re
import secrets
import socket
import string
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jinja2
import markupsafe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.sandbox.serve import RunningServer, start_server


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# What stripe-python 16 pins; events carry the version of the request that created the session.
DEFAULT_API_VERSION = "2026-10-28.endive"
MIN_EXPIRY = 30 * 60
MAX_EXPIRY = 24 * 60 * 60
IDEMPOTENCY_TTL = 24 * 60 * 60
MAX_IDEMPOTENCY_KEY = 255
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500
MAX_CLIENT_REFERENCE = 200
MAX_AMOUNT = 99_999_999
MIN_CHARGE = 50  # €0.50, Stripe's minimum charge for EUR/USD
FAULT_KINDS = ("500", "timeout", "connection_reset")

SUCCESS_CARDS = frozenset(
    {
        "4242424242424242",  # Visa
        "4000056655665556",  # Visa (debit)
        "5555555555554444",  # Mastercard
        "2223003122003222",  # Mastercard (2-series)
        "5200828282828210",  # Mastercard (debit)
        "378282246310005",  # American Express
        "4000002500000003",  # Cartes Bancaires / Visa
    }
)
# card number -> (code, decline_code, message): Stripe's test cards and its texts.
DECLINED_CARDS = {
    "4000000000000002": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "4000000000009987": ("card_declined", "lost_card", "Your card was declined."),
    "4000000000009979": ("card_declined", "stolen_card", "Your card was declined."),
    "4000000000000069": ("expired_card", None, "Your card has expired."),
    "4000000000000127": ("incorrect_cvc", None, "Your card's security code is incorrect."),
    "4000000000000119": (
        "processing_error",
        None,
        "An error occurred while processing your card. Try again in a little bit.",
    ),
}
LIVE_CARD_MESSAGE = (
    "Your card was declined. Your request was in test mode, but used a non test (live) card. "
    "For a list of valid test cards, visit: https://stripe.com/docs/testing."
)
ZERO_DECIMAL = _words("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf")
LOCALES = _words(
    "auto bg cs da de el en en-GB es es-419 et fi fil fr fr-CA hi-IN hr hu id it ja ko lt lv "
    "ms mt nb nl pl pt pt-BR ro ru sk sl sv th tr vi zh zh-HK zh-TW"
)
PAYMENT_METHOD_TYPES = frozenset({"card", "link", "sepa_debit", "bancontact", "ideal", "paypal"})
TELEGRAM_HOSTS = frozenset({"t.me", "www.t.me", "telegram.me", "www.telegram.me", "telegram.dog"})

# The parameters Stripe accepts (stripe-python 16's SessionCreateParams, plus the older
# `payment_method_types`); anything else is refused as Stripe refuses it.
CREATE_PARAMS = _words(
    "adaptive_pricing after_expiration allow_promotion_codes allowed_payment_method_types "
    "automatic_tax billing_address_collection branding_settings cancel_url "
    "client_reference_id consent_collection currency custom_fields custom_text customer "
    "customer_account customer_creation customer_email customer_update discounts "
    "excluded_payment_method_types expand expires_at integration_identifier invoice_creation "
    "line_items locale managed_payments metadata mode name_collection optional_items "
    "origin_context payment_intent_data payment_method_collection "
    "payment_method_configuration payment_method_data payment_method_options "
    "payment_method_types permissions phone_number_collection redirect_on_completion "
    "return_url saved_payment_method_options setup_intent_data shipping_address_collection "
    "shipping_options submit_type subscription_data success_url tax_id_collection ui_mode "
    "wallet_options"
)
LINE_ITEM_PARAMS = frozenset(
    {"adjustable_quantity", "dynamic_tax_rates", "metadata", "price", "price_data", "quantity"}
    | {"tax_rates"}
)
PRICE_DATA_PARAMS = frozenset(
    {"currency", "product", "product_data", "recurring", "tax_behavior", "unit_amount"}
    | {"unit_amount_decimal"}
)
PRODUCT_DATA_PARAMS = frozenset(
    {"description", "images", "metadata", "name", "tax_code", "unit_label", "tax_details"}
)
LIST_SESSION_PARAMS = _words(
    "created customer customer_account customer_details ending_before expand limit "
    "payment_intent payment_link starting_after status subscription"
)
LIST_EVENT_PARAMS = _words(
    "created delivery_success ending_before expand limit starting_after type types"
)
UPDATE_PARAMS = frozenset({"collected_information", "expand", "metadata", "shipping_options"})
# Expanding these on a session is allowed; the ones we never fill stay null.
SESSION_EXPANSIONS = frozenset(
    {"line_items", "payment_intent", "customer", "invoice", "payment_link", "setup_intent"}
    | {"subscription"}
)

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).resolve().parent / "templates"


# -- errors ------------------------------------------------------------------------------------


class StripeError(Exception):
    """An error answer in Stripe's shape: `{"error": {type, code, message, param, ...}}`.

    `store`: whether the idempotency layer keeps it. Stripe keeps the result of a request that
    started executing, not one refused by parameter validation."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        store: bool = False,
        extra: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.store = store
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self, request_id: str | None = None) -> dict:
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        if request_id:
            error["request_log_url"] = (
                f"https://dashboard.stripe.com/test/logs/{request_id}?t={int(time.time())}"
            )
        error.update(self.extra)
        return {"error": error}


def missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def invalid(param: str, message: str, code: str | None = "parameter_invalid") -> StripeError:
    return StripeError(400, message, code=code, param=param)


def no_such(kind: str, object_id: str, param: str) -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


# -- Stripe's form encoding ----------------------------------------------------------------------

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
_NO_LISTS = frozenset({"metadata"})  # hashes whose keys may be digits


def decode_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracket notation to nested values: `a[b][0][c]=1` -> {"a": {"b": [{"c": "1"}]}}.

    `a[]=x` appends; hashes whose keys are all indexes become lists (ordered by index)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        found = _KEY.match(key)
        parts = [found.group(1), *_PART.findall(found.group(2))] if found else [key]
        node = root
        for depth, part in enumerate(parts):
            name = parts[0] + "".join(f"[{p}]" for p in parts[1:depth])
            if not isinstance(node, dict):
                raise invalid(name, f"Invalid hash: {name}", "parameter_invalid_hash")
            if part == "":
                part = str(len(node))
            if depth == len(parts) - 1:
                if isinstance(node.get(part), dict):
                    raise invalid(key, f"Invalid hash: {key}", "parameter_invalid_hash")
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    full = name + (f"[{part}]" if depth else "")
                    raise invalid(full or part, f"Invalid string: {full or part}")
                node = child
    return _listify(root, None)


def _listify(node: Any, key: str | None) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v, k) for k, v in node.items()}
    if key not in _NO_LISTS and items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def _name(prefix: str, key: str | int) -> str:
    return f"{prefix}[{key}]" if prefix else str(key)


def _check_known(params: dict, allowed: frozenset[str], prefix: str = "") -> None:
    for key in params:
        if key not in allowed:
            name = _name(prefix, key)
            raise StripeError(
                400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )


def _hash(value: Any, param: str) -> dict:
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid(param, f"Invalid hash: {param}", "parameter_invalid_hash")
    return value


def _array(value: Any, param: str) -> list:
    if value == "":
        return []
    if isinstance(value, dict) and not value:
        return []
    if not isinstance(value, list):
        raise invalid(param, f"Invalid array: {param}", "parameter_invalid_array")
    return value


def _string(value: Any, param: str, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise invalid(param, f"Invalid string: {value!r}", "parameter_invalid_string")
    if max_length is not None and len(value) > max_length:
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise invalid(
            param,
            f"Invalid string: {shown}; must be at most {max_length} characters",
            "parameter_invalid_string",
        )
    return value


def _integer(value: Any, param: str, minimum: int | None = None, maximum: int | None = None) -> int:
    text = value if isinstance(value, str) else None
    if text is None or not re.fullmatch(r"-?\d+", text.strip()):
        raise invalid(param, f"Invalid integer: {value}", "parameter_invalid_integer")
    number = int(text)
    if minimum is not None and number < minimum:
        raise invalid(
            param,
            f"This value must be greater than or equal to {minimum}.",
            "parameter_invalid_integer",
        )
    if maximum is not None and number > maximum:
        raise invalid(
            param,
            f"This value must be less than or equal to {maximum}.",
            "parameter_invalid_integer",
        )
    return number


def _boolean(value: Any, param: str) -> bool:
    if value in ("true", "false"):
        return value == "true"
    raise invalid(param, f"Invalid boolean: {value}", "parameter_invalid_boolean")


def _url(value: Any, param: str) -> str:
    text = _string(value, param, 5000)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(param, "Not a valid URL", "url_invalid")
    return text


def _optional(params: dict, key: str) -> Any:
    """Stripe takes an empty string as 'not set'."""
    value = params.get(key)
    return None if value == "" else value


# -- money ---------------------------------------------------------------------------------------


def format_amount(amount: int, currency: str) -> str:
    """Integer minor units as a person reads them: 123456 EUR -> '1 234,56 €'."""
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        text = f"{amount:,}".replace(",", " ")
    else:
        units, cents = divmod(amount, 100)
        text = f"{units:,}".replace(",", " ") + f",{cents:02d}"
    symbol = {"eur": "€", "usd": "$", "gbp": "£"}.get(currency, currency.upper())
    return f"{text} {symbol}"


def luhn_ok(number: str) -> bool:
    total = 0
    for i, digit in enumerate(reversed(number)):
        d = int(digit)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


# -- webhook signatures ----------------------------------------------------------------------------


def sign_payload(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe sends: `t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    t = int(time.time()) if timestamp is None else int(timestamp)
    signed = f"{t}.".encode() + payload
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def forged_signature(payload: bytes | str, timestamp: int | None = None) -> str:
    """A well-formed header signed with a secret nobody configured: verification must fail."""
    return sign_payload(payload, "whsec_" + secrets.token_hex(16), timestamp)


# -- the uvicorn noise of a dropped connection ---------------------------------------------------

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


# -- state ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Fault:
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


@dataclasses.dataclass
class _Ctx:
    request_id: str
    idempotency_key: str | None
    api_version: str


@dataclasses.dataclass
class PaymentOutcome:
    """What the checkout page (or `pay`) made of a card: paid, or why not."""

    ok: bool
    message: str | None = None
    code: str | None = None
    decline_code: str | None = None
    status: int = 200


class FakeStripe:
    """Stripe's Checkout Sessions and events API, its hosted checkout page and its webhooks.

    Timestamps follow `clock` (plus `advance_clock`); webhook signatures use the wall clock, as
    receivers check them against theirs."""

    def __init__(
        self,
        *,
        api_key: str = "sk_test_sandbox",
        webhook_secret: str = "whsec_sandbox",
        webhook_url: str | None = None,
        clock: Callable[[], float] = time.time,
        retry_delays: Iterable[float] = (0.5, 1, 2, 4, 8),
        base_url: str | None = None,
        duplicate_deliveries: int = 1,
        api_version: str | None = None,
        webhook_timeout: float = 10.0,
        sweep_interval: float = 1.0,
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.retry_delays = tuple(retry_delays)
        self.base_url = base_url
        self.duplicate_deliveries = duplicate_deliveries
        self.api_version = api_version
        self.webhook_timeout = webhook_timeout
        self.sweep_interval = sweep_interval
        self._clock = clock
        self._offset = 0.0
        # Stripe-shaped objects, live (copies go out); events in creation order.
        self.sessions: dict[str, dict] = {}
        self.line_items: dict[str, list[dict]] = {}
        self.payment_intents: dict[str, dict] = {}
        self.prices: dict[str, dict] = {}
        self.events: list[dict] = []
        self.deliveries: list[dict] = []
        self.requests: list[dict] = []
        self.payment_attempts: list[dict] = []
        self._events_by_id: dict[str, dict] = {}
        self._session_versions: dict[str, str] = {}
        self._idempotent: dict[str, _Stored] = {}
        self._key_locks: dict[str, asyncio.Lock] = {}
        self._faults: list[_Fault] = []
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._pending = 0
        self._tasks: set[asyncio.Task] = set()
        self._worker: asyncio.Task | None = None
        self._sweeper: asyncio.Task | None = None
        self._closing = asyncio.Event()
        self._changed: asyncio.Event | None = None
        self._http: httpx.AsyncClient | None = None
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=jinja2.select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # Text between tags needs only &, < and > escaped; keeping quotes as typed lets a
        # person (and a test) read "Your card's ..." exactly as Stripe writes it.
        self._env.filters["text"] = lambda value: markupsafe.Markup(
            html.escape(str(value), quote=False)
        )
        _install_drop_filter()
        api_methods = ["GET", "POST", "DELETE", "PUT", "PATCH"]
        self.app = Starlette(
            routes=[
                Route("/v1/{path:path}", self._http_api, methods=api_methods),
                Route("/checkout/{session_id}", self._http_checkout, methods=["GET", "POST"]),
                Route("/checkout/{session_id}/cancel", self._http_cancel, methods=["GET"]),
                Route("/sandbox/sessions", self._http_sessions, methods=["GET"]),
                Route("/sandbox/events", self._http_events, methods=["GET"]),
                Route("/sandbox/deliveries", self._http_deliveries, methods=["GET"]),
                Route("/sandbox/clock", self._http_clock, methods=["POST"]),
                Route("/sandbox/fault", self._http_fault, methods=["POST"]),
                Route("/sandbox/pay", self._http_pay, methods=["POST"]),
                Route("/sandbox/webhook", self._http_webhook, methods=["POST"]),
            ]
        )

    # -- clock ---------------------------------------------------------------------------------

    def now(self) -> float:
        return self._clock() + self._offset

    def advance_clock(self, seconds: float) -> int:
        """Jump ahead (Sessions past `expires_at` expire at once); returns the new time."""
        self._offset += seconds
        self.expire_due()
        return int(self.now())

    @property
    def public_url(self) -> str | None:
        return self.base_url

    @public_url.setter
    def public_url(self, value: str | None) -> None:
        self.base_url = value

    # -- test hooks ----------------------------------------------------------------------------

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

        "500": an api_error answer; "connection_reset": the connection drops mid-answer;
        "timeout": the answer comes only after `delay` seconds (longer than the client waits).
        `after`: whether the request is carried out first (so a retry with the same
        Idempotency-Key gets the replay). Default: no for "500"/"connection_reset", yes for
        "timeout"."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")
        if after is None:
            after = kind == "timeout"
        self._faults.append(_Fault(kind, int(count), path_prefix, float(delay), bool(after)))

    def add_price(
        self,
        unit_amount: int,
        *,
        currency: str = "eur",
        product_name: str = "Sandbox product",
        price_id: str | None = None,
    ) -> str:
        """A one-time Price that line_items[][price] may name; returns its id."""
        price = self._price(currency, unit_amount, product_name, active=True)
        if price_id:
            price["id"] = price_id
        self.prices[price["id"]] = price
        return price["id"]

    def checkout_url(self, session_id: str) -> str:
        return f"{self.base_url or 'http://127.0.0.1'}/checkout/{session_id}"

    def session(self, session_id: str) -> dict:
        """A copy of the session as the API would return it (line_items expanded)."""
        self.expire_due()
        return self._session_view(self.sessions[session_id], ("line_items",))

    async def pay(
        self,
        session_id: str,
        card: str = "4242424242424242",
        *,
        exp: str | None = None,
        cvc: str | None = None,
        name: str | None = "Sandbox Customer",
        email: str | None = None,
    ) -> bool:
        """Pay as the checkout page would; True when the session is now complete."""
        self._ensure_background()
        return self.attempt_payment(session_id, card, exp=exp, cvc=cvc, name=name, email=email).ok

    def attempt_payment(
        self,
        session_id: str,
        card: str,
        *,
        exp: str | None = None,
        cvc: str | None = None,
        name: str | None = None,
        email: str | None = None,
    ) -> PaymentOutcome:
        """The card checks of Stripe's test mode. `exp`/`cvc` are checked when given."""
        self.expire_due()
        session = self.sessions.get(session_id)
        if session is None:
            return PaymentOutcome(
                False, "This Checkout Session does not exist.", "not_found", None, 404
            )
        if session["status"] != "open":
            return PaymentOutcome(
                False, "This Checkout Session is no longer active.", "session_closed", None, 409
            )
        outcome = self._check_card(card, exp, cvc)
        self.payment_attempts.append(
            {
                "session_id": session_id,
                "last4": re.sub(r"\D", "", card)[-4:],
                "ok": outcome.ok,
                "code": outcome.code,
                "decline_code": outcome.decline_code,
                "at": int(self.now()),
            }
        )
        if outcome.ok:
            self._complete(session, name=name, email=email)
        return outcome

    def _check_card(self, card: str, exp: str | None, cvc: str | None) -> PaymentOutcome:
        number = re.sub(r"[\s-]", "", card or "")
        if not number:
            return PaymentOutcome(
                False, "Your card number is incomplete.", "incomplete_number", None, 400
            )
        if not number.isdigit() or not 13 <= len(number) <= 19 or not luhn_ok(number):
            return PaymentOutcome(
                False, "Your card number is invalid.", "incorrect_number", None, 400
            )
        if exp is not None:
            found = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*", exp)
            if not found or not 1 <= int(found.group(1)) <= 12:
                return PaymentOutcome(
                    False, "Your card's expiration date is incomplete.", "invalid_expiry", None, 400
                )
            month, year = int(found.group(1)), int(found.group(2))
            year = year + 2000 if year < 100 else year
            today = datetime.datetime.fromtimestamp(self.now(), datetime.UTC)
            if (year, month) < (today.year, today.month):
                return PaymentOutcome(
                    False,
                    "Your card's expiration year is in the past.",
                    "invalid_expiry",
                    None,
                    400,
                )
        if cvc is not None and not re.fullmatch(r"\d{3,4}", cvc.strip()):
            return PaymentOutcome(
                False, "Your card's security code is incomplete.", "incomplete_cvc", None, 400
            )
        if number in DECLINED_CARDS:
            code, decline_code, message = DECLINED_CARDS[number]
            return PaymentOutcome(False, message, code, decline_code, 402)
        if number not in SUCCESS_CARDS:
            return PaymentOutcome(
                False, LIVE_CARD_MESSAGE, "card_declined", "live_mode_test_card", 402
            )
        return PaymentOutcome(True)

    async def redeliver(self, event_id: str) -> dict:
        """Send a stored event once more, now (the Dashboard's "Resend"); returns the attempt."""
        return await self._attempt(self._events_by_id[event_id], attempt=0, manual=True)

    async def send_event(
        self,
        event: dict | str | bytes,
        signature: str | None = None,
        *,
        url: str | None = None,
    ) -> dict:
        """POST any payload to the webhook URL. signature: None signs it properly, "forged" signs
        with another secret, "missing" sends no header, "stale" signs with a 10-minute-old
        timestamp; any other string is sent as the header itself. Returns the attempt."""
        if isinstance(event, dict):
            payload = json.dumps(event, indent=2).encode()
            event_id, event_type = event.get("id"), event.get("type")
        else:
            payload = event.encode() if isinstance(event, str) else event
            event_id = event_type = None
        if signature is None:
            header: str | None = sign_payload(payload, self.webhook_secret)
        elif signature == "forged":
            header = forged_signature(payload)
        elif signature == "missing":
            header = None
        elif signature == "stale":
            header = sign_payload(payload, self.webhook_secret, int(time.time()) - 600)
        else:
            header = signature
        return await self._post(
            url or self.webhook_url, payload, header, event_id, event_type, 0, manual=True
        )

    def signature_header(self, payload: bytes | str, timestamp: int | None = None) -> str:
        return sign_payload(payload, self.webhook_secret, timestamp)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every scheduled webhook delivery has succeeded or given up."""
        await self._wait_until(lambda: self._pending == 0, timeout)

    async def wait_for_delivery(
        self,
        event_id: str | None = None,
        *,
        type: str | None = None,
        ok: bool | None = True,
        timeout: float = 10.0,
    ) -> dict:
        """The first delivery attempt matching (event id, event type, success)."""

        def find() -> dict | None:
            for record in self.deliveries:
                if event_id is not None and record["event_id"] != event_id:
                    continue
                if type is not None and record["type"] != type:
                    continue
                if ok is not None and record["ok"] != ok:
                    continue
                return record
            return None

        await self._wait_until(lambda: find() is not None, timeout)
        return find()  # type: ignore[return-value]

    async def close(self) -> None:
        """Stop the delivery worker, the retries and the expiry sweep; end held-back answers."""
        self._closing.set()
        tasks = [t for t in (self._worker, self._sweeper, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._worker = self._sweeper = None
        self._pending = 0
        self._notify()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- the model -----------------------------------------------------------------------------

    def expire_due(self) -> None:
        """Sessions whose `expires_at` has passed become expired (with their event)."""
        now = self.now()
        for session in self.sessions.values():
            if session["status"] == "open" and session["expires_at"] <= now:
                self._expire(session, None)

    def _expire(self, session: dict, ctx: _Ctx | None) -> None:
        session["status"] = "expired"
        session["url"] = None
        self._emit("checkout.session.expired", session, ctx)

    def _complete(self, session: dict, *, name: str | None, email: str | None) -> None:
        now = int(self.now())
        email = email or session["customer_email"]
        intent_data = session.pop("_payment_intent_data", {})
        intent = {
            "id": new_id("pi_"),
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_capturable": 0,
            "amount_received": session["amount_total"],
            "capture_method": "automatic_async",
            "confirmation_method": "automatic",
            "created": now,
            "currency": session["currency"],
            "customer": None,
            "description": intent_data.get("description"),
            "latest_charge": new_id("ch_"),
            "livemode": False,
            "metadata": dict(intent_data.get("metadata") or {}),
            "payment_method": new_id("pm_"),
            "payment_method_types": ["card"],
            "receipt_email": intent_data.get("receipt_email"),
            "statement_descriptor": intent_data.get("statement_descriptor"),
            "status": "succeeded",
        }
        intent["client_secret"] = f"{intent['id']}_secret_{new_id('', 25)}"
        self.payment_intents[intent["id"]] = intent
        session.update(
            {
                "status": "complete",
                "payment_status": "paid",
                "payment_intent": intent["id"],
                "url": None,
                "customer_details": {
                    "address": None,
                    "business_name": None,
                    "email": email,
                    "individual_name": None,
                    "name": name or None,
                    "phone": None,
                    "tax_exempt": "none",
                    "tax_ids": [],
                },
            }
        )
        self._emit("checkout.session.completed", session, None)

    def _price(self, currency: str, unit_amount: int, product_name: str, *, active: bool) -> dict:
        return {
            "id": new_id("price_"),
            "object": "price",
            "active": active,
            "billing_scheme": "per_unit",
            "created": int(self.now()),
            "currency": currency,
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": new_id("prod_", 14),
            "recurring": None,
            "tax_behavior": "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
            "_product_name": product_name,
        }

    def _session_view(self, session: dict, expand: Iterable[str] = ()) -> dict:
        view = {k: copy.deepcopy(v) for k, v in session.items() if not k.startswith("_")}
        if view["status"] == "open":
            view["url"] = session["url"] = self.checkout_url(session["id"])
        expand = set(expand)
        if "line_items" in expand:
            view["line_items"] = {
                "object": "list",
                "data": [_public(item) for item in self.line_items[session["id"]]],
                "has_more": False,
                "url": f"/v1/checkout/sessions/{session['id']}/line_items",
            }
        if "payment_intent" in expand and view["payment_intent"]:
            view["payment_intent"] = copy.deepcopy(self.payment_intents[view["payment_intent"]])
        return view

    def _emit(self, type: str, session: dict, ctx: _Ctx | None) -> dict:
        version = self.api_version or self._session_versions.get(session["id"])
        event = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": version or DEFAULT_API_VERSION,
            "created": int(self.now()),
            "data": {"object": self._session_view(session)},
            "livemode": False,
            "pending_webhooks": 1 if self.webhook_url else 0,
            "request": {
                "id": ctx.request_id if ctx else None,
                "idempotency_key": ctx.idempotency_key if ctx else None,
            },
            "type": type,
        }
        self.events.append(event)
        self._events_by_id[event["id"]] = event
        if self.webhook_url:
            for _ in range(max(1, self.duplicate_deliveries)):
                self._pending += 1
                self._queue.put_nowait(event["id"])
            self._ensure_background()
        self._notify()
        return event

    # -- the API ---------------------------------------------------------------------------------

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

    # Handlers: (params, ctx, **path) -> the answer's body; errors raise StripeError.

    def _api_create_session(self, params: dict, ctx: _Ctx) -> dict:
        _check_known(params, CREATE_PARAMS)
        mode = _optional(params, "mode")
        if mode is None:
            raise missing("mode")
        mode = _string(mode, "mode")
        if mode not in ("payment", "setup", "subscription"):
            raise invalid("mode", "Invalid mode: must be one of payment, setup, or subscription")
        if mode != "payment":
            raise invalid("mode", "The Stripe sandbox only supports `mode=payment`.")
        ui_mode = _optional(params, "ui_mode")
        if ui_mode is not None and ui_mode not in ("hosted", "hosted_page"):
            raise invalid("ui_mode", "The Stripe sandbox only serves hosted Checkout pages.")
        success_url = _optional(params, "success_url")
        if success_url is None:
            raise missing("success_url")
        success_url = _url(success_url, "success_url")
        cancel_url = _optional(params, "cancel_url")
        if cancel_url is not None:
            cancel_url = _url(cancel_url, "cancel_url")
        if _optional(params, "customer") is not None:
            raise no_such("customer", str(params["customer"]), "customer")

        raw_items = _optional(params, "line_items")
        if raw_items is None:
            raise missing("line_items")
        raw_items = _array(raw_items, "line_items")
        if not raw_items:
            raise missing("line_items")
        items = [self._line_item(raw, f"line_items[{i}]") for i, raw in enumerate(raw_items)]
        currencies = {item["currency"] for item in items}
        if len(currencies) > 1:
            raise invalid(
                "line_items",
                "All line items must use the same currency; got " + ", ".join(sorted(currencies)),
            )
        currency = items[0]["currency"]
        wanted = _optional(params, "currency")
        if wanted is not None and _string(wanted, "currency").lower() != currency:
            raise invalid("currency", f"The currency {wanted} does not match the line items.")
        total = sum(item["amount_total"] for item in items)
        if 0 < total < MIN_CHARGE and currency not in ZERO_DECIMAL:
            raise invalid(
                "line_items",
                "The Checkout Session's total amount due must add up to at least "
                f"{format_amount(MIN_CHARGE, currency)}",
                "amount_too_small",
            )
        if total > MAX_AMOUNT:
            raise invalid(
                "line_items",
                "The Checkout Session's total amount due must be no more than "
                f"{format_amount(MAX_AMOUNT, currency)}",
                "amount_too_large",
            )

        now = int(self.now())
        expires_at = _optional(params, "expires_at")
        if expires_at is None:
            expires_at = now + MAX_EXPIRY
        else:
            expires_at = _integer(expires_at, "expires_at")
            if expires_at - now < MIN_EXPIRY:
                raise invalid(
                    "expires_at",
                    "The `expires_at` timestamp must be at least 30 minutes from Checkout "
                    "Session creation.",
                    None,
                )
            if expires_at - now > MAX_EXPIRY:
                raise invalid(
                    "expires_at",
                    "The `expires_at` timestamp must be less than 24 hours from Checkout "
                    "Session creation.",
                    None,
                )
        client_reference_id = _optional(params, "client_reference_id")
        if client_reference_id is not None:
            client_reference_id = _string(
                client_reference_id, "client_reference_id", MAX_CLIENT_REFERENCE
            )
        metadata = _metadata(params.get("metadata"), "metadata")
        customer_email = _optional(params, "customer_email")
        if customer_email is not None:
            customer_email = _string(customer_email, "customer_email", 800)
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", customer_email):
                raise invalid(
                    "customer_email", f"Invalid email address: {customer_email}", "email_invalid"
                )
        methods = ["card"]
        for key in ("payment_method_types", "allowed_payment_method_types"):
            if _optional(params, key) is not None:
                methods = [
                    _string(m, f"{key}[{i}]") for i, m in enumerate(_array(params[key], key))
                ]
                for i, value in enumerate(methods):
                    if value not in PAYMENT_METHOD_TYPES:
                        raise invalid(
                            f"{key}[{i}]", f'The payment method type "{value}" is invalid.'
                        )
        locale = _optional(params, "locale")
        if locale is not None and locale not in LOCALES:
            raise invalid(
                "locale", f"Invalid locale: {locale}; must be one of {', '.join(sorted(LOCALES))}"
            )
        submit_type = _optional(params, "submit_type")
        if submit_type is not None and submit_type not in ("auto", "book", "donate", "pay"):
            raise invalid("submit_type", f"Invalid submit_type: {submit_type}")
        intent_data = _hash(params.get("payment_intent_data", {}), "payment_intent_data")
        if "metadata" in intent_data:
            intent_data = {
                **intent_data,
                "metadata": _metadata(intent_data["metadata"], "payment_intent_data[metadata]"),
            }
        expand = self._expand(params, SESSION_EXPANSIONS)

        session_id = new_id("cs_test_", 58)
        for item in items:
            item["id"] = new_id("li_")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "adaptive_pricing": {"enabled": False},
            "after_expiration": None,
            "allow_promotion_codes": None,
            "allowed_payment_method_types": None,
            "amount_subtotal": total,
            "amount_total": total,
            "automatic_tax": {
                "enabled": False,
                "liability": None,
                "provider": None,
                "status": None,
            },
            "billing_address_collection": None,
            "branding_settings": None,
            "cancel_url": cancel_url,
            "client_reference_id": client_reference_id,
            "client_secret": None,
            "collected_information": None,
            "consent": None,
            "consent_collection": None,
            "created": now,
            "currency": currency,
            "currency_conversion": None,
            "custom_fields": [],
            "custom_text": {
                "after_submit": None,
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            "customer": None,
            "customer_account": None,
            "customer_creation": "if_required",
            "customer_details": None,
            "customer_email": customer_email,
            "discounts": [],
            "excluded_payment_method_types": None,
            "expires_at": expires_at,
            "integration_identifier": None,
            "invoice": None,
            "invoice_creation": {
                "enabled": False,
                "invoice_data": {
                    "account_tax_ids": None,
                    "custom_fields": None,
                    "description": None,
                    "footer": None,
                    "issuer": None,
                    "metadata": {},
                    "rendering_options": None,
                },
            },
            "livemode": False,
            "locale": locale,
            "managed_payments": None,
            "metadata": metadata,
            "mode": "payment",
            "name_collection": None,
            "optional_items": None,
            "origin_context": None,
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "if_required",
            "payment_method_configuration_details": None,
            "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
            "payment_method_types": methods,
            "payment_status": "unpaid",
            "permissions": None,
            "phone_number_collection": {"enabled": False},
            "presentment_details": None,
            "recovered_from": None,
            "redirect_on_completion": None,
            "return_url": None,
            "saved_payment_method_options": None,
            "setup_intent": None,
            "shipping_address_collection": None,
            "shipping_cost": None,
            "shipping_options": [],
            "status": "open",
            "submit_type": submit_type,
            "subscription": None,
            "success_url": success_url,
            "tax_id_collection": {"enabled": False, "required": "never"},
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted_page",
            "url": self.checkout_url(session_id),
            "wallet_options": None,
            "_payment_intent_data": intent_data,
        }
        self.sessions[session_id] = session
        self.line_items[session_id] = items
        self._session_versions[session_id] = ctx.api_version
        return self._session_view(session, expand)

    def _line_item(self, raw: Any, name: str) -> dict:
        raw = _hash(raw, name)
        _check_known(raw, LINE_ITEM_PARAMS, name)
        if _optional(raw, "quantity") is None:
            raise missing(f"{name}[quantity]")
        quantity = _integer(raw["quantity"], f"{name}[quantity]", 1, 999_999)
        price_id = _optional(raw, "price")
        data = _optional(raw, "price_data")
        if (price_id is None) == (data is None):
            raise invalid(
                name,
                "You must specify either `price` or `price_data` for each line item "
                "(and not both).",
            )
        if price_id is not None:
            price = self.prices.get(_string(price_id, f"{name}[price]"))
            if price is None:
                raise no_such("price", price_id, f"{name}[price]")
            price = copy.deepcopy(price)
            unit_total = price["unit_amount"] * quantity
            description = price["_product_name"]
        else:
            price, unit_total, description = self._price_data(data, quantity, f"{name}[price_data]")
        return {
            "id": None,
            "object": "item",
            "adjustable_quantity": None,
            "amount_discount": 0,
            "amount_subtotal": unit_total,
            "amount_tax": 0,
            "amount_total": unit_total,
            "currency": price["currency"],
            "description": description,
            "metadata": _metadata(raw.get("metadata"), f"{name}[metadata]"),
            "price": price,
            "quantity": quantity,
        }

    def _price_data(self, data: Any, quantity: int, name: str) -> tuple[dict, int, str]:
        data = _hash(data, name)
        _check_known(data, PRICE_DATA_PARAMS, name)
        if _optional(data, "currency") is None:
            raise missing(f"{name}[currency]")
        currency = _string(data["currency"], f"{name}[currency]").lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise invalid(f"{name}[currency]", f"Invalid currency: {currency}")
        if _optional(data, "recurring") is not None:
            raise invalid(
                f"{name}[recurring]",
                "You specified `payment` mode but passed a recurring price. Either switch to "
                "`subscription` mode or use only one-time prices.",
            )
        amount = _optional(data, "unit_amount")
        amount_decimal = _optional(data, "unit_amount_decimal")
        if amount is not None and amount_decimal is not None:
            raise invalid(
                f"{name}[unit_amount]",
                "You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
            )
        if amount is None and amount_decimal is None:
            raise missing(f"{name}[unit_amount]")
        if amount is not None:
            unit = _integer(amount, f"{name}[unit_amount]", 0, MAX_AMOUNT)
            unit_decimal = str(unit)
            line_total = unit * quantity
        else:
            text = _string(amount_decimal, f"{name}[unit_amount_decimal]")
            if not re.fullmatch(r"\d+(\.\d{1,12})?", text):
                raise invalid(f"{name}[unit_amount_decimal]", f"Invalid decimal: {text}")
            exact = decimal.Decimal(text)
            unit = None
            unit_decimal = text
            line_total = int(
                (exact * quantity).quantize(decimal.Decimal(1), decimal.ROUND_HALF_EVEN)
            )
        product = _optional(data, "product")
        product_data = _optional(data, "product_data")
        if product is not None:
            raise no_such("product", str(product), f"{name}[product]")
        if product_data is None:
            raise missing(f"{name}[product_data]")
        product_data = _hash(product_data, f"{name}[product_data]")
        _check_known(product_data, PRODUCT_DATA_PARAMS, f"{name}[product_data]")
        if _optional(product_data, "name") is None:
            raise missing(f"{name}[product_data][name]")
        product_name = _string(product_data["name"], f"{name}[product_data][name]", 250)
        price = self._price(currency, unit if unit is not None else 0, product_name, active=False)
        price["unit_amount"] = unit
        price["unit_amount_decimal"] = unit_decimal
        tax_behavior = _optional(data, "tax_behavior")
        if tax_behavior is not None:
            if tax_behavior not in ("exclusive", "inclusive", "unspecified"):
                raise invalid(f"{name}[tax_behavior]", f"Invalid tax_behavior: {tax_behavior}")
            price["tax_behavior"] = tax_behavior
        return price, line_total, product_name

    def _expand(self, params: dict, allowed: frozenset[str], prefix: str = "") -> set[str]:
        wanted = _optional(params, "expand")
        if wanted is None:
            return set()
        result = set()
        for i, value in enumerate(_array(wanted, "expand")):
            value = _string(value, f"expand[{i}]")
            plain = value.removeprefix(prefix) if prefix else value
            if (prefix and not value.startswith(prefix)) or plain not in allowed:
                raise invalid("expand", f"This property cannot be expanded ({value}).")
            result.add(plain)
        return result

    def _find_session(self, session_id: str) -> dict:
        session = self.sessions.get(session_id)
        if session is None:
            raise no_such("checkout.session", session_id, "session")
        return session

    def _api_retrieve_session(self, params: dict, ctx: _Ctx, id: str) -> dict:
        _check_known(params, frozenset({"expand"}))
        expand = self._expand(params, SESSION_EXPANSIONS)
        return self._session_view(self._find_session(id), expand)

    def _api_update_session(self, params: dict, ctx: _Ctx, id: str) -> dict:
        _check_known(params, UPDATE_PARAMS)
        session = self._find_session(id)
        expand = self._expand(params, SESSION_EXPANSIONS)
        if "metadata" in params:
            if params["metadata"] == "":
                session["metadata"] = {}
            else:
                changes = _hash(params["metadata"], "metadata")
                merged = {**session["metadata"], **changes}
                session["metadata"] = _metadata(merged, "metadata")
        return self._session_view(session, expand)

    def _api_expire_session(self, params: dict, ctx: _Ctx, id: str) -> dict:
        _check_known(params, frozenset({"expand"}))
        expand = self._expand(params, SESSION_EXPANSIONS)
        session = self._find_session(id)
        if session["status"] != "open":
            raise StripeError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired.',
                store=True,
            )
        self._expire(session, ctx)
        return self._session_view(session, expand)

    def _api_line_items(self, params: dict, ctx: _Ctx, id: str) -> dict:
        _check_known(params, frozenset({"expand", "limit", "starting_after", "ending_before"}))
        self._find_session(id)
        items = [_public(item) for item in self.line_items[id]]
        return self._page(items, params, f"/v1/checkout/sessions/{id}/line_items", "line_item")

    def _api_list_sessions(self, params: dict, ctx: _Ctx) -> dict:
        _check_known(params, LIST_SESSION_PARAMS)
        expand = self._expand(params, SESSION_EXPANSIONS, "data.")
        sessions = list(reversed(self.sessions.values()))
        status = _optional(params, "status")
        if status is not None:
            if status not in ("open", "complete", "expired"):
                raise invalid("status", f"Invalid status: {status}")
            sessions = [s for s in sessions if s["status"] == status]
        intent = _optional(params, "payment_intent")
        if intent is not None:
            sessions = [s for s in sessions if s["payment_intent"] == intent]
        sessions = _created_filter(sessions, params.get("created"))
        page = self._page(sessions, params, "/v1/checkout/sessions", "checkout.session")
        page["data"] = [self._session_view(s, expand) for s in page["data"]]
        return page

    def _api_retrieve_payment_intent(self, params: dict, ctx: _Ctx, id: str) -> dict:
        _check_known(params, frozenset({"expand", "client_secret"}))
        intent = self.payment_intents.get(id)
        if intent is None:
            raise no_such("payment_intent", id, "intent")
        return copy.deepcopy(intent)

    def _api_list_events(self, params: dict, ctx: _Ctx) -> dict:
        _check_known(params, LIST_EVENT_PARAMS)
        self._expand(params, frozenset(), "data.")
        events = list(reversed(self.events))
        wanted: list[str] = []
        if _optional(params, "type") is not None:
            wanted.append(_string(params["type"], "type"))
        if _optional(params, "types") is not None:
            wanted += [
                _string(t, f"types[{i}]") for i, t in enumerate(_array(params["types"], "types"))
            ]
        if wanted:
            events = [e for e in events if any(_type_matches(w, e["type"]) for w in wanted)]
        if _optional(params, "delivery_success") is not None:
            success = _boolean(params["delivery_success"], "delivery_success")
            delivered = {d["event_id"] for d in self.deliveries if d["ok"]}
            events = [e for e in events if (e["id"] in delivered) == success]
        events = _created_filter(events, params.get("created"))
        page = self._page(events, params, "/v1/events", "event")
        page["data"] = [copy.deepcopy(e) for e in page["data"]]
        return page

    def _api_retrieve_event(self, params: dict, ctx: _Ctx, id: str) -> dict:
        _check_known(params, frozenset({"expand"}))
        event = self._events_by_id.get(id)
        if event is None:
            raise no_such("event", id, "id")
        return copy.deepcopy(event)

    def _page(self, items: list[dict], params: dict, url: str, kind: str) -> dict:
        limit = 10
        if _optional(params, "limit") is not None:
            limit = _integer(params["limit"], "limit", 1, 100)
        after = _optional(params, "starting_after")
        before = _optional(params, "ending_before")
        if after is not None and before is not None:
            raise invalid(
                "ending_before",
                "You may only specify one of these parameters: ending_before, starting_after.",
            )
        ids = [item["id"] for item in items]
        if after is not None:
            if after not in ids:
                raise no_such(kind, after, "starting_after")
            rest = items[ids.index(after) + 1 :]
            return _list(rest[:limit], len(rest) > limit, url)
        if before is not None:
            if before not in ids:
                raise no_such(kind, before, "ending_before")
            rest = items[: ids.index(before)]
            return _list(rest[-limit:], len(rest) > limit, url)
        return _list(items[:limit], len(items) > limit, url)

    # -- webhooks ------------------------------------------------------------------------------

    def _ensure_background(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._closing.is_set():
            return
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._deliver_loop(), name="fake-stripe-webhooks")
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep_loop(), name="fake-stripe-expiry")

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            self.expire_due()

    async def _deliver_loop(self) -> None:
        # First attempts go out one by one in creation order; retries run on their own.
        while True:
            event_id = await self._queue.get()
            event = self._events_by_id[event_id]
            try:
                ok = (await self._attempt(event, attempt=1))["ok"]
            except Exception:  # a bug here must not stop later deliveries
                log.exception("webhook delivery of %s failed", event_id)
                ok = False
            if ok or not self.retry_delays or not self.webhook_url:
                self._chain_done()
            else:
                task = asyncio.create_task(self._retry(event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _retry(self, event: dict) -> None:
        try:
            for attempt, delay in enumerate(self.retry_delays, start=2):
                await asyncio.sleep(delay)
                if not self.webhook_url or (await self._attempt(event, attempt=attempt))["ok"]:
                    return
        finally:
            self._chain_done()

    def _chain_done(self) -> None:
        self._pending = max(0, self._pending - 1)
        self._notify()

    async def _attempt(self, event: dict, *, attempt: int, manual: bool = False) -> dict:
        payload = json.dumps(event, indent=2).encode()
        header = sign_payload(payload, self.webhook_secret)
        record = await self._post(
            self.webhook_url, payload, header, event["id"], event["type"], attempt, manual=manual
        )
        if record["ok"]:
            event["pending_webhooks"] = 0
        return record

    async def _post(
        self,
        url: str | None,
        payload: bytes,
        signature: str | None,
        event_id: str | None,
        event_type: str | None,
        attempt: int,
        *,
        manual: bool = False,
    ) -> dict:
        record: dict[str, Any] = {
            "event_id": event_id,
            "type": event_type,
            "attempt": attempt,
            "manual": manual,
            "url": url,
            "status": None,
            "ok": False,
            "error": None,
            "signature": signature,
            "at": int(self.now()),
            "body": None,
        }
        if not url:
            record["error"] = "no webhook URL"
        else:
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Accept": "*/*; q=0.5, application/xml",
                "Cache-Control": "no-cache",
            }
            if signature is not None:
                headers["Stripe-Signature"] = signature
            if self._http is None:
                # trust_env=False: a proxy setting must not catch loopback traffic.
                self._http = httpx.AsyncClient(trust_env=False, follow_redirects=False)
            try:
                response = await self._http.post(
                    url, content=payload, headers=headers, timeout=self.webhook_timeout
                )
            except httpx.HTTPError as error:
                record["error"] = f"{type(error).__name__}: {error}"
            else:
                record["status"] = response.status_code
                record["ok"] = 200 <= response.status_code < 300
                record["body"] = response.text[:1000]
        self.deliveries.append(record)
        self._notify()
        return record

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def _wait_until(self, predicate: Callable[[], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                if self._changed is None:
                    self._changed = asyncio.Event()
                await self._changed.wait()

    # -- the checkout page ---------------------------------------------------------------------

    def _render(self, status: int, **values: Any) -> HTMLResponse:
        template = self._env.get_template("checkout.html")
        return HTMLResponse(template.render(**values), status_code=status)

    def _page_values(self, session: dict) -> dict:
        currency = session["currency"]
        return {
            "session_id": session["id"],
            "total": format_amount(session["amount_total"], currency),
            "lines": [
                {
                    "name": item["description"],
                    "quantity": item["quantity"],
                    "amount": format_amount(item["amount_total"], currency),
                }
                for item in self.line_items[session["id"]]
            ],
            "customer_email": session["customer_email"],
            "cancel_href": f"/checkout/{session['id']}/cancel" if session["cancel_url"] else None,
        }

    def _closed_page(self, session: dict | None) -> HTMLResponse:
        if session is None:
            return self._render(404, state="not_found", title="Checkout session not found")
        if session["status"] == "complete":
            return self._render(200, state="complete", title="This payment is already complete")
        return self._render(410, state="expired", title="This payment link has expired")

    async def _http_checkout(self, request: Request) -> Response:
        self._ensure_background()
        self.expire_due()
        session = self.sessions.get(request.path_params["session_id"])
        if session is None or session["status"] != "open":
            response = self._closed_page(session)
            if request.method == "POST" and session is not None:
                response.status_code = 409 if session["status"] == "complete" else 410
            return response
        if request.method == "GET":
            return self._render(
                200,
                state="form",
                title=f"Pay {self._page_values(session)['total']}",
                values={},
                **self._page_values(session),
            )
        # A plain urlencoded form, read without python-multipart (not a dependency here).
        form = dict(
            parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        )
        fields = {
            k: str(form.get(k) or "") for k in ("card_number", "expiry", "cvc", "name", "email")
        }
        outcome = self.attempt_payment(
            session["id"],
            fields["card_number"],
            exp=fields["expiry"] if "expiry" in form else None,
            cvc=fields["cvc"] if "cvc" in form else None,
            name=fields["name"] or None,
            email=fields["email"] or None,
        )
        if not outcome.ok:
            if outcome.code in ("session_closed", "not_found"):
                return self._closed_page(self.sessions.get(session["id"]))
            fields.pop("cvc")
            return self._render(
                outcome.status,
                state="form",
                title=f"Pay {self._page_values(session)['total']}",
                error=outcome.message,
                values=fields,
                **self._page_values(session),
            )
        target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        if _is_telegram(target):
            return self._render(
                200,
                state="telegram",
                title="Payment received — return to Telegram",
                return_url=target,
                total=format_amount(session["amount_total"], session["currency"]),
            )
        return RedirectResponse(target, status_code=303)

    async def _http_cancel(self, request: Request) -> Response:
        session = self.sessions.get(request.path_params["session_id"])
        if session is None:
            return self._closed_page(None)
        if not session["cancel_url"]:
            return RedirectResponse(f"/checkout/{session['id']}", status_code=303)
        target = session["cancel_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        if _is_telegram(target):
            return self._render(
                200,
                state="cancelled",
                title="Payment not made — return to Telegram",
                return_url=target,
            )
        return RedirectResponse(target, status_code=303)

    # -- control over HTTP ---------------------------------------------------------------------

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


# -- helpers -------------------------------------------------------------------------------------


def _public(item: dict) -> dict:
    """A copy without our bookkeeping keys (those starting with `_`), at any depth."""
    if isinstance(item, dict):
        return {k: _public(v) for k, v in item.items() if not k.startswith("_")}
    if isinstance(item, list):
        return [_public(v) for v in item]
    return item


def _list(data: list, has_more: bool, url: str) -> dict:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def _metadata(value: Any, param: str) -> dict[str, str]:
    if value is None:
        return {}
    data = _hash(value, param)
    result = {}
    for key, item in data.items():
        if item == "" or item is None:
            continue  # an empty value unsets the key
        if len(key) > MAX_METADATA_KEY:
            raise invalid(
                f"{param}[{key}]",
                f"Metadata keys can have up to {MAX_METADATA_KEY} characters; `{key}` has "
                f"{len(key)}.",
            )
        text = _string(item, f"{param}[{key}]")
        if len(text) > MAX_METADATA_VALUE:
            raise invalid(
                f"{param}[{key}]",
                f"Metadata values can have up to {MAX_METADATA_VALUE} characters, but you passed "
                f"in a value that is {len(text)} characters.",
            )
        result[key] = text
    if len(result) > MAX_METADATA_KEYS:
        raise invalid(param, f"You can only specify up to {MAX_METADATA_KEYS} metadata keys.")
    return result


def _created_filter(items: list[dict], value: Any) -> list[dict]:
    if value is None or value == "":
        return items
    if isinstance(value, str):
        when = _integer(value, "created")
        return [i for i in items if i["created"] == when]
    bounds = _hash(value, "created")
    checks = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    _check_known(bounds, frozenset(checks), "created")
    for op, bound in bounds.items():
        limit = _integer(bound, f"created[{op}]")
        items = [i for i in items if checks[op](i["created"], limit)]
    return items


def _type_matches(pattern: str, event_type: str) -> bool:
    if pattern.endswith("*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def _is_telegram(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "tg" or (parts.hostname or "").lower() in TELEGRAM_HOSTS


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


async def _read_params(request: Request) -> dict:
    if request.method in ("GET", "DELETE"):
        return decode_params(parse_qsl(request.url.query, keep_blank_values=True))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if content_type not in ("", "application/x-www-form-urlencoded"):
        raise StripeError(
            400,
            f"Invalid request: unsupported Content-Type {content_type}. If error persists and "
            "you need assistance, please contact support@stripe.com.",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise StripeError(400, "Invalid request: the body is not valid UTF-8.") from None
    return decode_params(parse_qsl(text, keep_blank_values=True))


async def _json_body(request: Request) -> dict:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class FakeStripeServer(RunningServer):
    """The running server of a FakeStripe: `stop()` closes the fake first so it cannot hang."""

    def __init__(self, fake: FakeStripe, running: RunningServer) -> None:
        super().__init__(running.server, running.task, running.host, running.port)
        self.fake = fake

    async def stop(self) -> None:
        await self.fake.close()
        await super().stop()


async def start_fake_stripe(
    *, host: str = "127.0.0.1", port: int = 0, **kwargs: Any
) -> tuple[FakeStripe, RunningServer]:
    """A FakeStripe served on a loopback port, its `base_url` set; `kwargs` go to FakeStripe."""
    fake = FakeStripe(**kwargs)
    running = await start_server(fake.app, host, port)
    for server in getattr(running.server, "servers", []):
        for sock in server.sockets:
            # Without TCP_NODELAY each small answer waits for a delayed ACK.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if fake.base_url is None:
        fake.base_url = running.url
    fake._ensure_background()
    return fake, FakeStripeServer(fake, running)
