"""Stripe's error answers: `{"error": {"type", "code", "message", "param"}}` with Stripe's texts.

`missing`, `invalid` and `no_such` build the three errors a bad request meets most."""

from __future__ import annotations

import time
from typing import Any


class StripeError(Exception):
    """An error answer in Stripe's shape: `{"error": {type, code, message, param, ...}}`.

    `store`: whether the idempotency layer keeps it. Stripe keeps the result of a request that
    started executing, not one refused by parameter validation."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        store: bool = False,
        extra: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.store = store
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self, request_id: str | None = None) -> dict:
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        if request_id:
            error["request_log_url"] = (
                f"https://dashboard.stripe.com/test/logs/{request_id}?t={int(time.time())}"
            )
        error.update(self.extra)
        return {"error": error}


def missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def invalid(param: str, message: str, code: str | None = "parameter_invalid") -> StripeError:
    return StripeError(400, message, code=code, param=param)


def no_such(kind: str, object_id: str, param: str) -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)
