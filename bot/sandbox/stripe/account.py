"""The account-level objects `ofbot doctor` reads: the balance (which proves a key and tells its
mode) and webhook endpoints (create, list, retrieve, update, delete), in Stripe's shapes.

Source: Stripe's API reference, "Balance" and "Webhook Endpoints". Stripe refuses a non-HTTPS
endpoint URL in live mode and event names it does not know; the stand-in checks the name's shape."""

from __future__ import annotations

import copy
import re

from bot.sandbox.stripe.errors import StripeError, invalid, missing, no_such
from bot.sandbox.stripe.model import _Ctx
from bot.sandbox.stripe.money import VERSION_RE
from bot.sandbox.stripe.params import _array, _check_known, _metadata, _optional, _string, _url
from bot.sandbox.stripe.signing import new_id

LIST_PARAMS = frozenset({"limit", "starting_after", "ending_before", "expand"})
CREATE_PARAMS = frozenset(
    {"url", "enabled_events", "description", "metadata", "api_version", "connect", "expand"}
)
UPDATE_PARAMS = frozenset(
    {"url", "enabled_events", "description", "metadata", "disabled", "expand"}
)
# `*` or a dotted event name such as checkout.session.completed.
_EVENT_NAME = re.compile(r"^(\*|[a-z_]+(\.[a-z_]+)+)$")


class AccountMixin:
    """`/v1/balance` and `/v1/webhook_endpoints`; `add_webhook_endpoint` registers one as the
    Dashboard would (tests, `ofbot doctor` against the sandbox)."""

    @property
    def livemode(self) -> bool:
        return bool(re.match(r"^(sk|rk)_live_", self.api_key))

    def add_webhook_endpoint(
        self,
        url: str,
        enabled_events: list[str],
        *,
        status: str = "enabled",
        api_version: str | None = None,
    ) -> dict:
        """Register an endpoint; returns it with its signing `secret` (shown once, as Stripe does).
        `api_version`: the version its events are rendered in (None: the account's default)."""
        endpoint = {
            "id": new_id("we_"),
            "object": "webhook_endpoint",
            "api_version": api_version,
            "application": None,
            "created": int(self.now()),
            "description": None,
            "enabled_events": list(enabled_events),
            "livemode": self.livemode,
            "metadata": {},
            "status": status,
            "url": url,
        }
        self.webhook_endpoints[endpoint["id"]] = endpoint
        return {**copy.deepcopy(endpoint), "secret": self.webhook_secret}

    def _api_retrieve_balance(self, params: dict, ctx: _Ctx) -> dict:
        _check_known(params, frozenset({"expand"}))
        paid = sum(
            s["amount_total"] or 0
            for s in self.sessions.values()
            if s.get("payment_status") == "paid"
        )
        return {
            "object": "balance",
            "available": [{"amount": 0, "currency": "eur", "source_types": {"card": 0}}],
            "pending": [{"amount": paid, "currency": "eur", "source_types": {"card": paid}}],
            "livemode": self.livemode,
        }

    def _events_param(self, value: object) -> list[str]:
        events = _array(value, "enabled_events")
        if not events:
            raise missing("enabled_events")
        for index, name in enumerate(events):
            param = f"enabled_events[{index}]"
            if not isinstance(name, str) or not _EVENT_NAME.match(name):
                raise invalid(param, f"Invalid {param}: must be one of the event types or '*'")
        return list(events)

    def _url_param(self, value: object) -> str:
        url = _url(value, "url")
        if self.livemode and not url.startswith("https://"):
            raise invalid("url", "Invalid URL: URL must be publicly accessible and use HTTPS.")
        return url

    def _api_create_webhook_endpoint(self, params: dict, ctx: _Ctx) -> dict:
        _check_known(params, CREATE_PARAMS)
        if _optional(params, "url") is None:
            raise missing("url")
        version = _optional(params, "api_version")
        if version is not None and not VERSION_RE.fullmatch(_string(version, "api_version")):
            raise invalid("api_version", f"Invalid api_version: {version}")
        created = self.add_webhook_endpoint(
            self._url_param(params["url"]),
            self._events_param(params.get("enabled_events", "")),
            api_version=version,
        )
        endpoint = self.webhook_endpoints[created["id"]]
        if _optional(params, "description") is not None:
            endpoint["description"] = _string(params["description"], "description", 5000)
        if _optional(params, "metadata") is not None:
            endpoint["metadata"] = _metadata(params["metadata"], "metadata")
        return {**copy.deepcopy(endpoint), "secret": created["secret"]}

    def _api_list_webhook_endpoints(self, params: dict, ctx: _Ctx) -> dict:
        _check_known(params, LIST_PARAMS)
        endpoints = [copy.deepcopy(e) for e in reversed(self.webhook_endpoints.values())]
        return self._page(endpoints, params, "/v1/webhook_endpoints", "webhook_endpoint")

    def _endpoint(self, endpoint_id: str) -> dict:
        endpoint = self.webhook_endpoints.get(endpoint_id)
        if endpoint is None:
            raise no_such("webhook_endpoint", endpoint_id, "id")
        return endpoint

    def _api_retrieve_webhook_endpoint(self, params: dict, ctx: _Ctx, id: str) -> dict:
        _check_known(params, frozenset({"expand"}))
        return copy.deepcopy(self._endpoint(id))

    def _api_update_webhook_endpoint(self, params: dict, ctx: _Ctx, id: str) -> dict:
        _check_known(params, UPDATE_PARAMS)
        endpoint = self._endpoint(id)
        if _optional(params, "url") is not None:
            endpoint["url"] = self._url_param(params["url"])
        if "enabled_events" in params:
            endpoint["enabled_events"] = self._events_param(params["enabled_events"])
        if _optional(params, "disabled") is not None:
            if params["disabled"] not in ("true", "false"):
                raise invalid("disabled", f"Invalid boolean: {params['disabled']}")
            endpoint["status"] = "disabled" if params["disabled"] == "true" else "enabled"
        if _optional(params, "description") is not None:
            endpoint["description"] = _string(params["description"], "description", 5000)
        return copy.deepcopy(endpoint)

    def _api_delete_webhook_endpoint(self, params: dict, ctx: _Ctx, id: str) -> dict:
        if params:
            raise StripeError(400, "Received unknown parameters: " + ", ".join(sorted(params)))
        self._endpoint(id)
        del self.webhook_endpoints[id]
        return {"id": id, "object": "webhook_endpoint", "deleted": True}
