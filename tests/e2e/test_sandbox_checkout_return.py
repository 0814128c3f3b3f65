"""`ofbot sandbox`'s card payment as a person meets it offline: the Stripe stand-in's checkout
page leads back to the sandbox page (t.me cannot be reached offline), while the bot outside the
sandbox keeps Telegram's t.me deep links (issue 17 item 5)."""

from __future__ import annotations

import re
import types

import httpx
import pytest

from bot.payments.checkout import return_url
from bot.sandbox.run import CLUB_CONTACT, start_sandbox
from bot.sandbox.web import reset_sandbox, start_web
from bot.settings import Settings


def test_outside_the_sandbox_the_return_links_are_the_bots_deep_links():
    services = types.SimpleNamespace(bot_username="ofbot_bot", checkout_return_url=None)
    assert return_url(services, "paid_OF-2026-000001") == (
        "https://t.me/ofbot_bot?start=paid_OF-2026-000001"
    )
    services.checkout_return_url = "http://127.0.0.1:8000/?start={payload}"
    assert return_url(services, "pay_OF-2026-000001") == (
        "http://127.0.0.1:8000/?start=pay_OF-2026-000001"
    )


@pytest.fixture
async def sandbox_with_page(tmp_path):
    sandbox = await start_sandbox(Settings(), tmp_path / "sandbox")
    web = await start_web(sandbox)
    sandbox.return_to(web.url)
    yield sandbox, web
    await web.stop()
    await sandbox.stop()


async def say(sandbox, text: str, contains: str) -> dict:
    telegram = sandbox.telegram
    last = max((m["message_id"] for m in telegram.messages(CLUB_CONTACT)), default=0)
    await telegram.send_text(CLUB_CONTACT, text)
    return await telegram.wait_for_bot_message(
        CLUB_CONTACT, after=last, contains=contains, timeout=15
    )


async def press(sandbox, message: dict, label: str, contains: str) -> dict:
    telegram = sandbox.telegram
    last = max(m["message_id"] for m in telegram.messages(CLUB_CONTACT))
    button = next(
        b for row in message["reply_markup"]["inline_keyboard"] for b in row if label in b["text"]
    )
    await telegram.press(CLUB_CONTACT, message["message_id"], button["callback_data"])
    # The answer: a new message, or the pressed one edited in place.
    return await telegram.wait_for_bot_message(
        CLUB_CONTACT, after=last, contains=contains, timeout=15, pressed=message
    )


async def test_the_checkout_page_leads_back_to_the_sandbox_page(sandbox_with_page):
    sandbox, web = sandbox_with_page
    await say(sandbox, "/start", "adresse de la plateforme")
    await say(sandbox, "mermoz", "adresses e-mail")
    await sandbox.telegram.send_text(CLUB_CONTACT, "bureau@mermoz.example.fr")
    mail = await sandbox.smtp.mailbox.wait_for("bureau@mermoz.example.fr", timeout=15)
    code = re.search(r"\d{6}", mail["text"]).group(0)
    menu = await say(sandbox, code, "Que voulez-vous faire")
    count = await press(sandbox, menu, "Renouveler", "Pour combien")
    quote = await press(sandbox, count, "(minimum)", "Devis")
    issued = await press(sandbox, quote, "Confirmer", "Facture créée")
    link = await press(sandbox, issued, "Carte", "lien de paiement")
    url = next(
        b["url"] for row in link["reply_markup"]["inline_keyboard"] for b in row if b.get("url")
    )
    session_id = re.search(r"/checkout/(cs_[A-Za-z0-9_]+)", url).group(1)
    async with httpx.AsyncClient() as client:
        cancel = await client.get(f"{url}/cancel", follow_redirects=False)
        assert cancel.headers["location"].startswith(f"{web.url}/?start=pay_OF-")
    # Paid on the page, the browser is sent (303) to the success URL: the sandbox page again,
    # whose script then says "/start paid_…" in the chat, as Telegram does with a t.me link.
    session = sandbox.stripe.sessions[session_id]
    assert session["success_url"].startswith(f"{web.url}/?start=paid_OF-")
    # A reset starts a fresh bot: it keeps leading back to the page.
    await reset_sandbox(sandbox)
    assert sandbox.runtime.services.checkout_return_url == f"{web.url}/?start={{payload}}"
