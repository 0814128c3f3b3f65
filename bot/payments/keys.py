"""Which invoice a Checkout Session is for, provably: a random key per invoice in the session's
metadata (invoice numbers start again after a restore or a sandbox reset), and the amount."""

from __future__ import annotations

import secrets

from bot.services import Services
from storage import invoices as invoice_rows
from storage import payments as payment_rows
from storage.invoices import Invoice

METADATA_KEY = "invoice_key"


async def key_of(services: Services, invoice: Invoice) -> str:
    """The invoice's payment key (24 random URL-safe characters), made the first time."""
    return await payment_rows.invoice_key(services.db, invoice.id, secrets.token_urlsafe(18))


async def invoice_of_session(services: Services, session: dict) -> Invoice | None:
    """The invoice a session provably belongs to: one we stored it for, or the one whose key its
    metadata carries; None for any other session (an invoice number alone proves nothing)."""
    stored = await payment_rows.get_session(services.db, session.get("id") or "")
    if stored is not None:
        return await invoice_rows.get(services.db, stored.invoice_id)
    key = (session.get("metadata") or {}).get(METADATA_KEY)
    invoice_id = await payment_rows.invoice_for_key(services.db, key) if key else None
    return await invoice_rows.get(services.db, invoice_id) if invoice_id else None


def charges_the_invoice(session: dict, invoice: Invoice) -> bool:
    """The session asks for exactly the invoice's amount, in its currency."""
    currency = (session.get("currency") or "").lower()
    return session.get("amount_total") == invoice.ttc_cents and currency == invoice.currency.lower()
