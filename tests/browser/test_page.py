"""The sandbox page's own behaviour, whatever the bot's flows say: formatting drawn safely, edits in
place, documents both ways, replies in the staff group, the mailbox, the clock, reset, a phone.

Bot-side messages here are sent straight to the fake Bot API, as the bot would send them."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from email.message import EmailMessage

import httpx
import pytest

from bot.sandbox.run import CLUB_CONTACT, STAFF, STAFF_CHAT
from tests.browser.conftest import PHONE, goto

expect = pytest.importorskip(
    "playwright.async_api", reason="playwright is not installed (pip install -e '.[dev]')"
).expect

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082"
)

HELO = "[127.0.0.1]"  # the sandbox relay refuses `localhost` as a HELO name


async def bot_api(sandbox, method: str, files: dict | None = None, **params):
    """Call the fake Bot API as the bot does; the result, or the test fails with Telegram's error."""
    url = f"{sandbox.telegram.url}/bot{sandbox.settings.telegram_token}/{method}"
    async with httpx.AsyncClient() as client:
        if files:
            data = {k: v if isinstance(v, str) else str(v) for k, v in params.items()}
            response = await client.post(url, data=data, files=files)
        else:
            response = await client.post(url, json=params)
    body = response.json()
    assert body.get("ok"), body
    return body["result"]


def chat_item(page, title: str):
    return page.locator(".chat-item", has_text=title)


def by_id(page, chat_id: int, message_id: int):
    return page.locator(f'[id="m-{chat_id}-{message_id}"]')


