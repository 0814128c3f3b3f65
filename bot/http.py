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

from bot.club_records import MAX_CLUBS_BYTES
from bot.clubs import ClubImportError, import_clubs
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


async def read_capped(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it passes `limit` bytes (announced or streamed)."""
    announced = request.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


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

    async def admin_clubs(request: Request) -> Response:
        """Club rows pushed by OpenFlyers' back office (SPEC §6): CSV (`text/csv`) or a JSON list
        of objects, the import's validation and all-or-nothing rule, audit rows."""
        if not bearer_matches(request, services.settings.admin_token):
            return unauthorized()
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in ("text/csv", "application/json"):
            return JSONResponse(
                {"ok": False, "error": "Content-Type must be text/csv or application/json"},
                status_code=415,
            )
        body = await read_capped(request, MAX_CLUBS_BYTES)
        if body is None:
            return JSONResponse(
                {"ok": False, "error": f"body larger than {MAX_CLUBS_BYTES} bytes"},
                status_code=413,
            )
        counted = services.metrics.clubs_imports
        where = "item" if kind == "application/json" else "line"
        try:
            text = body.decode("utf-8")
            data = json.loads(text) if kind == "application/json" else text
        except (UnicodeDecodeError, ValueError):
            counted.labels(origin="admin", outcome="refused").inc()
            message = "the body is not UTF-8 text" if kind == "text/csv" else "not valid JSON"
            return JSONResponse({"ok": False, "errors": [{where: 0, "message": message}]}, 400)
        try:
            report = await import_clubs(
                services.db, data, set(services.catalogue.plans), actor="admin:POST /admin/clubs"
            )
        except ClubImportError as exc:
            counted.labels(origin="admin", outcome="refused").inc()
            errors = [{where: line, "message": message} for line, message in exc.problems]
            log.warning("POST /admin/clubs refused: %d problem(s), nothing imported", len(errors))
            return JSONResponse({"ok": False, "imported": 0, "errors": errors}, status_code=400)
        counted.labels(origin="admin", outcome="imported").inc()
        log.info(
            "POST /admin/clubs: %d created, %d updated, %d unchanged",
            report.created,
            report.updated,
            report.unchanged,
        )
        return JSONResponse(
            {
                "ok": True,
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
            }
        )

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
    if services.settings.admin_token:
        routes.append(Route("/admin/clubs", admin_clubs, methods=["POST"]))
    return Starlette(routes=routes)
