"""Offline stand-ins for Telegram's Bot API, Stripe and an SMTP server (SPEC §7).

Used by the tests and by `ofbot sandbox`; they speak the real protocols over loopback."""
