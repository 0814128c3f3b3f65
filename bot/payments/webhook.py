"""Stripe webhook intake: verify the signature, store the event once (by its id), and hand back
the update to queue; the HTTP endpoint (bot/http.py) answers 2xx only once it is stored."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.services import Services
from storage import payments as payment_rows


@dataclass(frozen=True)
class StripeEventUpdate:
    """A stored Stripe event to process; events about one invoice are handled one at a time."""

    event_id: str
    invoice_number: str | None = None

    @property
    def lock_key(self) -> tuple:
        if self.invoice_number:
            return ("invoice", self.invoice_number)
        return ("stripe", self.event_id)


def invoice_number_of(event: dict) -> str | None:
    obj = (event.get("data") or {}).get("object") or {}
    if not isinstance(obj, dict):
        return None
    return (obj.get("metadata") or {}).get("invoice") or obj.get("client_reference_id")


class WebhookRefused(Exception):
    """The request is not a genuine Stripe event; str() says why (never the secret)."""


async def receive_webhook(
    services: Services, payload: bytes, signature: str | None
) -> StripeEventUpdate | None:
    """Verify, store (deduplicated by event id); the update to queue, or None when the event was
    processed already. Raises WebhookRefused for a missing or bad signature or body."""
    secret = services.settings.stripe_webhook_secret
    if not secret:
        raise WebhookRefused("no webhook secret configured")
    if not signature:
        raise WebhookRefused("missing Stripe-Signature")
    import stripe  # on first use (bot/payments/stripe_api.py)

    try:
        stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature, secret, 300)
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
        raise WebhookRefused("bad signature") from exc
    try:
        event = json.loads(payload)
        event_id, event_type = str(event["id"]), str(event["type"])
    except (ValueError, KeyError, TypeError) as exc:
        raise WebhookRefused("not an event") from exc
    await payment_rows.store_event(services.db, event_id, event_type, payload.decode("utf-8"))
    row = await payment_rows.get_event(services.db, event_id)
    if row["processed_at"]:
        return None
    return StripeEventUpdate(event_id, invoice_number_of(event))