async def say(page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    await box.fill(text)
    await box.press("Enter")
    await expect(box).to_have_value("")


async def test_bot_formatting_is_drawn_safely_and_edits_happen_in_place(page, sandbox, shots):
    sent = await bot_api(
        sandbox,
        "sendMessage",
        chat_id=CLUB_CONTACT,
        parse_mode="HTML",
        text=(
            "<b>Invoice OF-2026-000042</b> is <i>ready</i>: <code>120,00 €</code>\n"
            '<a href="https://example.org/invoice">see it</a> '
            "&lt;img src=x onerror=alert(1)&gt; &lt;script&gt;alert(2)&lt;/script&gt;"
        ),
        reply_markup={
            "inline_keyboard": [
                [{"text": "Press me", "callback_data": "web:test"}],
                [{"text": "Pay by card", "url": "https://example.org/checkout/cs_test"}],
            ]
        },
    )
    await chat_item(page, "Jeanne").click()
    message = by_id(page, CLUB_CONTACT, sent["message_id"])
    await expect(message.locator(".text b")).to_have_text("Invoice OF-2026-000042")
    await expect(message.locator(".text i")).to_have_text("ready")
    await expect(message.locator(".text code")).to_have_text("120,00 €")
    link = message.locator(".text a")
    await expect(link).to_have_attribute("href", "https://example.org/invoice")
    await expect(link).to_have_attribute("target", "_blank")
    # What the text says is shown as text, never turned into markup.
    await expect(message.locator(".text")).to_contain_text("<img src=x onerror=alert(1)>")
    await expect(message.locator(".text")).to_contain_text("<script>alert(2)</script>")
    assert await page.locator("#messages img[src='x'], #messages script").count() == 0
    url_button = message.get_by_role("link", name=re.compile("Pay by card"))
    await expect(url_button).to_have_attribute("href", "https://example.org/checkout/cs_test")
    await expect(url_button).to_have_attribute("target", "_blank")
    await shots.take(page, "formatting")

    async with page.expect_response("**/api/press") as pressed:
        await message.get_by_role("button", name="Press me").click()
    assert (await pressed.value).ok
    # The press reached the bot as a callback query: the bot answered it.
    await _wait_until(
        lambda: any(
            answer["message_id"] == sent["message_id"]
            for answer in sandbox.telegram.callback_answers
        ),
        "the bot answering the pressed button",
    )

    await bot_api(
        sandbox,
        "editMessageText",
        chat_id=CLUB_CONTACT,
        message_id=sent["message_id"],
        text="Invoice <b>OF-2026-000042</b> is paid.",
        parse_mode="HTML",
    )
    await expect(message.locator(".text")).to_have_text("Invoice OF-2026-000042 is paid.")
    await expect(message.locator(".edited")).to_be_visible()
    await expect(by_id(page, CLUB_CONTACT, sent["message_id"])).to_have_count(1)
    await shots.take(page, "edited")


async def _wait_until(predicate, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.05)


async def test_documents_download_and_a_person_sends_files(page, sandbox, shots, tmp_path):
    invoice = b"%PDF-1.4\n% sandbox invoice OF-2026-000042\n%%EOF\n"
    sent = await bot_api(
        sandbox,
        "sendDocument",
        files={"document": ("OF-2026-000042.pdf", invoice, "application/pdf")},
        chat_id=CLUB_CONTACT,
        caption="Votre facture",
    )
    await chat_item(page, "Jeanne").click()
    message = by_id(page, CLUB_CONTACT, sent["message_id"])
    document = message.locator("a.document")
    await expect(document).to_contain_text("OF-2026-000042.pdf")
    await expect(message.locator(".text")).to_have_text("Votre facture")
    async with page.expect_download() as downloading:
        await document.click()
    download = await downloading.value
    assert download.suggested_filename == "OF-2026-000042.pdf"
    assert (await download.path()).read_bytes() == invoice

    attachment = tmp_path / "licence.txt"
    attachment.write_bytes(b"pilot licence scan")
    await page.get_by_label("Message", exact=True).fill("my licence")
    await page.locator("#composer-file").set_input_files(str(attachment))
    mine = page.locator("#messages > li.from-me", has_text="licence.txt").last
    await expect(mine).to_be_visible()
    await expect(mine.locator(".text")).to_have_text("my licence")
    stored = [m for m in sandbox.telegram.messages(CLUB_CONTACT) if m.get("document")]
    assert sandbox.telegram.document_bytes(stored[-1]) == b"pilot licence scan"
    assert stored[-1]["from"]["id"] == CLUB_CONTACT

    photo = tmp_path / "logbook.png"
    photo.write_bytes(PNG_1PX)
    await page.locator("#composer-file").set_input_files(str(photo))
    image = page.locator("#messages > li.from-me img.photo").last
    await expect(image).to_be_visible()
    response = await page.request.get(await image.evaluate("img => img.src"))
    assert response.ok and response.headers["content-type"].startswith("image/")
    await shots.take(page, "documents")


async def test_staff_reply_to_a_relayed_message_in_the_group(page, sandbox, shots):
    relayed = await bot_api(
        sandbox,
        "sendMessage",
        chat_id=STAFF_CHAT,
        parse_mode="HTML",
        text="<b>mermoz</b> — Jeanne writes: « Can you check our invoice? »",
    )
    await chat_item(page, "OpenFlyers staff").click()
    await page.get_by_label("Writing as").select_option(str(STAFF[1]))
    message = by_id(page, STAFF_CHAT, relayed["message_id"])
    await message.get_by_role("button", name=re.compile("Reply")).click()
    await expect(page.locator("#reply-banner")).to_be_visible()
    await expect(page.locator("#reply-banner")).to_contain_text("Can you check our invoice?")
    await say(page, "Yes, it is sorted.")
    await expect(page.locator("#reply-banner")).to_be_hidden()
    answer = page.locator("#messages > li.from-me", has_text="Yes, it is sorted.")
    await expect(answer.locator(".reply-quote")).to_contain_text("Can you check our invoice?")
    stored = [
        m for m in sandbox.telegram.messages(STAFF_CHAT) if m.get("text") == "Yes, it is sorted."
    ]
    assert stored and stored[0]["from"]["id"] == STAFF[1]
    assert stored[0]["reply_to_message"]["message_id"] == relayed["message_id"]
    await shots.take(page, "staff-reply")


async def test_the_mailbox_shows_each_mail_as_it_arrives(page, sandbox, shots):
    from email.utils import formatdate, make_msgid

    import aiosmtplib

    await expect(page.locator("#mail-empty")).to_be_visible()
    mail = EmailMessage()
    mail["From"] = "OpenFlyers <no-reply@openflyers.example>"
    mail["To"] = "bureau@club.example.fr"
    mail["Subject"] = "Votre code de vérification"
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = make_msgid(domain="openflyers.example")
    mail.set_content("Votre code : 424242\nIl expire dans 10 minutes.")
    smtp = sandbox.smtp
    await aiosmtplib.send(mail, hostname=smtp.host, local_hostname=HELO, port=smtp.port)
    item = page.locator("#mail-list .mail").first
    await expect(item).to_contain_text("Votre code de vérification")
    await expect(item).to_contain_text("bureau@club.example.fr")
    await expect(item.locator(".mail-text")).to_contain_text("424242")
    await expect(page.locator("#mail-count")).to_have_text("1")
    await shots.take(page, "mailbox")


async def test_clock_reminders_and_reset(page, sandbox, shots):
    today = sandbox.clock.today()
    later = today + dt.timedelta(days=30)
    await page.get_by_label("Move the date forward by").fill("30")
    await page.get_by_role("button", name="Move", exact=True).click()
    await expect(page.locator("#date-label")).to_have_attribute("datetime", later.isoformat())
    await expect(page.locator("#date-offset")).to_have_text("(+30 days)")
    assert sandbox.clock.today() == later

    await page.get_by_role("button", name="Run reminders now").click()
    # Whatever the reminders engine says (a summary, or why it could not run) is shown.
    await expect(page.locator("#control-status")).to_have_text(
        re.compile(r"Reminders done: .+|the reminders could not run: .+")
    )
    await shots.take(page, "reminders")

    await chat_item(page, "Jeanne").click()
    await say(page, "/start")
    await expect(page.locator("#messages > li.from-bot").first).to_be_visible()
    old_runtime = sandbox.runtime
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.get_by_role("button", name="Reset to sample data").click()
    await expect(page.locator("#control-status")).to_have_text(
        "The sandbox is back to its sample data.", timeout=30_000
    )
    await expect(page.locator("#messages > li.msg")).to_have_count(0)
    await expect(page.locator("#date-offset")).to_have_text("(today)")
    assert sandbox.runtime is not old_runtime and sandbox.clock.today() == today
    # The fresh bot answers in the same chat.
    await say(page, "/start")
    await expect(page.locator("#messages > li.from-bot").first).to_be_visible()
    await shots.take(page, "after-reset")


async def test_on_a_phone_the_chat_list_collapses(phone, shots):
    page = phone
    sidebar, conversation = page.locator("#sidebar"), page.locator("#conversation")
    await expect(sidebar).to_be_visible()
    await expect(conversation).to_be_hidden()
    await shots.take(page, "phone-list")
    await chat_item(page, "Jeanne").click()
    await expect(sidebar).to_be_hidden()
    await expect(conversation).to_be_visible()
    await say(page, "/start")
    await expect(page.locator("#messages > li.from-bot").first).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "nothing may overflow sideways on a phone"
    await shots.take(page, "phone-chat")
    await page.get_by_role("button", name="Back to the chat list").click()
    await expect(sidebar).to_be_visible()
    await page.get_by_role("button", name=re.compile("Mailbox")).click()
    await expect(page.locator("#mailbox")).to_be_visible()
    await expect(sidebar).to_be_hidden()


async def test_usable_with_the_keyboard_alone_and_every_control_is_named(page):
    unnamed = await page.evaluate(
        """() => [...document.querySelectorAll('button, input, select, textarea, a[href]')]
            .filter((el) => !el.closest('[hidden]'))
            .filter((el) => {
              const label = el.labels && el.labels.length ? el.labels[0].textContent : '';
              const name = (el.getAttribute('aria-label') || label || el.textContent || '').trim();
              return !name;
            })
            .map((el) => el.outerHTML.slice(0, 120))"""
    )
    assert unnamed == []
    await page.locator(".chat-item").first.focus()
    await page.locator(".chat-item", has_text="Jeanne").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Message", exact=True)).to_be_focused()
    await page.keyboard.type("/start")
    await page.keyboard.press("Enter")
    await expect(page.locator("#messages > li.from-me")).to_have_count(1)
    await expect(page.locator("#messages > li.from-bot").first).to_be_visible()
    assert await page.locator("#messages").get_attribute("aria-live") == "polite"


async def test_stopping_the_server_with_a_page_open_does_not_hang(sandbox, browser):
    from bot.sandbox.web import start_web

    server = await start_web(sandbox)
    context = await browser.new_context()
    page = await context.new_page()
    await goto(page, server.url)
    await asyncio.wait_for(server.stop(), 10)
    await context.close()


async def test_a_url_button_opens_the_stripe_checkout_page_where_test_cards_pay(
    page, sandbox, shots
):
    if sandbox.stripe is None:
        pytest.skip("the Stripe stand-in (bot/sandbox/stripe.py) is not there")
    async with httpx.AsyncClient() as client:
        created = await client.post(
            f"{sandbox.stripe_server.url}/v1/checkout/sessions",
            headers={"Authorization": f"Bearer {sandbox.settings.stripe_secret_key}"},
            data={
                "mode": "payment",
                "success_url": "https://t.me/ofbot_sandbox_bot",
                "line_items[0][quantity]": "1",
                "line_items[0][price_data][currency]": "eur",
                "line_items[0][price_data][unit_amount]": "12000",
                "line_items[0][price_data][product_data][name]": "Abonnement OF-2026-000042",
            },
        )
    session = created.json()
    assert created.status_code == 200, session
    await bot_api(
        sandbox,
        "sendMessage",
        chat_id=CLUB_CONTACT,
        text="Facture OF-2026-000042 : 120,00 €",
        reply_markup={"inline_keyboard": [[{"text": "Payer par carte", "url": session["url"]}]]},
    )
    await chat_item(page, "Jeanne").click()
    async with page.context.expect_page() as opening:
        await page.get_by_role("link", name=re.compile("Payer par carte")).click()
    checkout = await opening.value
    await checkout.wait_for_load_state()
    await checkout.get_by_label("Card number").fill("4000 0000 0000 0002")
    await checkout.get_by_label("Expiry").fill("12 / 34")
    await checkout.get_by_label("Security code").fill("123")
    async with checkout.expect_navigation():
        await checkout.get_by_role("button", name=re.compile("Pay")).click()
    await expect(checkout.get_by_role("alert")).to_contain_text(re.compile("declined", re.I))
    assert sandbox.stripe.session(session["id"])["status"] == "open"
    await shots.take(checkout, "checkout-declined")
    await checkout.get_by_label("Card number").fill("4242 4242 4242 4242")
    await checkout.get_by_label("Security code").fill("123")
    async with checkout.expect_navigation():
        await checkout.get_by_role("button", name=re.compile("Pay")).click()
    await expect(checkout.get_by_role("alert")).to_have_count(0)
    assert sandbox.stripe.session(session["id"])["status"] == "complete"
    await shots.take(checkout, "checkout-paid")


async def test_the_staff_forum_shows_each_club_in_its_topic(page, sandbox, shots):
    from bot import relay
    from bot.sandbox.run import SECOND_CONTACT
    from storage import clubs as club_rows

    services, app_bot = sandbox.runtime.services, sandbox.runtime.app.bot
    for user_id, name, subdomain, lang in (
        (CLUB_CONTACT, "Jeanne", "mermoz", "fr"),
        (SECOND_CONTACT, "John", "lesailes", "en"),
    ):
        club = await club_rows.get_by_subdomain(services.db, subdomain)
        speaker = relay.Speaker(user_id, user_id, name, None, lang)
        await relay.start_talk(services, app_bot, speaker, club.id)
    topics = sandbox.telegram.topics(STAFF_CHAT)
    assert [t["name"].split(" — ")[0] for t in topics] == ["💬 mermoz", "💬 lesailes"]

    await chat_item(page, "OpenFlyers staff").click()
    await expect(page.locator("#chat-subtitle")).to_contain_text("forum · 2 topic(s)")
    chips = page.locator("#topics .topic-chip")
    await expect(chips).to_have_count(4)  # All, General and the two clubs
    await expect(page.locator("#messages .topic-tag").first).to_contain_text("mermoz")
    await shots.take(page, "forum-all")

    mermoz = page.locator("#topics .topic-chip", has_text="mermoz")
    await mermoz.click()
    await expect(mermoz).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#messages")).to_contain_text("Conversation n°")
    await expect(page.locator("#messages")).not_to_contain_text("lesailes")
    await expect(page.locator("#messages .service-text").first).to_contain_text("created")

    # Staff write plainly in the club's topic: the club's chat gets it.
    await page.get_by_label("Writing as").select_option(str(STAFF[0]))
    await say(page, "Bonjour Jeanne, nous regardons.")
    await sandbox.telegram.wait_for_bot_message(CLUB_CONTACT, contains="nous regardons")
    sent = [
        m for m in sandbox.telegram.messages(STAFF_CHAT) if m.get("text", "").endswith("regardons.")
    ]
    assert sent and sent[0]["message_thread_id"] == topics[0]["message_thread_id"]
    await expect(page.locator("#messages > li.from-me")).to_contain_text("nous regardons")
    await shots.take(page, "forum-topic")
