"""The libraries the bot imports on first use rather than at start-up (the first update handled
needs none of them), and the check that each is installed, made at start-up without importing.

Importing them at start would cost ~60 ms of CPU before the first update (`python -X importtime`,
bench/README.md); a library missing from the installation must still stop `ofbot run` at once
and show in `ofbot doctor`, not surface at the first card payment or invoice."""

from __future__ import annotations

import importlib.util

# Module → what needs it. A module added here is imported inside the functions that use it;
# `tests/unit/test_lazy_imports.py` checks that starting the bot imports none of them.
LAZY_IMPORTS: dict[str, str] = {
    "stripe": "card payments (bot/payments/)",
    "email_validator": "e-mail addresses (bot/addresses.py)",
    "rapidfuzz": "club names and mistyped addresses (bot/clubs.py)",
    "weasyprint": "invoice PDFs (bot/documents.py)",
    "drafthorse": "the invoices' Factur-X XML (bot/documents.py)",
    "facturx": "the Factur-X XML in the invoices' PDFs (bot/documents.py)",
    "prometheus_client": "GET /metrics with OFBOT_METRICS_TOKEN set (bot/metrics.py)",
    "dotenv": "settings from a .env file (bot/settings.py)",
}


def missing_libraries() -> list[str]:
    """Each library of LAZY_IMPORTS that is not installed, as "name, for what needs it"; found
    by the import system's path search (`importlib.util.find_spec`), nothing imported."""
    return [
        f"{name}, for {use}"
        for name, use in LAZY_IMPORTS.items()
        if importlib.util.find_spec(name) is None
    ]
