"""The objects: Checkout Sessions, Payment Intents, Prices and events, and how a session completes or expires.

Every state change emits the event Stripe would (`checkout.session.completed`, `...expired`)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable

from bot.sandbox.stripe.rules import DEFAULT_API_VERSION
from bot.sandbox.stripe.signing import new_id


@dataclasses.dataclass
class _Ctx:
    request_id: str
    idempotency_key: str | None
    api_version: str


def _public(item: dict) -> dict:
    """A copy without our bookkeeping keys (those starting with `_`), at any depth."""
    if isinstance(item, dict):
        return {k: _public(v) for k, v in item.items() if not k.startswith("_")}
    if isinstance(item, list):
        return [_public(v) for v in item]
    return item


class ModelMixin:
    """The objects' life: prices, sessions' views, completion, expiry and events."""

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

    def session(self, session_id: str) -> dict:
        """A copy of the session as the API would return it (line_items expanded)."""
        self.expire_due()
        return self._session_view(self.sessions[session_id], ("line_items",))

    def expire_due(self) -> None:
        """Sessions whose `expires_at` has passed become expired (with their event); debits
        due settle (bot/sandbox/stripe/money.py)."""
        self.settle_debits()
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
        # Stripe renders an event in the account's default API version of the moment, whatever
        # version the request that made the object named; a webhook endpoint with its own
        # `api_version` gets its deliveries in that one (webhooks.py: `_delivery_version`).
        event = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": self.api_version or DEFAULT_API_VERSION,
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
