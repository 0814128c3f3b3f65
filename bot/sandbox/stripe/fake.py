"""`FakeStripe`: Stripe's Checkout Sessions and events API, its checkout page and webhooks, from mixins.

The official `stripe` client talks to it over loopback; a local checkout page stands in for Stripe's."""

from __future__ import annotations

import asyncio
import contextlib
import html
import time
from collections.abc import Callable, Iterable

import httpx
import jinja2
import markupsafe
from starlette.applications import Starlette
from starlette.routing import Route

from bot.sandbox.stripe.account import AccountMixin
from bot.sandbox.stripe.api import ApiMixin, _Stored
from bot.sandbox.stripe.cards import CardsMixin
from bot.sandbox.stripe.checkout import TEMPLATES, CheckoutPageMixin
from bot.sandbox.stripe.control import ControlMixin
from bot.sandbox.stripe.events import EventsMixin
from bot.sandbox.stripe.faults import FaultsMixin, _Fault, _install_drop_filter
from bot.sandbox.stripe.model import ModelMixin
from bot.sandbox.stripe.money import MoneyMixin
from bot.sandbox.stripe.sessions import SessionsMixin
from bot.sandbox.stripe.webhooks import WebhooksMixin


class FakeStripe(
    ApiMixin,
    SessionsMixin,
    EventsMixin,
    ModelMixin,
    CardsMixin,
    WebhooksMixin,
    CheckoutPageMixin,
    FaultsMixin,
    ControlMixin,
    AccountMixin,
    MoneyMixin,
):
    """Stripe's Checkout Sessions and events API, its hosted checkout page and its webhooks.

    Timestamps follow `clock` (plus `advance_clock`); webhook signatures use the wall clock, as
    receivers check them against theirs. Each concern is a mixin in a module of its own."""

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
        # The account's default API version (Dashboard › Developers): what requests naming no
        # `Stripe-Version` and events get; None: DEFAULT_API_VERSION (rules.py).
        api_version: str | None = None,
        webhook_timeout: float = 10.0,
        sweep_interval: float = 1.0,
        require_version: str | None = None,
        debit_enabled: bool = True,
    ) -> None:
        self.api_key = api_key
        # The account's pinned API version: every request must name it (None: any valid one).
        self.require_version = require_version
        # SEPA Direct Debit among the account's payment methods (bot/sandbox/stripe/money.py).
        self.debit_enabled = debit_enabled
        self.refunds: dict[str, dict] = {}
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
        self.webhook_endpoints: dict[str, dict] = {}
        self.events: list[dict] = []
        self.deliveries: list[dict] = []
        self.requests: list[dict] = []
        self.payment_attempts: list[dict] = []
        self._events_by_id: dict[str, dict] = {}
        self._idempotent: dict[str, _Stored] = {}
        self._keys_in_use: set[str] = set()
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
