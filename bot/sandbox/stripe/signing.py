"""Ids and webhook signatures: `Stripe-Signature: t=<timestamp>,v1=<HMAC-SHA256 hex>` as Stripe computes it.

`forged_signature` signs with another secret, for tests of a receiver that must refuse it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import time

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def sign_payload(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe sends: `t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    t = int(time.time()) if timestamp is None else int(timestamp)
    signed = f"{t}.".encode() + payload
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def forged_signature(payload: bytes | str, timestamp: int | None = None) -> str:
    """A well-formed header signed with a secret nobody configured: verification must fail."""
    return sign_payload(payload, "whsec_" + secrets.token_hex(16), timestamp)
