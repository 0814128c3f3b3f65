"""Getting updates: the queue, long polling (`getUpdates`) and webhooks (`setWebhook` and delivery).

One long poll at a time, as Telegram: a newer one ends the older with a 409 conflict."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request

from bot.sandbox.telegram.errors import ApiError, _Described, bad_request
from bot.sandbox.telegram.state import _disconnected, _first

MAX_LONG_POLL = 50
# Bot API, setWebhook: "Ports currently supported for webhooks: 443, 80, 88, 8443."
WEBHOOK_PORTS = (443, 80, 88, 8443)


WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


UPDATE_TYPES = (
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
    "chat_member",
    "message_reaction",
)


# Telegram only sends these when asked for explicitly in allowed_updates.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class UpdatesMixin:
    """The update queue, `getUpdates` long polling and webhook delivery."""

    api_methods: ClassVar[dict[str, str]] = {
        "setwebhook": "_set_webhook",
        "deletewebhook": "_delete_webhook",
        "getwebhookinfo": "_get_webhook_info",
    }
    # getUpdates is dispatched by the server itself: it needs the request (to notice a client gone).

    def _signal_updates(self) -> None:
        self._new_update.set()
        self._new_update = asyncio.Event()

    def _enqueue(self, kind: str, payload: dict) -> None:
        allowed = self._allowed_updates
        if allowed is not None and kind not in allowed:
            return
        if allowed is None and kind in OPT_IN_UPDATES:
            return
        self._updates.append({"update_id": self._next_update_id, kind: payload})
        self._next_update_id += 1
        self._save_ids()
        self.update_count += 1
        self._signal_updates()

    def restart_update_ids(self, first: int) -> None:
        """Give the next updates ids from `first` on, as Telegram may: after a week without
        updates the next id "is chosen randomly instead of sequentially" (Bot API, Update), so
        it can be one the bot handled before (tests; the sandbox itself never goes back)."""
        self._next_update_id = first

    def _drop_pending(self) -> None:
        self.update_count -= len(self._updates)
        self._updates.clear()

    async def _get_updates(self, p: dict, request: Request) -> list[dict]:
        if self._webhook["url"]:
            raise ApiError(409, WEBHOOK_CONFLICT)
        offset = p.get("offset")
        limit = p.get("limit", 100)
        timeout = p.get("timeout", 0)
        if not isinstance(limit, int) or not isinstance(timeout, int):
            raise bad_request("invalid limit or timeout")
        limit = min(max(limit, 1), 100)
        timeout = min(max(timeout, 0), MAX_LONG_POLL)
        if "allowed_updates" in p:
            self._set_allowed(p["allowed_updates"])
        if isinstance(offset, int):
            if offset < 0:
                forgotten = self._updates[:offset]
                self._updates = self._updates[offset:]
                self.update_count -= len(forgotten)
            elif offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        self._signal_updates()  # an older long poll, if any, is answered with a conflict
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        disconnected = asyncio.ensure_future(_disconnected(request))
        try:
            while True:
                signal = self._new_update
                if generation != self._poll_generation:
                    raise ApiError(409, POLL_CONFLICT)
                if self._webhook["url"]:
                    raise ApiError(409, WEBHOOK_CONFLICT)
                remaining = deadline - loop.time()
                if self._updates or remaining <= 0 or self._closing.is_set():
                    return copy.deepcopy(self._updates[:limit])
                waiter = asyncio.ensure_future(signal.wait())
                await asyncio.wait(
                    {waiter, disconnected}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                waiter.cancel()
                if disconnected.done():
                    return []
        finally:
            disconnected.cancel()

    def _set_allowed(self, allowed: Any) -> None:
        if allowed is None:
            return
        if not isinstance(allowed, list):
            raise bad_request("can't parse allowed_updates JSON object")
        self._allowed_updates = frozenset(allowed) if allowed else None

    def _set_webhook(self, p: dict, files: dict) -> _Described:
        url = p.get("url") or ""
        if not url:
            self._remove_webhook(bool(p.get("drop_pending_updates")))
            return _Described(True, "Webhook was deleted")
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        try:
            port = parts.port or 443
        except ValueError:
            raise bad_request(
                "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
            ) from None
        if port not in WEBHOOK_PORTS:
            raise bad_request(
                "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
            )
        local = self._webhook_target(url)
        if local is None:
            raise bad_request("bad webhook: Failed to resolve host: Name or service not known")
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad_request("secret token contains unallowed characters")
        if p.get("drop_pending_updates"):
            self._drop_pending()
        if "allowed_updates" in p:
            self._set_allowed(p["allowed_updates"])
        unchanged = self._webhook.get("url") == url and self._webhook.get("secret") == secret
        self._webhook = {
            "url": url,
            "secret": secret,
            "max_connections": p.get("max_connections") or 40,
            "last_error_date": None,
            "last_error_message": None,
        }
        if self._webhook_task is not None:
            self._webhook_task.cancel()
        self._webhook_task = asyncio.get_running_loop().create_task(
            self._deliver_webhook(local, secret)
        )
        self._signal_updates()
        return _Described(True, "Webhook is already set" if unchanged else "Webhook was set")

    def route_webhook(self, public_origin: str, local_origin: str) -> None:
        """The TLS-terminating proxy in front of a bot: webhooks set on `public_origin`
        (`https://bot.example.org:8443`) are delivered to `local_origin` (`http://127.0.0.1:PORT`).
        Telegram only reaches HTTPS URLs on ports 443, 80, 88 and 8443; the proxy is how a bot
        listening on plain HTTP on another port is reached, in production as here."""
        self.webhook_routes[public_origin.rstrip("/").lower()] = local_origin.rstrip("/")

    def _webhook_target(self, url: str) -> str | None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        default = origin.removesuffix(":443")
        local = self.webhook_routes.get(origin) or self.webhook_routes.get(default)
        if local is None:
            return None
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return local + path

    def _remove_webhook(self, drop_pending: bool) -> None:
        if drop_pending:
            self._drop_pending()
        self._webhook = {"url": ""}
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            self._webhook_task = None

    def _delete_webhook(self, p: dict, files: dict) -> _Described:
        existed = bool(self._webhook["url"])
        self._remove_webhook(bool(p.get("drop_pending_updates")))
        return _Described(True, "Webhook was deleted" if existed else "Webhook is already deleted")

    def _get_webhook_info(self, p: dict, files: dict) -> dict:
        info: dict[str, Any] = {
            "url": self._webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._webhook["url"]:
            info["max_connections"] = self._webhook["max_connections"]
            info["ip_address"] = "127.0.0.1"
            if self._webhook["last_error_date"]:
                info["last_error_date"] = self._webhook["last_error_date"]
                info["last_error_message"] = self._webhook["last_error_message"]
        if self._allowed_updates is not None:
            info["allowed_updates"] = sorted(self._allowed_updates)
        return info

    async def _deliver_webhook(self, url: str, secret: str | None) -> None:
        """POST pending updates in order; keep and retry with backoff whatever is not acknowledged."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        delay = 0.2
        async with httpx.AsyncClient(timeout=10.0) as client:
            while not self._closing.is_set():
                signal = self._new_update
                if not self._updates:
                    await _first(signal.wait(), self._closing.wait())
                    continue
                update = self._updates[0]
                try:
                    response = await client.post(url, json=update, headers=headers)
                    error = (
                        None
                        if response.is_success
                        else f"Wrong response from the webhook: {response.status_code} {response.reason_phrase}"
                    )
                except httpx.HTTPError as exc:
                    error = f"Connection failed: {type(exc).__name__}"
                if error is None:
                    if self._updates and self._updates[0] is update:
                        self._updates.pop(0)
                    delay = 0.2
                    continue
                self._webhook["last_error_date"] = int(self.wall_clock())
                self._webhook["last_error_message"] = error
                await _first(asyncio.sleep(delay), self._closing.wait())
                delay = min(delay * 2, 5.0)

    async def _stop_webhook_task(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
