"""Money that moves later or goes back: delayed payment methods (SEPA Direct Debit) and refunds,
and the `Stripe-Version` a request may name.

Delayed methods (Stripe, "Place a hold / delayed notification payment methods"; Checkout
fulfillment guide): the session completes with `payment_status: "unpaid"` and its PaymentIntent
`processing`; days later `checkout.session.async_payment_succeeded` (payment_status "paid") or
`checkout.session.async_payment_failed` (the session stays complete and unpaid) follows. Test
IBANs as Stripe documents them: DE89370400440532013000 succeeds, DE62370400440532013001 fails.
Refunds (`POST /v1/refunds`): on a succeeded PaymentIntent, at most what is left of it; honoured
once per Idempotency-Key by the API layer."""

from __future__ import annotations

import copy
import re

from bot.sandbox.stripe.errors import StripeError, invalid, missing, no_such
from bot.sandbox.stripe.model import _Ctx
from bot.sandbox.stripe.params import (
    _check_known,
    _created_filter,
    _integer,
    _metadata,
    _optional,
    _string,
)
from bot.sandbox.stripe.signing import new_id

# How long a debit takes to settle, on the fake's clock (SEPA: typically up to 14 days; Stripe
# test mode settles in about 3 minutes; the sandbox's `:date` moves past it).
DEBIT_DELAY = 3 * 24 * 3600
DEBIT_SUCCEEDS = "DE89370400440532013000"
DEBIT_FAILS = "DE62370400440532013001"
DEBIT_IBANS = {DEBIT_SUCCEEDS: True, DEBIT_FAILS: False}
LIST_REFUND_PARAMS = frozenset(
    {"charge", "created", "ending_before", "expand", "limit", "payment_intent"} | {"starting_after"}
)
REFUND_PARAMS = frozenset(
    {"payment_intent", "charge", "amount", "reason", "metadata", "expand", "instructions_email"}
)
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
# API versions look like 2026-10-28.endive (or, before 2024, a bare date).
VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:\.[a-z]+)?$")


