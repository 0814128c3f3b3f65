"""Webhook delivery: signed POSTs to the endpoint, in order, retried with backoff, duplicates on request.

Each attempt is recorded in `deliveries`; `drain` and `wait_for_delivery` let tests wait for them."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from bot.sandbox.stripe.rules import DEFAULT_API_VERSION
from bot.sandbox.stripe.signing import forged_signature, sign_payload

log = logging.getLogger(__name__)


class WebhooksMixin:
    """The delivery worker, its retries, the expiry sweep, and manual sends."""

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

    def _delivery_version(self) -> str:
        """The API version a delivery to `webhook_url` is rendered in: that of the enabled
        endpoint registered for the URL when it has one, else the account's default."""
        for endpoint in self.webhook_endpoints.values():
            enabled = endpoint["url"] == self.webhook_url and endpoint["status"] == "enabled"
            if enabled and endpoint.get("api_version"):
                return endpoint["api_version"]
        return self.api_version or DEFAULT_API_VERSION

    async def _attempt(self, event: dict, *, attempt: int, manual: bool = False) -> dict:
        rendered = {**event, "api_version": self._delivery_version()}
        payload = json.dumps(rendered, indent=2).encode()
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
