"""Payments: the ledger (`record_payment`, the one way an invoice becomes paid), card links through
Stripe Checkout, Stripe events from webhook to receipt, reconciliation, and what each tells people.

    checkout.py       a card link per open invoice (Checkout Session), reused or created once
    webhook.py        the Stripe endpoint's intake: verify, store once, queue
    events.py         the table of Stripe events listened to, and `process_event`
    sessions.py       settling a Checkout Session as Stripe reports it
    ledger.py         `record_payment`
    on_paid.py        what paying each kind of invoice does (the table)
    notifications.py  receipts, staff lines, alerts
    reconcile.py      asking Stripe again; the start-up replay and the periodic job
    keys.py           which invoice a session provably belongs to (a random key per invoice)
    closing.py        expiring sessions that must take no more money
    refunds.py        refunding money received beyond an invoice, once
    stripe_api.py     the Stripe client
`ofbot payments reconcile` is in bot/commands/payments.py."""

from bot.payments.checkout import (
    CHECKOUT_TTL,
    LINK_MARGIN,
    LINK_WAIT,
    CardLink,
    PaymentUnavailable,
    card_link,
)
from bot.payments.closing import expire_links
from bot.payments.events import STRIPE_EVENTS, process_event
from bot.payments.ledger import METHODS, PaymentResult, record_payment
from bot.payments.notifications import (
    announce_sent_by_hand,
    announced_payment,
    notify_paid,
    staff_alert,
    tell_payment_failed,
    tell_staff_replaced,
)
from bot.payments.on_paid import ON_PAID, PaidHooks
from bot.payments.reconcile import (
    RECONCILE_FIRST,
    RECONCILE_INTERVAL,
    ReconcileSummary,
    reconcile,
    reconcile_job,
    replay_on_startup,
)
from bot.payments.refunds import RefundResult, refund_overpayment
from bot.payments.sessions import settle_session
from bot.payments.stripe_api import make_stripe_client
from bot.payments.webhook import StripeEventUpdate, WebhookRefused, receive_webhook

__all__ = [
    "CHECKOUT_TTL",
    "LINK_MARGIN",
    "LINK_WAIT",
    "METHODS",
    "ON_PAID",
    "RECONCILE_FIRST",
    "RECONCILE_INTERVAL",
    "STRIPE_EVENTS",
    "CardLink",
    "PaidHooks",
    "PaymentResult",
    "PaymentUnavailable",
    "ReconcileSummary",
    "RefundResult",
    "StripeEventUpdate",
    "WebhookRefused",
    "announce_sent_by_hand",
    "announced_payment",
    "card_link",
    "expire_links",
    "make_stripe_client",
    "notify_paid",
    "process_event",
    "receive_webhook",
    "reconcile",
    "reconcile_job",
    "record_payment",
    "refund_overpayment",
    "replay_on_startup",
    "settle_session",
    "staff_alert",
    "tell_payment_failed",
    "tell_staff_replaced",
]
