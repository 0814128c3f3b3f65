"""The Stripe client the bot uses (the official library on its async HTTPX transport), and the
plain-dict view of what it returns.

`stripe` (with `requests` and `urllib3`, ~30 ms of CPU) is imported on first use, never at
start-up: the first update handled does not need it. The client is built on first use too
(`StripeConnection`), and each function that catches Stripe's errors imports `stripe` itself.
That it is installed is checked at start-up without importing it (`bot/lazy_imports.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import stripe

STRIPE_TIMEOUT = 20.0
# The API version every request names (`Stripe-Version`): responses and events keep the shape
# this code reads whatever the account's default or the library's. The webhook endpoint is
# created with the same version (docs/PAYMENTS.md). Move it with the `stripe` package's own.
STRIPE_API_VERSION = "2026-10-28.endive"


class StripeConnection:
    """The official `stripe.StripeClient` on its async HTTPX transport (retries reuse the
    idempotency key), built on first use of `v1`; `close_async()` closes the transport if it
    was ever built."""

    def __init__(self, settings) -> None:
        self._settings = settings
        self._client: stripe.StripeClient | None = None
        self._http: stripe.HTTPXClient | None = None

    @property
    def client(self) -> stripe.StripeClient:
        if self._client is None:
            import stripe

            settings = self._settings
            self._http = stripe.HTTPXClient(timeout=STRIPE_TIMEOUT)
            self._client = stripe.StripeClient(
                settings.stripe_secret_key,
                base_addresses={"api": settings.stripe_api_url},
                http_client=self._http,
                max_network_retries=2,
                stripe_version=STRIPE_API_VERSION,
            )
        return self._client

    @property
    def v1(self):
        """`stripe.StripeClient.v1`: the API's services (`v1.checkout.sessions`, `v1.refunds`)."""
        return self.client.v1

    async def close_async(self) -> None:
        if self._http is not None:
            await self._http.close_async()


def make_stripe_client(settings) -> tuple[StripeConnection, StripeConnection]:
    """The client (built on first use) and what to `close_async()` at shutdown: the same
    object, a pair for the callers that close the transport apart."""
    connection = StripeConnection(settings)
    return connection, connection


def as_dict(obj: Any) -> dict:
    """A StripeObject (or a dict) as a plain dict."""
    if isinstance(obj, dict):
        return obj
    return obj.to_dict()


def outcome_unknown(exc: BaseException) -> bool:
    """Whether a write Stripe answered with `exc` may have been carried out all the same: no
    answer (a timeout, a dropped connection), a 5xx (kept for its idempotency key whether the
    work was done or not: docs.stripe.com/idempotency) or a 409 (a request with the key is still
    being carried out). Then the only way to know is to look the object up."""
    import stripe  # on first use

    if isinstance(exc, (TimeoutError, stripe.APIConnectionError)):
        return True
    status = getattr(exc, "http_status", None)
    return status is not None and (status >= 500 or status == 409)


def not_found(exc: BaseException) -> bool:
    """Stripe answered 404 (`resource_missing`): no such object for this account and mode (keys
    switched from test to live or to another account, a database restored elsewhere, the
    sandbox's Stripe restarted while its database was kept). Not a passing failure: asking again
    gets the same answer."""
    return getattr(exc, "http_status", None) == 404


class LookupFailed(Exception):
    """Stripe could not be asked whether a write was carried out (a session created, a refund
    made): nothing may be sent on the guess."""
