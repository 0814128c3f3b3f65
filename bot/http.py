"""The bot's HTTP server (SPEC §6): health, Telegram webhook, Stripe webhook, one Starlette app.

Outside events are turned into updates on the Application's queue, so every input takes one path.
Anyone can reach it: bodies are capped while they stream in, slow clients are cut off, the number
of connections is bounded (docs/SECURITY.md lists each limit and its source)."""

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
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.club_records import MAX_CLUBS_BYTES
from bot.clubs import ClubImportError, import_clubs
from bot.updates import chat_of, journal

log = logging.getLogger(__name__)

# How long a Telegram webhook call waits for its update to be handled (Telegram gives up on a
# webhook call after about a minute and sends the update again).
WEBHOOK_WAIT = 30.0
# `/telegram/webhook` while the bot polls (`ofbot run` without --webhook).
POLLING_CONFLICT = (
    "Conflict: the bot receives updates by long polling (getUpdates), not by webhook;"
    " run it with --webhook to deliver updates here"
)
# Body caps, checked while the body streams in. Stripe's events are a few kB (a Checkout Session
# with its metadata is ~3 kB); Telegram's updates are well under 1 MB (a message is at most 4096
# characters, a file travels as a file_id, never inline).
STRIPE_BODY_MAX = 64 * 1024
TELEGRAM_BODY_MAX = 1024 * 1024
# The whole body must arrive within this time (headers have their own limit: GuardedH11Protocol).
BODY_TIMEOUT = 10.0


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
    """The request body, or None as soon as it passes `limit` bytes (announced or streamed) or
    does not arrive within BODY_TIMEOUT (`read_body`)."""
    try:
        return await read_body(request, limit)
    except BodyRefused:
        return None


def unauthorized() -> Response:
    return JSONResponse(
        {"ok": False, "error": "unauthorized"},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="ofbot"'},
    )


# Connections served at once; more are closed as soon as they are accepted (a file descriptor
# each: 1 100 half-open requests used to exhaust them and stop the bot's polling).
MAX_CONNECTIONS = 200
# A request's head (request line and headers) must arrive within this time, and be at most
# HEADER_MAX bytes; an idle keep-alive connection is closed after KEEP_ALIVE seconds.
HEADER_TIMEOUT = 10.0
HEADER_MAX = 16 * 1024
KEEP_ALIVE = 5


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with the limits uvicorn lacks: a cap on open connections
    (closed at once beyond it, before any byte is read) and a deadline for a request's head."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > MAX_CONNECTIONS:
            transport.close()
            return
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(HEADER_TIMEOUT, self._head_too_slow)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self._arm_head_timer()  # the head of a next request on a kept-alive connection
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)


# uvicorn.Config options of the bot's server (bot/runtime.py).
SERVER_LIMITS = {
    "http": GuardedH11Protocol,
    "limit_concurrency": MAX_CONNECTIONS,
    "timeout_keep_alive": KEEP_ALIVE,
    "h11_max_incomplete_event_size": HEADER_MAX,
    "backlog": 256,
}


class BodyRefused(Exception):
    """The body is too large (413) or too slow (408); `status` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


async def read_body(request: Request, limit: int, timeout: float = BODY_TIMEOUT) -> bytes:
    """The request body, refused as soon as it is known to exceed `limit` bytes (from its
    Content-Length, else while streaming) or takes longer than `timeout` seconds to arrive:
    a 200 MiB body costs at most `limit` bytes of memory."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BodyRefused(400, "bad Content-Length")
        if int(declared) > limit:
            raise BodyRefused(413, "body too large")
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise BodyRefused(413, "body too large")
    except TimeoutError:
        raise BodyRefused(408, "body too slow") from None
    return bytes(body)


def _refused(exc: BodyRefused) -> Response:
    return JSONResponse({"ok": False, "error": str(exc)}, status_code=exc.status)


def build_http_app(
    app: Application, extra_routes: list[Route] | None = None, *, webhook: bool = True
) -> Starlette:
    """`webhook`: whether Telegram updates come by webhook. `/telegram/webhook` is served in both
    modes (SPEC §6) and checks a call the same way — 403 without the secret token, 413/408 for
    a body too large or too slow, 400 for one that is not an Update — but while the bot polls an
    accepted call is answered 409 Conflict and its update is not taken: the getUpdates offset
    follows the updates polled (bot/updates.py: UpdateLedger), and a forged update with a high
    update_id would move it past updates not fetched yet, losing them. Telegram answers the same
    way the other way round: getUpdates while a webhook is set is a 409 (Bot API, getUpdates)."""
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
            body = await read_body(request, TELEGRAM_BODY_MAX)
        except BodyRefused as exc:
            log.warning("telegram webhook refused: %s", exc)
            return _refused(exc)
        try:
            data = json.loads(body)
            # An Update is a JSON object with an integer update_id (Bot API, Update); anything
            # else (an array, a number) is a bad request, not a crash.
            if not isinstance(data, dict) or type(data.get("update_id")) is not int:
                raise ValueError("not an Update object")
            update = Update.de_json(data, app.bot)
        except (ValueError, TypeError, KeyError, AttributeError):
            return JSONResponse({"ok": False, "error": "bad update"}, status_code=400)
        if update is None:
            return JSONResponse({"ok": False, "error": "bad update"}, status_code=400)
        if not webhook:
            log.warning("telegram webhook call refused: the bot receives updates by long polling")
            return JSONResponse({"ok": False, "error": POLLING_CONFLICT}, status_code=409)
        # Answered once the update is handled and the chat's state saved (bot/updates.py:
        # UpdateLedger): a crash before that and Telegram sends it again; a resend of an update
        # being handled waits for it instead of queueing it twice.
        ledger = app.ledger
        if ledger.receive(update.update_id, chat_of(data), data):
            await app.update_queue.put(update)
            # A chat with several updates in hand (a flood) must not hold Telegram's webhook
            # connections: its updates wait in the inbox and the call is answered now.
            await journal(ledger, app.bot.inbox)
        if ledger.is_journaled(update.update_id):
            return JSONResponse({"ok": True})
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

        signature = request.headers.get("Stripe-Signature")
        if not signature or "v1=" not in signature:
            # Refused before a byte of the body is read.
            log.warning("stripe webhook refused: missing Stripe-Signature")
            return JSONResponse({"ok": False, "error": "missing signature"}, status_code=400)
        try:
            body = await read_body(request, STRIPE_BODY_MAX)
        except BodyRefused as exc:
            log.warning("stripe webhook refused: %s", exc)
            return _refused(exc)
        try:
            update = await payments.receive_webhook(services, body, signature)
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
        body, content_type = await services.metrics.render(services.db)
        return Response(body, media_type=content_type)

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
