"""A person's whole journey on the sandbox page (issue 6): verify a club with the code read from
the mailbox panel, renew, pay with a test card on the Stripe stand-in's checkout page, see the
receipt, then in the staff group record a cheque for another club's invoice."""

from __future__ import annotations

import csv
import re

import pytest

from tests.browser.conftest import keep_for_readme
from tests.conftest import SAMPLE_CLUBS, sample_club

expect = pytest.importorskip(
    "playwright.async_api", reason="playwright is not installed (pip install -e '.[dev]')"
).expect

MERMOZ = sample_club("mermoz") if SAMPLE_CLUBS.exists() else {}
RENEW = re.compile(r"Renouveler|Renew", re.IGNORECASE)
CONFIRM = re.compile(r"Confirmer|Confirm|Valider", re.IGNORECASE)
CARD = re.compile(r"carte|card", re.IGNORECASE)
CHEQUE = re.compile(r"chèque|cheque|check", re.IGNORECASE)
RECEIPT = re.compile(r"reçu|receipt|paiement reçu|payment received|payée|paid", re.IGNORECASE)
INVOICE_NUMBER = re.compile(r"OF-\d{4}-\d{6}")
CODE = re.compile(r"\b(\d{6})\b")


def other_club() -> dict:
    """A sample club other than mermoz, for the second invoice."""
    with SAMPLE_CLUBS.open(encoding="utf-8") as handle:
        return next(row for row in csv.DictReader(handle) if row["subdomain"] != "mermoz")


def bot_messages(page):
    return page.locator("#messages > li.from-bot")


def latest_button(page, label: re.Pattern):
    """The newest inline button whose label matches (callback or URL button)."""
    return page.locator("#messages .kb-button", has_text=label).last


async def open_chat(page, title: str) -> None:
    await page.locator(".chat-item", has_text=title).click()
    await expect(page.locator("#chat-title")).to_contain_text(title)


async def say(page, text: str) -> None:
    """Type and send; returns once the bot answered (a new bot message appeared)."""
    before = await bot_messages(page).count()
    box = page.get_by_label("Message", exact=True)
    await box.fill(text)
    await box.press("Enter")
    await expect(bot_messages(page).nth(before)).to_be_visible()


async def press(page, label: re.Pattern) -> None:
    await click_and_wait_for_answer(page, latest_button(page, label))


async def click_and_wait_for_answer(page, button) -> None:
    """Click an inline button; returns once the bot answered: a new bot message, or the pressed
    message edited into the answer (its text changed in place)."""
    message = button.locator("xpath=ancestor::li[contains(@class, 'msg')][1]")
    node_id = await message.get_attribute("id")
    text = await message.locator(".text").first.inner_text()
    before = await bot_messages(page).count()
    await button.click()
    await page.wait_for_function(
        """([id, text, before]) => {
            const bot = document.querySelectorAll("#messages > li.from-bot");
            const node = document.getElementById(id);
            const now = node && node.querySelector(".text");
            return bot.length > before || (now !== null && now.innerText !== text);
        }""",
        arg=[node_id, text, before],
    )


async def verify_with_the_mailbox(page, club: dict) -> None:
    """Identify and verify through the page; the code is read from the mailbox panel."""
    await say(page, "/start")
    await say(page, club["subdomain"])
    await expect(bot_messages(page).last).to_contain_text(club["name"])
    await say(page, club["structure_email"])
    mail = page.locator("#mail-list .mail", has_text=club["structure_email"]).first
    await expect(mail.locator(".mail-text")).to_contain_text(CODE)
    code = CODE.search(await mail.locator(".mail-text").inner_text()).group(1)
    await say(page, code)
    await expect(latest_button(page, RENEW)).to_be_visible()


async def renew_for_the_minimum(page) -> None:
    """Renew: the first count offered (the minimum), then confirm the quote."""
    await press(page, RENEW)
    keyboard = page.locator("#messages > li.from-bot .keyboard").last
    await click_and_wait_for_answer(page, keyboard.locator(".kb-button").first)
    await press(page, CONFIRM)


