"""A fake Stripe API for the sandbox and the tests (SPEC §7): Checkout Sessions, events, signed webhooks.

The official `stripe` client talks to it over loopback; a local checkout page stands in for Stripe's.
One module per concern: `rules`, `errors`, `params` (form decoding), `signing`, `cards`, `faults`,
`model` (objects and events), `api` (keys, routing, idempotency), `sessions`, `events`, `webhooks`,
`checkout` (the page), `account` (balance, webhook endpoints), `control` (`/sandbox/...`),
`server`; `fake` assembles them into `FakeStripe`."""

from bot.sandbox.stripe.cards import DECLINED_CARDS, SUCCESS_CARDS, PaymentOutcome, luhn_ok
from bot.sandbox.stripe.errors import StripeError, invalid, missing, no_such
from bot.sandbox.stripe.fake import FakeStripe
from bot.sandbox.stripe.params import decode_params
from bot.sandbox.stripe.rules import DEFAULT_API_VERSION, format_amount
from bot.sandbox.stripe.server import FakeStripeServer, start_fake_stripe
from bot.sandbox.stripe.signing import forged_signature, new_id, sign_payload

__all__ = [
    "DECLINED_CARDS",
    "DEFAULT_API_VERSION",
    "SUCCESS_CARDS",
    "FakeStripe",
    "FakeStripeServer",
    "PaymentOutcome",
    "StripeError",
    "decode_params",
    "forged_signature",
    "format_amount",
    "invalid",
    "luhn_ok",
    "missing",
    "new_id",
    "no_such",
    "sign_payload",
    "start_fake_stripe",
]
