"""The bot's Prometheus metrics (SPEC §6 `GET /metrics`): counters kept by this process, and
figures read from the database at each scrape (open invoices, escalations, reminders, Stripe events).

One registry per running bot (not prometheus_client's global one), so bots in one process (tests,
the sandbox) never add to each other's counts. Without OFBOT_METRICS_TOKEN nothing can read them
(`GET /metrics` is not served): the running bot then counts nothing and never imports
prometheus_client (~6 ms of start-up CPU, and a few label look-ups per update)."""

from __future__ import annotations

import contextlib

from telegram import Update

from storage import stats as stat_rows

# Handler latency buckets (seconds): a reply takes tens of milliseconds; a Stripe call or a
# flood-controlled send seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def update_kind(update: object) -> str:
    """A short, bounded label for what came in: Telegram's update field (a command apart), or the
    class of a custom update (Stripe event, scheduled job)."""
    if isinstance(update, Update):
        if update.message is not None:
            text = update.message.text or ""
            return "command" if text.startswith("/") else "message"
        for kind in (
            "callback_query",
            "edited_message",
            "my_chat_member",
            "chat_member",
            "channel_post",
            "inline_query",
        ):
            if getattr(update, kind) is not None:
                return kind
        return "other"
    return type(update).__name__


class _DatabaseFigures:
    """A collector of figures read at scrape; `refresh()` (async, the database is) fills the
    snapshot that `collect()` (sync, prometheus_client's interface) reports."""

    def __init__(self) -> None:
        self.snapshot: dict | None = None

    async def refresh(self, db) -> None:
        self.snapshot = await stat_rows.metrics_figures(db)

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        if self.snapshot is None:
            return
        s = self.snapshot
        yield GaugeMetricFamily(
            "ofbot_open_invoices", "Invoices issued and not paid nor cancelled", value=s["invoices"]
        )
        yield GaugeMetricFamily(
            "ofbot_open_invoices_cents",
            "Total (VAT included) of the open invoices, in cents",
            value=s["invoices_cents"],
        )
        escalations = GaugeMetricFamily(
            "ofbot_open_escalations", "Staff requests not closed, by status", labels=["status"]
        )
        for status in ("open", "taken"):
            escalations.add_metric([status], s["escalations"].get(status, 0))
        yield escalations
        reminders = CounterMetricFamily(
            "ofbot_reminders",
            "Renewal reminders by outcome (sent, failed, blocked, unknown, pending), all runs",
            labels=["outcome"],
        )
        for outcome in ("sent", "failed", "blocked", "unknown", "pending"):
            reminders.add_metric([outcome], s["reminders"].get(outcome, 0))
        yield reminders
        events = CounterMetricFamily(
            "ofbot_stripe_events",
            "Stripe events stored, by type and outcome of their processing (pending: not yet)",
            labels=["type", "outcome"],
        )
        for (kind, outcome), count in sorted(s["stripe_events"].items()):
            events.add_metric([kind, outcome], count)
        yield events


class _Uncounted:
    """A counter or histogram of a bot whose metrics nobody can read (`Metrics(enabled=False)`):
    the same calls as prometheus_client's (`labels(...).inc()`, `labels(...).time()`), no count."""

    def labels(self, *values, **labels) -> _Uncounted:
        return self

    def inc(self, amount: float = 1) -> None:
        return None

    def time(self) -> contextlib.nullcontext:
        return contextlib.nullcontext()


class Metrics:
    """What `GET /metrics` reports. Services reach it as `services.metrics`.

    `enabled=False` (the running bot without OFBOT_METRICS_TOKEN, which serves no /metrics):
    every counter is `_Uncounted` and `render()` is never called."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        if not enabled:
            uncounted = _Uncounted()
            self.updates = self.latency = self.errors = uncounted
            self.bot_api = self.bot_api_429 = self.stripe_webhooks = uncounted
            self.mails = self.clubs_imports = uncounted
            return
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.updates = Counter("ofbot_updates", "Updates handled, by kind", ["kind"], registry=r)
        self.latency = Histogram(
            "ofbot_handler_seconds",
            "Time to handle one update, by kind",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "ofbot_errors", "Errors, by where they happened", ["where"], registry=r
        )
        self.bot_api = Counter(
            "ofbot_bot_api_requests",
            "Bot API requests, by method and HTTP status",
            ["method", "status"],
            registry=r,
        )
        self.bot_api_429 = Counter(
            "ofbot_bot_api_rate_limited",
            "Bot API answers 429 Too Many Requests (flood control), by method",
            ["method"],
            registry=r,
        )
        self.stripe_webhooks = Counter(
            "ofbot_stripe_webhooks",
            "Calls to /stripe/webhook: accepted, duplicate (already processed), refused",
            ["result"],
            registry=r,
        )
        self.mails = Counter(
            "ofbot_mails", "E-mails handed to the SMTP relay, by outcome", ["outcome"], registry=r
        )
        self.clubs_imports = Counter(
            "ofbot_clubs_imports",
            "Club record imports (OFBOT_CLUBS_SOURCE, POST /admin/clubs), by origin and outcome",
            ["origin", "outcome"],
            registry=r,
        )
        for outcome in ("sent", "failed"):
            self.mails.labels(outcome=outcome)
        self._figures = _DatabaseFigures()
        r.register(self._figures)

    def observe_bot_api(self, api_method: str, status: int) -> None:
        self.bot_api.labels(method=api_method, status=str(status)).inc()
        if status == 429:
            self.bot_api_429.labels(method=api_method).inc()

    async def render(self, db) -> tuple[bytes, str]:
        """The text exposition, with the database figures read now, and its content type (the
        format version generate_latest writes)."""
        from prometheus_client import generate_latest
        from prometheus_client.exposition import CONTENT_TYPE_LATEST

        await self._figures.refresh(db)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
