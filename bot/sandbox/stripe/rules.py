"""Stripe's rules the fake enforces: limits, accepted parameters, currencies, locales, expansions.

Values come from Stripe's API reference (Checkout Sessions, metadata, idempotency) and stripe-python's pinned version."""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# What stripe-python 16 pins; the account's default version unless FakeStripe(api_version=...):
# events are rendered in it (or in their webhook endpoint's own version), whatever the requests name.
DEFAULT_API_VERSION = "2026-10-28.endive"


MIN_EXPIRY = 30 * 60


MAX_EXPIRY = 24 * 60 * 60


IDEMPOTENCY_TTL = 24 * 60 * 60


MAX_IDEMPOTENCY_KEY = 255


MAX_METADATA_KEYS = 50


MAX_METADATA_KEY = 40


MAX_METADATA_VALUE = 500


MAX_CLIENT_REFERENCE = 200


MAX_AMOUNT = 99_999_999


MIN_CHARGE = 50  # €0.50, Stripe's minimum charge for EUR/USD


ZERO_DECIMAL = _words("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf")


LOCALES = _words(
    "auto bg cs da de el en en-GB es es-419 et fi fil fr fr-CA hi-IN hr hu id it ja ko lt lv "
    "ms mt nb nl pl pt pt-BR ro ru sk sl sv th tr vi zh zh-HK zh-TW"
)


PAYMENT_METHOD_TYPES = frozenset({"card", "link", "sepa_debit", "bancontact", "ideal", "paypal"})


TELEGRAM_HOSTS = frozenset({"t.me", "www.t.me", "telegram.me", "www.telegram.me", "telegram.dog"})


# The parameters Stripe accepts (stripe-python 16's SessionCreateParams, plus the older
# `payment_method_types`); anything else is refused as Stripe refuses it.
CREATE_PARAMS = _words(
    "adaptive_pricing after_expiration allow_promotion_codes allowed_payment_method_types "
    "automatic_tax billing_address_collection branding_settings cancel_url "
    "client_reference_id consent_collection currency custom_fields custom_text customer "
    "customer_account customer_creation customer_email customer_update discounts "
    "excluded_payment_method_types expand expires_at integration_identifier invoice_creation "
    "line_items locale managed_payments metadata mode name_collection optional_items "
    "origin_context payment_intent_data payment_method_collection "
    "payment_method_configuration payment_method_data payment_method_options "
    "payment_method_types permissions phone_number_collection redirect_on_completion "
    "return_url saved_payment_method_options setup_intent_data shipping_address_collection "
    "shipping_options submit_type subscription_data success_url tax_id_collection ui_mode "
    "wallet_options"
)


LINE_ITEM_PARAMS = frozenset(
    {"adjustable_quantity", "dynamic_tax_rates", "metadata", "price", "price_data", "quantity"}
    | {"tax_rates"}
)


PRICE_DATA_PARAMS = frozenset(
    {"currency", "product", "product_data", "recurring", "tax_behavior", "unit_amount"}
    | {"unit_amount_decimal"}
)


PRODUCT_DATA_PARAMS = frozenset(
    {"description", "images", "metadata", "name", "tax_code", "unit_label", "tax_details"}
)


LIST_SESSION_PARAMS = _words(
    "created customer customer_account customer_details ending_before expand limit "
    "payment_intent payment_link starting_after status subscription"
)


LIST_EVENT_PARAMS = _words(
    "created delivery_success ending_before expand limit starting_after type types"
)


UPDATE_PARAMS = frozenset({"collected_information", "expand", "metadata", "shipping_options"})


# Expanding these on a session is allowed; the ones we never fill stay null.
SESSION_EXPANSIONS = frozenset(
    {"line_items", "payment_intent", "customer", "invoice", "payment_link", "setup_intent"}
    | {"subscription"}
)


def format_amount(amount: int, currency: str) -> str:
    """Integer minor units as a person reads them: 123456 EUR -> '1 234,56 €'."""
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        text = f"{amount:,}".replace(",", " ")
    else:
        units, cents = divmod(amount, 100)
        text = f"{units:,}".replace(",", " ") + f",{cents:02d}"
    symbol = {"eur": "€", "usd": "$", "gbp": "£"}.get(currency, currency.upper())
    return f"{text} {symbol}"