class MoneyMixin:
    """Debits that settle later, refunds, and the API version check."""

    # -- Stripe-Version ------------------------------------------------------------------------

    def _check_version(self, header: str | None) -> None:
        """A malformed version is refused, as Stripe does; with `require_version` set (the
        account's pinned version, stricter than Stripe, which falls back to the account's
        default), a request naming no version or another one is refused too."""
        if header is not None and not VERSION_RE.fullmatch(header.strip()):
            raise StripeError(400, f"Invalid Stripe API version: {header}")
        wanted = getattr(self, "require_version", None)
        if wanted and header != wanted:
            raise StripeError(
                400,
                f"This sandbox account requires the Stripe-Version header {wanted!r} on every "
                f"request (got {header!r}).",
            )

    # -- delayed payments ----------------------------------------------------------------------

    def pay_by_debit(
        self, session_id: str, iban: str, *, name: str | None = "Sandbox Customer"
    ) -> bool:
        """Complete a session with a SEPA Direct Debit mandate, as the checkout page does: the
        session is complete and unpaid until `settle_debits` (or the clock) settles it. True
        when the mandate was taken."""
        self.expire_due()
        session = self.sessions.get(session_id)
        iban = re.sub(r"\s", "", iban or "").upper()
        if session is None or session["status"] != "open" or iban not in DEBIT_IBANS:
            return False
        if not self._accepts_debit(session):
            return False
        self._complete(session, name=name, email=None)
        intent = self.payment_intents[session["payment_intent"]]
        intent.update(status="processing", amount_received=0, payment_method_types=["sepa_debit"])
        session["payment_status"] = "unpaid"
        session["_debit"] = {
            "succeeds": DEBIT_IBANS[iban],
            "settles_at": int(self.now()) + DEBIT_DELAY,
        }
        # _complete emitted checkout.session.completed with "paid": say "unpaid" as Stripe does.
        event = self.events[-1]
        event["data"]["object"]["payment_status"] = "unpaid"
        return True

    def _accepts_debit(self, session: dict) -> bool:
        """SEPA debits are in euros; allowed when the session names sepa_debit, or names no
        method and the account has debits on (`debit_enabled`, on by default)."""
        if session.get("currency") != "eur":
            return False
        if "sepa_debit" in (session.get("payment_method_types") or []):
            return True
        return not session.get("_methods_given") and getattr(self, "debit_enabled", True)

    def settle_debits(self, session_id: str | None = None) -> int:
        """Settle the debits due on the fake's clock (or `session_id`'s now); returns how many."""
        now = int(self.now())
        settled = 0
        for session in self.sessions.values():
            debit = session.get("_debit")
            if not debit or debit.get("settled"):
                continue
            if session_id is not None and session["id"] != session_id:
                continue
            if session_id is None and debit["settles_at"] > now:
                continue
            debit["settled"] = True
            intent = self.payment_intents[session["payment_intent"]]
            if debit["succeeds"]:
                intent.update(status="succeeded", amount_received=intent["amount"])
                session["payment_status"] = "paid"
                self._emit("checkout.session.async_payment_succeeded", session, None)
            else:
                intent.update(status="requires_payment_method", amount_received=0)
                self._emit("checkout.session.async_payment_failed", session, None)
            settled += 1
        return settled

    # -- refunds -------------------------------------------------------------------------------

    def _api_create_refund(self, params: dict, ctx: _Ctx) -> dict:
        _check_known(params, REFUND_PARAMS)
        intent_id = _optional(params, "payment_intent")
        charge_id = _optional(params, "charge")
        if intent_id is None and charge_id is None:
            raise missing("payment_intent")
        intent = None
        if intent_id is not None:
            intent = self.payment_intents.get(_string(intent_id, "payment_intent"))
            if intent is None:
                raise no_such("payment_intent", str(intent_id), "payment_intent")
        else:
            charge_id = _string(charge_id, "charge")
            intent = next(
                (i for i in self.payment_intents.values() if i.get("latest_charge") == charge_id),
                None,
            )
            if intent is None:
                raise no_such("charge", charge_id, "charge")
        if intent["status"] != "succeeded":
            raise invalid(
                "payment_intent",
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                "charge_not_refundable",
            )
        refunded = sum(
            r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent["id"]
        )
        left = intent["amount_received"] - refunded
        amount = _optional(params, "amount")
        amount = left if amount is None else _integer(amount, "amount", minimum=1)
        if left <= 0:
            raise invalid(
                "charge",
                f"Charge {intent['latest_charge']} has already been refunded.",
                "charge_already_refunded",
            )
        if amount > left:
            raise invalid(
                "amount",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                "amount_too_large",
            )
        reason = _optional(params, "reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise invalid("reason", f"Invalid reason: must be one of {', '.join(REFUND_REASONS)}")
        card = "card" in intent.get("payment_method_types", ["card"])
        refund = {
            "id": new_id("re_"),
            "object": "refund",
            "amount": amount,
            "charge": intent["latest_charge"],
            "created": int(self.now()),
            "currency": intent["currency"],
            "metadata": _metadata(params.get("metadata"), "metadata"),
            "payment_intent": intent["id"],
            "reason": reason,
            "status": "succeeded" if card else "pending",
        }
        self.refunds[refund["id"]] = refund
        return copy.deepcopy(refund)

    def _api_list_refunds(self, params: dict, ctx: _Ctx) -> dict:
        """`GET /v1/refunds` (Stripe API reference, "List all refunds"): newest first, filtered by
        `payment_intent` or `charge`, with `created` and the list pagination."""
        _check_known(params, LIST_REFUND_PARAMS)
        refunds = list(reversed(self.refunds.values()))
        if _optional(params, "payment_intent") is not None:
            intent = _string(params["payment_intent"], "payment_intent")
            refunds = [r for r in refunds if r["payment_intent"] == intent]
        if _optional(params, "charge") is not None:
            charge = _string(params["charge"], "charge")
            refunds = [r for r in refunds if r["charge"] == charge]
        refunds = _created_filter(refunds, params.get("created"))
        page = self._page(refunds, params, "/v1/refunds", "refund")
        page["data"] = [copy.deepcopy(r) for r in page["data"]]
        return page

    def _api_retrieve_refund(self, params: dict, ctx: _Ctx, id: str) -> dict:
        _check_known(params, frozenset({"expand"}))
        refund = self.refunds.get(id)
        if refund is None:
            raise no_such("refund", id, "id")
        return copy.deepcopy(refund)
