"""The bot's HTTP server (SPEC §6): health, Telegram webhook, Stripe webhook, one Starlette app.

Outside events are turned into updates on the Application's queue, so every input takes one path."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from bot.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)

# How long a Telegram webhook call waits for its update to be handled (Telegram gives up on a
# webhook call after about a minute and sends the update again).
WEBHOOK_WAIT = 30.0


def bearer_matches(request: Request, expected: str | None) -> bool:
    """`Authorization: Bearer <expected>`, compared in constant time (RFC 6750 §2.1; the scheme
    name is case-insensitive, RFC 9110 §11.1)."""
    if not expected:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def unauthorized() -> Response:
    return JSONResponse(
        {"ok": False, "error": "unauthorized"},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="ofbot"'},
    )


def build_http_app(app: Application, extra_routes: list[Route] | None = None) -> Starlette:
    services = app.bot_data["services"]

    async def healthz(request: Request) -> Response:
        try:
            await services.db.fetchval("SELECT 1")
        except Exception:  # the check itself must answer, whatever broke
            return JSONResponse({"status": "error", "database": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "running": app.running})

    async def telegram_webhook(request: Request) -> Response:
        expected = services.settings.telegram_secret_token
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            log.warning("telegram webhook refused: missing or wrong secret token")
            return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
        try:
            data = json.loads(await request.body())
            # An Update is a JSON object with an integer update_id (Bot API, Update); anything
            # else (an array, a number) is a bad request, not a crash.
            if not isinstance(data, dict) or type(data.get("update_id")) is not int:
                raise ValueError("not an Update object")
            update = Update.de_json(data, app.bot)
        except (ValueError, TypeError, KeyError, AttributeError):
            return JSONResponse({"ok": False, "error": "bad update"}, status_code=400)
        if update is None:
            return JSONResponse({"ok": False, "error": "bad update"}, status_code=400)
        # Answered once the update is handled and the chat's state saved (bot/updates.py:
        # UpdateLedger): a crash before that and Telegram sends it again; a resend of an update
        # being handled waits for it instead of queueing it twice.
        if app.ledger.receive(update.update_id):
            await app.update_queue.put(update)
        try:
            await asyncio.wait_for(
                asyncio.shield(app.ledger.settled(update.update_id)), WEBHOOK_WAIT
            )
        except TimeoutError:
            log.warning("update %s still being handled: answered before it ends", update.update_id)
        return JSONResponse({"ok": True})

    async def stripe_webhook(request: Request) -> Response:
        """Verify the signature, store the event (once per id), answer, then queue it: Stripe gets
        its 2xx quickly and a crash after the answer loses nothing (replayed at start-up)."""
        from bot import payments

        try:
            update = await payments.receive_webhook(
                services, await request.body(), request.headers.get("Stripe-Signature")
            )
        except payments.WebhookRefused as exc:
            log.warning("stripe webhook refused: %s", exc)
            services.metrics.stripe_webhooks.labels(result="refused").inc()
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        if update is not None:
            await app.update_queue.put(update)
        services.metrics.stripe_webhooks.labels(
            result="accepted" if update is not None else "duplicate"
        ).inc()
        return JSONResponse({"ok": True})

    async def metrics(request: Request) -> Response:
        """Prometheus' text format, only for `Authorization: Bearer <OFBOT_METRICS_TOKEN>`."""
        if not bearer_matches(request, services.settings.metrics_token):
            return unauthorized()
        body = await services.metrics.render(services.db)
        return Response(body, media_type=CONTENT_TYPE)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/telegram/webhook", telegram_webhook, methods=["POST"]),
        Route("/stripe/webhook", stripe_webhook, methods=["POST"]),
        *(extra_routes or []),
    ]
    # Not served at all (404) when its token is unset (SPEC §6).
    if services.settings.metrics_token:
        routes.append(Route("/metrics", metrics, methods=["GET"]))
    return Starlette(routes=routes)
