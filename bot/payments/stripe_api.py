"""The Stripe client the bot uses (the official library on its async HTTPX transport), and the
plain-dict view of what it returns."""

from __future__ import annotations

from typing import Any

import stripe

STRIPE_TIMEOUT = 20.0
# The API version every request names (`Stripe-Version`): responses and events keep the shape
# this code reads whatever the account's default or the library's. The webhook endpoint is
# created with the same version (docs/PAYMENTS.md). Move it with the `stripe` package's own.
STRIPE_API_VERSION = "2026-10-28.endive"


def make_stripe_client(settings) -> tuple[stripe.StripeClient, stripe.HTTPXClient]:
    """The official client on its async HTTPX transport; retries reuse the idempotency key."""
    http = stripe.HTTPXClient(timeout=STRIPE_TIMEOUT)
    client = stripe.StripeClient(
        settings.stripe_secret_key,
        base_addresses={"api": settings.stripe_api_url},
        http_client=http,
        max_network_retries=2,
        stripe_version=STRIPE_API_VERSION,
    )
    return client, http


def as_dict(obj: Any) -> dict:
    """A StripeObject (or a dict) as a plain dict."""
    if isinstance(obj, dict):
        return obj
    return obj.to_dict()
