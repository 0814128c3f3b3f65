"""Events' API (`/v1/events`) and the list pagination (`starting_after`, `ending_before`, `limit`).

An event is rendered in the account's default API version, never in the version of the request
that created its object; a delivery to an endpoint with its own `api_version` is rendered in that
one (Stripe API reference, Webhook Endpoints: `api_version`, "Events sent to this endpoint will be
generated with this Stripe Version instead of your account's default Stripe Version")."""

from __future__ import annotations

import copy

from bot.sandbox.stripe.errors import invalid, no_such
from bot.sandbox.stripe.model import _Ctx
from bot.sandbox.stripe.params import (
    _array,
    _boolean,
    _check_known,
    _created_filter,
    _integer,
    _optional,
    _string,
)
from bot.sandbox.stripe.rules import LIST_EVENT_PARAMS


def _list(data: list, has_more: bool, url: str) -> dict:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def _type_matches(pattern: str, event_type: str) -> bool:
    if pattern.endswith("*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


class EventsMixin:
    """The `/v1/events` endpoints and list pagination."""

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
