"""`ofbot doctor`'s Stripe check: the secret key (test or live, refused or not) and the webhook
endpoint (its URL and the events the bot acts on), called with the official client."""

from __future__ import annotations

from bot.doctor.checks import ERROR, OK, TIMEOUT, WARNING, Check
from bot.payments.events import STRIPE_EVENTS as EVENT_TABLE
from bot.payments.stripe_api import STRIPE_API_VERSION

# The Stripe events the bot acts on (its event table): the endpoint must send them all.
STRIPE_EVENTS = tuple(EVENT_TABLE)


class StripeAnswer(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StripeChecks:
    """The Stripe check of `Doctor` (bot/doctor/__init__.py): it uses its `settings`."""

    async def _stripe(self, call: str) -> dict:
        """One Stripe call with the official client (as the bot makes them); StripeAnswer for an
        error Stripe answered, httpx-free APIConnectionError when it cannot be reached."""
        import stripe  # a missing library is the "libraries" check's error, not a traceback

        s = self.settings
        http = stripe.HTTPXClient(timeout=TIMEOUT)
        client = stripe.StripeClient(
            s.stripe_secret_key, base_addresses={"api": s.stripe_api_url}, http_client=http
        )
        try:
            if call == "balance":
                result = await client.v1.balance.retrieve_async()
            elif call == "events":
                result = await client.v1.events.list_async({"limit": 1})
            else:
                result = await client.v1.webhook_endpoints.list_async({"limit": 100})
        except stripe.APIConnectionError:
            raise
        except stripe.StripeError as exc:
            raise StripeAnswer(exc.http_status or 0, exc.user_message or str(exc)) from None
        finally:
            await http.close_async()
        return result.to_dict()

    async def check_stripe(self) -> list[Check]:
        s = self.settings
        key = s.stripe_secret_key
        if not key:
            return [
                Check(
                    "stripe",
                    WARNING,
                    "OFBOT_STRIPE_SECRET_KEY is not set: no card payments",
                    "set the secret key from the Stripe dashboard (docs/PAYMENTS.md)",
                )
            ]
        import stripe

        mode = "live" if "_live_" in key else "test" if "_test_" in key else "unknown"
        try:
            balance = await self._stripe("balance")
        except StripeAnswer as exc:
            if exc.code == 401:
                return [
                    Check(
                        "stripe key",
                        ERROR,
                        f"Stripe refuses the key: {exc.message}",
                        "copy the secret key again from the Stripe dashboard",
                    )
                ]
            return [Check("stripe key", ERROR, f"GET /v1/balance: {exc.code} {exc.message}")]
        except stripe.APIConnectionError as exc:
            return [
                Check(
                    "stripe key",
                    ERROR,
                    f"Stripe at {s.stripe_api_url} cannot be reached ({type(exc).__name__})",
                )
            ]
        live = bool(balance.get("livemode"))
        checks = [
            Check(
                "stripe key",
                OK if live else WARNING,
                f"valid, {'live' if live else 'test'} mode ({mode} key)",
                "" if live else "test mode takes no real money: use the live key to go live",
            )
        ]
        if not s.stripe_webhook_secret:
            checks.append(
                Check(
                    "stripe webhook secret",
                    ERROR,
                    "OFBOT_STRIPE_WEBHOOK_SECRET is not set: every event is refused",
                    "copy the endpoint's signing secret (whsec_…)",
                )
            )
        if not s.public_url:
            checks.append(
                Check(
                    "stripe endpoint",
                    ERROR,
                    "OFBOT_PUBLIC_URL is not set: Stripe cannot reach the bot",
                    "set OFBOT_PUBLIC_URL and register <OFBOT_PUBLIC_URL>/stripe/webhook at Stripe",
                )
            )
            return checks
        expected = f"{s.public_url}/stripe/webhook"
        try:
            listed = await self._stripe("webhook_endpoints")
        except StripeAnswer as exc:
            checks.append(
                Check(
                    "stripe endpoint",
                    WARNING if exc.code == 403 else ERROR,
                    f"GET /v1/webhook_endpoints: {exc.code} {exc.message}",
                    "a restricted key needs “Webhook Endpoints: read”",
                )
            )
            return checks
        endpoints = [e for e in listed.get("data", []) if e.get("url") == expected]
        if not endpoints:
            checks.append(
                Check(
                    "stripe endpoint",
                    ERROR,
                    f"no endpoint registered for {expected}",
                    f"Stripe dashboard → Developers → Webhooks → add {expected} with {', '.join(STRIPE_EVENTS)}",
                )
            )
            return checks
        enabled = [e for e in endpoints if e.get("status") == "enabled"]
        if not enabled:
            checks.append(
                Check(
                    "stripe endpoint",
                    ERROR,
                    f"{expected} is registered but disabled",
                    "enable it in the Stripe dashboard",
                )
            )
            return checks
        endpoint = enabled[0]
        events = set(endpoint.get("enabled_events") or [])
        missing = [e for e in STRIPE_EVENTS if "*" not in events and e not in events]
        if missing:
            checks.append(
                Check(
                    "stripe endpoint",
                    ERROR,
                    f"{expected} does not send {', '.join(missing)}",
                    "add these events to the endpoint in the Stripe dashboard",
                )
            )
        elif bool(endpoint.get("livemode")) != live:
            checks.append(
                Check(
                    "stripe endpoint",
                    ERROR,
                    f"{expected} is a {'live' if endpoint.get('livemode') else 'test'}-mode endpoint, the key is not",
                    "register the endpoint in the key's mode",
                )
            )
        else:
            checks.append(
                Check(
                    "stripe endpoint",
                    OK,
                    f"{expected} enabled with the {len(STRIPE_EVENTS)} events the bot needs",
                )
            )
        checks.append(await self._events_version(endpoint))
        return checks

    async def _events_version(self, endpoint: dict) -> Check:
        """Events are rendered in the endpoint's `api_version`, else in the account's default
        version (Stripe API reference, Webhook Endpoints `api_version`); the code reads
        STRIPE_API_VERSION. The account's default is seen on its latest event."""
        import stripe

        name, wanted = "stripe events version", STRIPE_API_VERSION
        version = endpoint.get("api_version")
        if version and version != wanted:
            return Check(
                name,
                ERROR,
                f"the endpoint renders events in {version}; the bot reads {wanted}",
                f"register the endpoint with API version {wanted} (docs/PAYMENTS.md)",
            )
        if version:
            return Check(name, OK, f"events rendered in {version}, the version the bot reads")
        try:
            latest = (await self._stripe("events")).get("data") or []
        except (StripeAnswer, stripe.APIConnectionError) as exc:
            return Check(
                name,
                WARNING,
                f"the endpoint has no API version and GET /v1/events failed ({exc})",
                f"register the endpoint with API version {wanted}",
            )
        default = latest[0].get("api_version") if latest else None
        if default and default != wanted:
            return Check(
                name,
                WARNING,
                f"the endpoint has no API version: events follow the account's default, "
                f"{default}; the bot reads {wanted} (it reads each session again through the API)",
                f"register the endpoint with API version {wanted}",
            )
        seen = f" ({default})" if default else ""
        return Check(name, OK, f"events follow the account's default version{seen}")
