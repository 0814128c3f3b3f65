"""Stripe's test cards: which numbers pay, which are declined (and why), and the checks of a card form.

The codes and messages are those of Stripe's testing documentation."""

from __future__ import annotations

import dataclasses
import datetime
import re

SUCCESS_CARDS = frozenset(
    {
        "4242424242424242",  # Visa
        "4000056655665556",  # Visa (debit)
        "5555555555554444",  # Mastercard
        "2223003122003222",  # Mastercard (2-series)
        "5200828282828210",  # Mastercard (debit)
        "378282246310005",  # American Express
        "4000002500000003",  # Cartes Bancaires / Visa
    }
)


# card number -> (code, decline_code, message): Stripe's test cards and its texts.
DECLINED_CARDS = {
    "4000000000000002": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "4000000000009987": ("card_declined", "lost_card", "Your card was declined."),
    "4000000000009979": ("card_declined", "stolen_card", "Your card was declined."),
    "4000000000000069": ("expired_card", None, "Your card has expired."),
    "4000000000000127": ("incorrect_cvc", None, "Your card's security code is incorrect."),
    "4000000000000119": (
        "processing_error",
        None,
        "An error occurred while processing your card. Try again in a little bit.",
    ),
}


LIVE_CARD_MESSAGE = (
    "Your card was declined. Your request was in test mode, but used a non test (live) card. "
    "For a list of valid test cards, visit: https://stripe.com/docs/testing."
)


def luhn_ok(number: str) -> bool:
    total = 0
    for i, digit in enumerate(reversed(number)):
        d = int(digit)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclasses.dataclass
class PaymentOutcome:
    """What the checkout page (or `pay`) made of a card: paid, or why not."""

    ok: bool
    message: str | None = None
    code: str | None = None
    decline_code: str | None = None
    status: int = 200


class CardsMixin:
    """Paying a session with a card, as the checkout page or a test does."""

    async def pay(
        self,
        session_id: str,
        card: str = "4242424242424242",
        *,
        exp: str | None = None,
        cvc: str | None = None,
        name: str | None = "Sandbox Customer",
        email: str | None = None,
    ) -> bool:
        """Pay as the checkout page would; True when the session is now complete."""
        self._ensure_background()
        return self.attempt_payment(session_id, card, exp=exp, cvc=cvc, name=name, email=email).ok

    def attempt_payment(
        self,
        session_id: str,
        card: str,
        *,
        exp: str | None = None,
        cvc: str | None = None,
        name: str | None = None,
        email: str | None = None,
    ) -> PaymentOutcome:
        """The card checks of Stripe's test mode. `exp`/`cvc` are checked when given."""
        self.expire_due()
        session = self.sessions.get(session_id)
        if session is None:
            return PaymentOutcome(
                False, "This Checkout Session does not exist.", "not_found", None, 404
            )
        if session["status"] != "open":
            return PaymentOutcome(
                False, "This Checkout Session is no longer active.", "session_closed", None, 409
            )
        outcome = self._check_card(card, exp, cvc)
        self.payment_attempts.append(
            {
                "session_id": session_id,
                "last4": re.sub(r"\D", "", card)[-4:],
                "ok": outcome.ok,
                "code": outcome.code,
                "decline_code": outcome.decline_code,
                "at": int(self.now()),
            }
        )
        if outcome.ok:
            self._complete(session, name=name, email=email)
        return outcome

    def _check_card(self, card: str, exp: str | None, cvc: str | None) -> PaymentOutcome:
        number = re.sub(r"[\s-]", "", card or "")
        if not number:
            return PaymentOutcome(
                False, "Your card number is incomplete.", "incomplete_number", None, 400
            )
        if not number.isdigit() or not 13 <= len(number) <= 19 or not luhn_ok(number):
            return PaymentOutcome(
                False, "Your card number is invalid.", "incorrect_number", None, 400
            )
        if exp is not None:
            found = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*", exp)
            if not found or not 1 <= int(found.group(1)) <= 12:
                return PaymentOutcome(
                    False, "Your card's expiration date is incomplete.", "invalid_expiry", None, 400
                )
            month, year = int(found.group(1)), int(found.group(2))
            year = year + 2000 if year < 100 else year
            today = datetime.datetime.fromtimestamp(self.now(), datetime.UTC)
            if (year, month) < (today.year, today.month):
                return PaymentOutcome(
                    False,
                    "Your card's expiration year is in the past.",
                    "invalid_expiry",
                    None,
                    400,
                )
        if cvc is not None and not re.fullmatch(r"\d{3,4}", cvc.strip()):
            return PaymentOutcome(
                False, "Your card's security code is incomplete.", "incomplete_cvc", None, 400
            )
        if number in DECLINED_CARDS:
            code, decline_code, message = DECLINED_CARDS[number]
            return PaymentOutcome(False, message, code, decline_code, 402)
        if number not in SUCCESS_CARDS:
            return PaymentOutcome(
                False, LIVE_CARD_MESSAGE, "card_declined", "live_mode_test_card", 402
            )
        return PaymentOutcome(True)