async def test_a_club_contact_verifies_with_the_code_from_the_mailbox(page, shots):
    await open_chat(page, "Jeanne")
    await verify_with_the_mailbox(page, MERMOZ)
    await expect(page.locator("#mail-count")).not_to_have_text("0")
    keep_for_readme(await shots.take(page, "verified"))


async def test_verify_renew_pay_by_card_then_staff_record_a_cheque(page, shots, web):
    await open_chat(page, "Jeanne")
    await verify_with_the_mailbox(page, MERMOZ)
    await shots.take(page, "verified")
    menu_id = await bot_messages(page).last.get_attribute("id")
    await renew_for_the_minimum(page)
    # Each press edited the menu in place, step by step: it now shows the invoice issued.
    issued = page.locator(f"#{menu_id}")
    await expect(issued).to_contain_text(INVOICE_NUMBER)
    await expect(issued.locator(".edited")).to_be_visible()
    await expect(bot_messages(page).last).to_have_attribute("id", menu_id)
    await press(page, CARD)
    pay = page.locator("#messages a.kb-button.url").last
    await expect(pay).to_be_visible()
    await shots.take(page, "payment-link")

    # The card-payment button opens the Stripe stand-in's checkout page in a new tab.
    async with page.context.expect_page() as opening:
        await pay.click()
    checkout = await opening.value
    await checkout.wait_for_load_state()
    # The bot asks Stripe for the club's language: the page and its errors are in French.
    await expect(checkout.locator("html")).to_have_attribute("lang", "fr")
    await pay_with(checkout, "4000 0000 0000 0002")
    await expect(checkout.get_by_role("alert")).to_contain_text("Votre carte a été refusée")
    await shots.take(checkout, "checkout-declined")
    await pay_with(checkout, "4242 4242 4242 4242")
    await expect(checkout.get_by_role("alert")).to_have_count(0)
    # Paid, the checkout page leads back to the sandbox page (not t.me, unreachable offline),
    # which says "/start paid_…" in Jeanne's chat as Telegram does for the bot's deep link.
    assert checkout.url.startswith(web.url + "/"), checkout.url
    await expect(checkout.locator("#messages")).to_contain_text("/start paid_OF-")
    await shots.take(checkout, "checkout-paid")
    await checkout.close()

    # The receipt arrives in the chat by itself (webhook → bot → Telegram → page).
    await page.bring_to_front()
    await expect(bot_messages(page).filter(has_text="Paiement reçu")).to_have_count(1)
    await expect(bot_messages(page).filter(has_text="est confirmé")).to_have_count(1)
    keep_for_readme(await shots.take(page, "receipt"))

    # Another club's invoice, to be paid by cheque: John verifies it and renews.
    club = other_club()
    await open_chat(page, "John")
    await verify_with_the_mailbox(page, club)
    await renew_for_the_minimum(page)
    await press(page, CHEQUE)
    await expect(bot_messages(page).last).to_contain_text(INVOICE_NUMBER)
    number = INVOICE_NUMBER.search(await bot_messages(page).last.inner_text()).group(0)

    # Staff record the cheque in their group; the club gets its receipt.
    await open_chat(page, "OpenFlyers staff")
    await page.get_by_label("Writing as").select_option(label="Alice (staff)")
    await say(page, f"/paid {number} cheque")
    await expect(bot_messages(page).last).to_contain_text(number)
    await shots.take(page, "staff-paid")
    await expect(page.locator(".chat-item", has_text="John").locator(".badge")).to_be_visible()
    await open_chat(page, "John")
    await expect(bot_messages(page).last).to_contain_text(RECEIPT)
    await shots.take(page, "cheque-receipt")


async def pay_with(checkout, card: str) -> None:
    number = checkout.locator("input[name=card_number]")
    await number.fill(card)
    for name, value in (("expiry", "12 / 34"), ("cvc", "123"), ("name", "Jeanne Martin")):
        field = checkout.locator(f"input[name={name}]")
        if await field.count():
            await field.fill(value)
    async with checkout.expect_navigation():
        await number.press("Enter")
