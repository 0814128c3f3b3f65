"""Checkout Sessions' API: create (with every check Stripe makes), retrieve, update, expire, list, line items.

Also the Payment Intent a completed session names."""

from __future__ import annotations

import copy
import decimal
import re
from typing import Any

from bot.sandbox.stripe.errors import StripeError, invalid, missing, no_such
from bot.sandbox.stripe.model import _Ctx, _public
from bot.sandbox.stripe.params import (
    _array,
    _check_known,
    _created_filter,
    _hash,
    _integer,
    _metadata,
    _optional,
    _string,
    _url,
)
from bot.sandbox.stripe.rules import (
    CREATE_PARAMS,
    LINE_ITEM_PARAMS,
    LIST_SESSION_PARAMS,
    LOCALES,
    MAX_AMOUNT,
    MAX_CLIENT_REFERENCE,
    MAX_EXPIRY,
    MIN_CHARGE,
    MIN_EXPIRY,
    PAYMENT_METHOD_TYPES,
    PRICE_DATA_PARAMS,
    PRODUCT_DATA_PARAMS,
    SESSION_EXPANSIONS,
    UPDATE_PARAMS,
    ZERO_DECIMAL,
    format_amount,
)
from bot.sandbox.stripe.signing import new_id


class SessionsMixin:
    """The `/v1/checkout/sessions` and `/v1/payment_intents` endpoints."""

    # Handlers: (params, ctx, **path) -> the answer's body; errors raise StripeError.

    def _api_create_session(self, params: dict, ctx: _Ctx) -> dict:
        _check_known(params, CREATE_PARAMS)
        mode = _optional(params, "mode")
        if mode is None:
            raise missing("mode")
        mode = _string(mode, "mode")
        if mode not in ("payment", "setup", "subscription"):
            raise invalid("mode", "Invalid mode: must be one of payment, setup, or subscription")
        if mode != "payment":
            raise invalid("mode", "The Stripe sandbox only supports `mode=payment`.")
        ui_mode = _optional(params, "ui_mode")
        if ui_mode is not None and ui_mode not in ("hosted", "hosted_page"):
            raise invalid("ui_mode", "The Stripe sandbox only serves hosted Checkout pages.")
        success_url = _optional(params, "success_url")
        if success_url is None:
            raise missing("success_url")
        success_url = _url(success_url, "success_url")
        cancel_url = _optional(params, "cancel_url")
        if cancel_url is not None:
            cancel_url = _url(cancel_url, "cancel_url")
        if _optional(params, "customer") is not None:
            raise no_such("customer", str(params["customer"]), "customer")

        raw_items = _optional(params, "line_items")
        if raw_items is None:
            raise missing("line_items")
        raw_items = _array(raw_items, "line_items")
        if not raw_items:
            raise missing("line_items")
        items = [self._line_item(raw, f"line_items[{i}]") for i, raw in enumerate(raw_items)]
        currencies = {item["currency"] for item in items}
        if len(currencies) > 1:
            raise invalid(
                "line_items",
                "All line items must use the same currency; got " + ", ".join(sorted(currencies)),
            )
        currency = items[0]["currency"]
        wanted = _optional(params, "currency")
        if wanted is not None and _string(wanted, "currency").lower() != currency:
            raise invalid("currency", f"The currency {wanted} does not match the line items.")
        total = sum(item["amount_total"] for item in items)
        if 0 < total < MIN_CHARGE and currency not in ZERO_DECIMAL:
            raise invalid(
                "line_items",
                "The Checkout Session's total amount due must add up to at least "
                f"{format_amount(MIN_CHARGE, currency)}",
                "amount_too_small",
            )
        if total > MAX_AMOUNT:
            raise invalid(
                "line_items",
                "The Checkout Session's total amount due must be no more than "
                f"{format_amount(MAX_AMOUNT, currency)}",
                "amount_too_large",
            )

        now = int(self.now())
        expires_at = _optional(params, "expires_at")
        if expires_at is None:
            expires_at = now + MAX_EXPIRY
        else:
            expires_at = _integer(expires_at, "expires_at")
            if expires_at - now < MIN_EXPIRY:
                raise invalid(
                    "expires_at",
                    "The `expires_at` timestamp must be at least 30 minutes from Checkout "
                    "Session creation.",
                    None,
                )
            if expires_at - now >= MAX_EXPIRY:  # Stripe: "less than 24 hours", on its clock
                raise invalid(
                    "expires_at",
                    "The `expires_at` timestamp must be less than 24 hours from Checkout "
                    "Session creation.",
                    None,
                )
        client_reference_id = _optional(params, "client_reference_id")
        if client_reference_id is not None:
            client_reference_id = _string(
                client_reference_id, "client_reference_id", MAX_CLIENT_REFERENCE
            )
        metadata = _metadata(params.get("metadata"), "metadata")
        customer_email = _optional(params, "customer_email")
        if customer_email is not None:
            customer_email = _string(customer_email, "customer_email", 800)
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", customer_email):
                raise invalid(
                    "customer_email", f"Invalid email address: {customer_email}", "email_invalid"
                )
        methods = ["card"]
        for key in ("payment_method_types", "allowed_payment_method_types"):
            if _optional(params, key) is not None:
                methods = [
                    _string(m, f"{key}[{i}]") for i, m in enumerate(_array(params[key], key))
                ]
                for i, value in enumerate(methods):
                    if value not in PAYMENT_METHOD_TYPES:
                        raise invalid(
                            f"{key}[{i}]", f'The payment method type "{value}" is invalid.'
                        )
        locale = _optional(params, "locale")
        if locale is not None and locale not in LOCALES:
            raise invalid(
                "locale", f"Invalid locale: {locale}; must be one of {', '.join(sorted(LOCALES))}"
            )
        submit_type = _optional(params, "submit_type")
        if submit_type is not None and submit_type not in ("auto", "book", "donate", "pay"):
            raise invalid("submit_type", f"Invalid submit_type: {submit_type}")
        intent_data = _hash(params.get("payment_intent_data", {}), "payment_intent_data")
        if "metadata" in intent_data:
            intent_data = {
                **intent_data,
                "metadata": _metadata(intent_data["metadata"], "payment_intent_data[metadata]"),
            }
        expand = self._expand(params, SESSION_EXPANSIONS)

        session_id = new_id("cs_test_", 58)
        for item in items:
            item["id"] = new_id("li_")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "adaptive_pricing": {"enabled": False},
            "after_expiration": None,
            "allow_promotion_codes": None,
            "allowed_payment_method_types": None,
            "amount_subtotal": total,
            "amount_total": total,
            "automatic_tax": {
                "enabled": False,
                "liability": None,
                "provider": None,
                "status": None,
            },
            "billing_address_collection": None,
            "branding_settings": None,
            "cancel_url": cancel_url,
            "client_reference_id": client_reference_id,
            "client_secret": None,
            "collected_information": None,
            "consent": None,
            "consent_collection": None,
            "created": now,
            "currency": currency,
            "currency_conversion": None,
            "custom_fields": [],
            "custom_text": {
                "after_submit": None,
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            "customer": None,
            "customer_account": None,
            "customer_creation": "if_required",
            "customer_details": None,
            "customer_email": customer_email,
            "discounts": [],
            "excluded_payment_method_types": None,
            "expires_at": expires_at,
            "integration_identifier": None,
            "invoice": None,
            "invoice_creation": {
                "enabled": False,
                "invoice_data": {
                    "account_tax_ids": None,
                    "custom_fields": None,
                    "description": None,
                    "footer": None,
                    "issuer": None,
                    "metadata": {},
                    "rendering_options": None,
                },
            },
            "livemode": False,
            "locale": locale,
            "managed_payments": None,
            "metadata": metadata,
            "mode": "payment",
            "name_collection": None,
            "optional_items": None,
            "origin_context": None,
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "if_required",
            "payment_method_configuration_details": None,
            "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
            "payment_method_types": methods,
            "payment_status": "unpaid",
            "permissions": None,
            "phone_number_collection": {"enabled": False},
            "presentment_details": None,
            "recovered_from": None,
            "redirect_on_completion": None,
            "return_url": None,
            "saved_payment_method_options": None,
            "setup_intent": None,
            "shipping_address_collection": None,
            "shipping_cost": None,
            "shipping_options": [],
            "status": "open",
            "submit_type": submit_type,
            "subscription": None,
            "success_url": success_url,
            "tax_id_collection": {"enabled": False, "required": "never"},
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted_page",
            "url": self.checkout_url(session_id),
            "wallet_options": None,
            "_payment_intent_data": intent_data,
            # No list given: the account's payment methods (the Dashboard's), debits included.
            "_methods_given": any(
                _optional(params, key) is not None
                for key in ("payment_method_types", "allowed_payment_method_types")
            ),
        }
        self.sessions[session_id] = session
        self.line_items[session_id] = items
        return self._session_view(session, expand)

    def _line_item(self, raw: Any, name: str) -> dict:
        raw = _hash(raw, name)
        _check_known(raw, LINE_ITEM_PARAMS, name)
        if _optional(raw, "quantity") is None:
            raise missing(f"{name}[quantity]")
        quantity = _integer(raw["quantity"], f"{name}[quantity]", 1, 999_999)
        price_id = _optional(raw, "price")
        data = _optional(raw, "price_data")
        if (price_id is None) == (data is None):
            raise invalid(
                name,
                "You must specify either `price` or `price_data` for each line item "
                "(and not both).",
            )
        if price_id is not None:
            price = self.prices.get(_string(price_id, f"{name}[price]"))
            if price is None:
                raise no_such("price", price_id, f"{name}[price]")
            price = copy.deepcopy(price)
            unit_total = price["unit_amount"] * quantity
            description = price["_product_name"]
        else:
            price, unit_total, description = self._price_data(data, quantity, f"{name}[price_data]")
        return {
            "id": None,
            "object": "item",
            "adjustable_quantity": None,
            "amount_discount": 0,
            "amount_subtotal": unit_total,
            "amount_tax": 0,
            "amount_total": unit_total,
            "currency": price["currency"],
            "description": description,
            "metadata": _metadata(raw.get("metadata"), f"{name}[metadata]"),
            "price": price,
            "quantity": quantity,
        }

    def _price_data(self, data: Any, quantity: int, name: str) -> tuple[dict, int, str]:
        data = _hash(data, name)
        _check_known(data, PRICE_DATA_PARAMS, name)
        if _optional(data, "currency") is None:
            raise missing(f"{name}[currency]")
        currency = _string(data["currency"], f"{name}[currency]").lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise invalid(f"{name}[currency]", f"Invalid currency: {currency}")
        if _optional(data, "recurring") is not None:
            raise invalid(
                f"{name}[recurring]",
                "You specified `payment` mode but passed a recurring price. Either switch to "
                "`subscription` mode or use only one-time prices.",
            )
        amount = _optional(data, "unit_amount")
        amount_decimal = _optional(data, "unit_amount_decimal")
        if amount is not None and amount_decimal is not None:
            raise invalid(
                f"{name}[unit_amount]",
                "You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
            )
        if amount is None and amount_decimal is None:
            raise missing(f"{name}[unit_amount]")
        if amount is not None:
            unit = _integer(amount, f"{name}[unit_amount]", 0, MAX_AMOUNT)
            unit_decimal = str(unit)
            line_total = unit * quantity
        else:
            text = _string(amount_decimal, f"{name}[unit_amount_decimal]")
            if not re.fullmatch(r"\d+(\.\d{1,12})?", text):
                raise invalid(f"{name}[unit_amount_decimal]", f"Invalid decimal: {text}")
            exact = decimal.Decimal(text)
            unit = None
            unit_decimal = text
            line_total = int(
                (exact * quantity).quantize(decimal.Decimal(1), decimal.ROUND_HALF_EVEN)
            )
        product = _optional(data, "product")
        product_data = _optional(data, "product_data")
        if product is not None:
            raise no_such("product", str(product), f"{name}[product]")
        if product_data is None:
            raise missing(f"{name}[product_data]")
        product_data = _hash(product_data, f"{name}[product_data]")
        _check_known(product_data, PRODUCT_DATA_PARAMS, f"{name}[product_data]")
        if _optional(product_data, "name") is None:
            raise missing(f"{name}[product_data][name]")
        product_name = _string(product_data["name"], f"{name}[product_data][name]", 250)
        price = self._price(currency, unit if unit is not None else 0, product_name, active=False)
        price["unit_amount"] = unit
        price["unit_amount_decimal"] = unit_decimal
        tax_behavior = _optional(data, "tax_behavior")
        if tax_behavior is not None:
            if tax_behavior not in ("exclusive", "inclusive", "unspecified"):
                raise invalid(f"{name}[tax_behavior]", f"Invalid tax_behavior: {tax_behavior}")
            price["tax_behavior"] = tax_behavior
        return price, line_total, product_name

    def _expand(self, params: dict, allowed: frozenset[str], prefix: str = "") -> set[str]:
        wanted = _optional(params, "expand")
        if wanted is None:
            return set()
        result = set()
        for i, value in enumerate(_array(wanted, "expand")):
            value = _string(value, f"expand[{i}]")
            plain = value.removeprefix(prefix) if prefix else value
            if (prefix and not value.startswith(prefix)) or plain not in allowed:
                raise invalid("expand", f"This property cannot be expanded ({value}).")
            result.add(plain)
        return result

    def _find_session(self, session_id: str) -> dict:
        session = self.sessions.get(session_id)
        if session is None:
            raise no_such("checkout.session", session_id, "session")
        return session

    def _api_retrieve_session(self, params: dict, ctx: _Ctx, id: str) -> dict:
        _check_known(params, frozenset({"expand"}))
        expand = self._expand(params, SESSION_EXPANSIONS)
        return self._session_view(self._find_session(id), expand)

    def _api_update_session(self, params: dict, ctx: _Ctx, id: str) -> dict:
        _check_known(params, UPDATE_PARAMS)
        session = self._find_session(id)
        expand = self._expand(params, SESSION_EXPANSIONS)
        if "metadata" in params:
            if params["metadata"] == "":
                session["metadata"] = {}
            else:
                changes = _hash(params["metadata"], "metadata")
                merged = {**session["metadata"], **changes}
                session["metadata"] = _metadata(merged, "metadata")
        return self._session_view(session, expand)

    def _api_expire_session(self, params: dict, ctx: _Ctx, id: str) -> dict:
        _check_known(params, frozenset({"expand"}))
        expand = self._expand(params, SESSION_EXPANSIONS)
        session = self._find_session(id)
        if session["status"] != "open":
            raise StripeError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired.',
                store=True,
            )
        self._expire(session, ctx)
        return self._session_view(session, expand)

    def _api_line_items(self, params: dict, ctx: _Ctx, id: str) -> dict:
        _check_known(params, frozenset({"expand", "limit", "starting_after", "ending_before"}))
        self._find_session(id)
        items = [_public(item) for item in self.line_items[id]]
        return self._page(items, params, f"/v1/checkout/sessions/{id}/line_items", "line_item")

    def _api_list_sessions(self, params: dict, ctx: _Ctx) -> dict:
        _check_known(params, LIST_SESSION_PARAMS)
        expand = self._expand(params, SESSION_EXPANSIONS, "data.")
        sessions = list(reversed(self.sessions.values()))
        status = _optional(params, "status")
        if status is not None:
            if status not in ("open", "complete", "expired"):
                raise invalid("status", f"Invalid status: {status}")
            sessions = [s for s in sessions if s["status"] == status]
        intent = _optional(params, "payment_intent")
        if intent is not None:
            sessions = [s for s in sessions if s["payment_intent"] == intent]
        sessions = _created_filter(sessions, params.get("created"))
        page = self._page(sessions, params, "/v1/checkout/sessions", "checkout.session")
        page["data"] = [self._session_view(s, expand) for s in page["data"]]
        return page

    def _api_retrieve_payment_intent(self, params: dict, ctx: _Ctx, id: str) -> dict:
        _check_known(params, frozenset({"expand", "client_secret"}))
        intent = self.payment_intents.get(id)
        if intent is None:
            raise no_such("payment_intent", id, "intent")
        return copy.deepcopy(intent)
