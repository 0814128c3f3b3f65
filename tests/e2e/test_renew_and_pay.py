"""Renewal, invoice and payment (SPEC §3.4) end to end: the real bot against the sandbox Bot API,
Stripe and SMTP servers over loopback, as club contacts and Stripe would use it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re

import httpx
import pytest

from bot.catalogue import new_period
from bot.documents import embedded_xml
from bot.texts import format_date
from tests.conftest import CLUB_USER_2, CLUB_USER_FR, STAFF_CHAT, Chat, sample_club, verify
from tests.unit.test_invoice_documents import pdf_text

MERMOZ = sample_club("mermoz")  # business, 4 activated resources, France
NUMBER = re.compile(r"OF-\d{4}-\d{6}")


async def settled(bot, stripe, timeout: float = 10.0) -> None:
    """Every webhook delivered, every stored event processed (receipts are sent by then)."""
    await stripe.drain(timeout)
    db = bot.services.db
    async with asyncio.timeout(timeout):
        while await db.fetchval("SELECT count(*) FROM stripe_events WHERE processed_at IS NULL"):
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)


def url_button(message: dict) -> str:
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for button in row:
            if "url" in button:
                return button["url"]
    raise AssertionError(f"no URL button on {message}")


async def send_button(bot, chat_id: int, label: str, data: str) -> int:
    """A bot message with one button, as another feature (reminders, fees) would send it."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    sent = await bot.runtime.app.bot.send_message(
        chat_id,
        label,
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)]]),
    )
    return sent.message_id


def session_id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


async def club_row(bot, subdomain: str = "mermoz"):
    return await bot.services.db.fetchone("SELECT * FROM clubs WHERE subdomain = ?", (subdomain,))


async def invoices_of(bot, subdomain: str = "mermoz") -> list:
    return await bot.services.db.fetchall(
        "SELECT i.* FROM invoices i JOIN clubs c ON c.id = i.club_id WHERE c.subdomain = ?"
        " ORDER BY i.id",
        (subdomain,),
    )


def expected_period(bot, ends: str) -> tuple[dt.date, dt.date]:
    return new_period(dt.date.fromisoformat(ends), bot.services.clock.today())


async def to_quote(chat: Chat, count_label: str = "(minimum)") -> list:
    """From the menu: renew, a count button; returns the quote (the current plan)."""
    await chat.press("Renouveler")
    return await chat.press(count_label)


async def to_invoice(chat: Chat, **kwargs) -> str:
    await to_quote(chat, **kwargs)
    replies = await chat.press("Confirmer")
    match = NUMBER.search(replies[-1]["text"])
    assert match, chat.transcript()
    return match.group(0)


async def card_link(chat: Chat) -> str:
    replies = await chat.press("Carte")
    return url_button(replies[-1])


# --- count and quote --------------------------------------------------------------------------


async def test_count_step_shows_the_record_and_offers_the_minimum_and_more(chat, smtp, bot):
    await verify(chat, smtp)
    replies = await chat.press("Renouveler")
    text = replies[-1]["text"]
    assert "Business" in text and "Ressources activées sur la plateforme : 4" in text
    assert "Au minimum 4" in text
    labels = chat.buttons(replies[-1])
    assert labels[:4] == ["4 (minimum)", "5", "6", "9"]
    assert any("Autre" in label for label in labels) and any("Retour" in label for label in labels)


async def test_renew_at_the_minimum_quote_is_hand_computed(chat, smtp, bot):
    await verify(chat, smtp)
    replies = await to_quote(chat)
    text = replies[-1]["text"]
    # Business: 240,00 € + 4 × 90,00 € = 600,00 € HT, VAT 20 % 120,00 €, 720,00 € TTC.
    assert "Abonnement annuel Business : 1 × 240,00\u00a0€ = 240,00\u00a0€" in text
    assert "Ressources (Business) : 4 × 90,00\u00a0€ = 360,00\u00a0€" in text
    assert "Total HT : 600,00\u00a0€" in text
    assert "TVA 20 % : 120,00\u00a0€" in text
    assert "Total TTC : 720,00\u00a0€" in text
    start, end = expected_period(bot, MERMOZ["subscription_ends"])
    assert f"du {start.day if start.day > 1 else '1er'}" in text
    assert str(end.year) in text


async def test_renew_above_the_minimum_with_a_typed_number(chat, smtp, bot):
    await verify(chat, smtp)
    await chat.press("Renouveler")
    replies = await chat.say(" 7 ")
    # 240 + 7 × 90 = 870 HT, 174 VAT, 1 044 TTC.
    assert "Total TTC : 1\u202f044,00\u00a0€" in replies[-1]["text"]


async def test_below_the_minimum_is_refused_with_the_way_to_deactivate(chat, smtp, bot):
    await verify(chat, smtp)
    await chat.press("Renouveler")
    replies = await chat.say("3")
    text = replies[-1]["text"]
    assert "moins de <b>4</b>" not in text  # HTML is rendered by Telegram, not shown
    assert "4 ressources sont activées" in text
    assert "Admin › Ressources › Ressources › Actives" in text and "corbeille" in text
    assert "historique" in text
    replies = await chat.say("4")  # same step: a valid count goes on
    assert "Devis" in replies[-1]["text"]


async def test_more_activated_than_the_catalogue_maximum_is_no_dead_end(chat, smtp, bot):
    """600 resources activated, a catalogue maximum of 500: the count step offered
    « 600 (minimum) », then answered it (and every typed count) with « tapez un nombre entre 600
    et 500 ». Now no count is offered: staff handle it, or the club deactivates and says so."""
    await verify(chat, smtp)
    await bot.services.db.execute(
        "UPDATE clubs SET active_resources = 600 WHERE subdomain = 'mermoz'"
    )
    replies = await chat.press("Renouveler")
    text = replies[-1]["text"]
    assert "600" in text and "maximum de 500" in text and "Parler à l’équipe" in text, text
    assert not any(label[:1].isdigit() for label in chat.buttons(replies[-1]))
    for typed in ("600", "500"):
        replies = await chat.say(typed)
        assert "entre 600 et 500" not in replies[-1]["text"], chat.transcript()
        assert "maximum de 500" in replies[-1]["text"]
    await bot.services.db.execute(
        "UPDATE clubs SET active_resources = 450 WHERE subdomain = 'mermoz'"
    )
    replies = await chat.press("J’ai désactivé des ressources")
    assert "450 (minimum)" in chat.buttons(replies[-1]), chat.transcript()


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("0", "au moins 4"),
        ("-2", "au moins 4"),
        ("3.5", "nombre entier en chiffres"),
        ("3,5", "nombre entier en chiffres"),
        ("trois", "nombre entier en chiffres"),
        ("1e3", "nombre entier en chiffres"),
        ("٣", "nombre entier en chiffres"),
        ("501", "maximum de 500"),
        ("9" * 10_000, "maximum de 500"),
    ],
)
async def test_bad_counts_get_a_clear_reply_and_the_same_step(chat, smtp, bot, typed, expected):
    await verify(chat, smtp)
    await chat.press("Renouveler")
    replies = await chat.say(typed)
    assert expected in replies[-1]["text"], chat.transcript()
    replies = await chat.say("5")
    assert "Devis" in replies[-1]["text"]


async def test_plan_change_quotes_the_new_plan_and_checks_its_minimum(chat, smtp, bot):
    await verify(chat, smtp)
    await to_quote(chat)
    replies = await chat.press("Changer de formule")
    text = replies[-1]["text"]
    assert "Business (actuelle) : 720,00" in text and "SOLO : 264,00" in text
    assert "Corporate" in text and "à partir de 10 ressources" in text
    replies = await chat.press("Corporate")
    assert "au moins 10 ressources" in replies[0]["text"]
    assert chat.buttons(replies[-1])[0] == "10 (minimum)"
    replies = await chat.press("(minimum)")  # the plan is chosen: straight to the quote
    # Corporate: 900 + 10 × 150 = 2 400 HT, 480 VAT, 2 880 TTC.
    assert "Total TTC : 2\u202f880,00\u00a0€" in replies[-1]["text"]
    number = NUMBER.search((await chat.press("Confirmer"))[-1]["text"]).group(0)
    row = (await invoices_of(bot))[-1]
    assert (row["number"], row["plan"], row["resources"], row["ttc_cents"]) == (
        number,
        "corporate",
        10,
        288000,
    )


async def test_eu_club_with_a_vat_number_is_quoted_without_vat(chat, smtp, bot):
    await verify(chat, smtp, "namur")  # business, 5 resources, BE + VAT number
    replies = await to_quote(chat)
    text = replies[-1]["text"]
    assert "Total HT : 690,00\u00a0€" in text
    assert "autoliquidation" in text and "Total TTC : 690,00\u00a0€" in text


async def test_back_and_cancel_at_each_renewal_step(chat, smtp, bot):
    """ "Back" goes back one step (quote → count → menu); /cancel leaves the whole flow."""
    await verify(chat, smtp)
    await chat.press("Renouveler")
    replies = await chat.press("Retour")
    assert "Que voulez-vous faire" in replies[-1]["text"]
    await chat.press("Renouveler")
    await chat.press("(minimum)")
    replies = await chat.say("/cancel")
    assert "Retour au menu" in replies[0]["text"]
    await to_quote(chat)
    replies = await chat.press("Retour")
    assert "Pour combien de ressources" in replies[-1]["text"]
    replies = await chat.press("Autre nombre")
    replies = await chat.press("Retour")  # from "type the number" back to the count buttons
    assert "Pour combien de ressources" in replies[-1]["text"]
    replies = await chat.press("Retour")
    assert "Que voulez-vous faire" in replies[-1]["text"]
    assert await invoices_of(bot) == []
    replies = await chat.say("5")  # the count step is over: not read as a count
    assert "Devis" not in replies[-1]["text"]


# --- invoice ----------------------------------------------------------------------------------


async def test_confirm_creates_one_numbered_invoice_and_offers_the_three_methods(chat, smtp, bot):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    year = bot.services.clock.today().year
    assert number == f"OF-{year}-000001"
    labels = chat.buttons()
    assert any("Carte" in x for x in labels) and any("Virement" in x for x in labels)
    assert any("Chèque" in x for x in labels)
    rows = await invoices_of(bot)
    assert len(rows) == 1 and rows[0]["status"] == "open" and rows[0]["ttc_cents"] == 72000
    lines = await bot.services.db.fetchall(
        "SELECT kind, quantity, unit_cents, total_cents FROM invoice_lines WHERE invoice_id = ?",
        (rows[0]["id"],),
    )
    assert [tuple(line) for line in lines] == [
        ("base", 1, 24000, 24000),
        ("resources", 4, 9000, 36000),
    ]
    payee = json.loads(rows[0]["payee_json"])
    assert payee["transfer"]["iban"].startswith("FR76")


async def test_confirm_pressed_twice_makes_one_invoice(chat, smtp, bot, telegram):
    await verify(chat, smtp)
    quote = (await to_quote(chat))[-1]
    _, data = chat.find_button("Confirmer", quote)
    # Two presses before the bot answers either (a double tap).
    await telegram.press(chat.user_id, quote["message_id"], data)
    await telegram.press(chat.user_id, quote["message_id"], data)
    await bot.idle()
    assert len(await invoices_of(bot)) == 1


async def test_two_contacts_confirming_at_the_same_moment_get_one_invoice(
    chat, smtp, bot, telegram
):
    other = Chat(telegram, bot, CLUB_USER_2)
    await verify(chat, smtp)
    await verify(other, smtp, kind="contact_email")
    first = (await to_quote(chat))[-1]
    second = (await to_quote(other))[-1]
    _, data_1 = chat.find_button("Confirmer", first)
    _, data_2 = other.find_button("Confirmer", second)
    await asyncio.gather(
        telegram.press(chat.user_id, first["message_id"], data_1),
        telegram.press(other.user_id, second["message_id"], data_2, chat_id=other.chat_id),
    )
    await bot.idle()
    rows = await invoices_of(bot)
    assert len(rows) == 1
    for person in (chat, other):
        assert rows[0]["number"] in person.last()["text"], person.transcript()


async def test_two_contacts_pressing_card_at_the_same_moment_get_the_same_link(
    chat, smtp, bot, telegram, stripe
):
    """Both send the same idempotency key; Stripe answers a request made while another with its
    key is executing with 409 `idempotency_key_in_use` (docs.stripe.com/idempotency). The bot
    makes one invoice's card links one at a time: the second waits and gets the first's link."""
    other = Chat(telegram, bot, CLUB_USER_2)
    await verify(chat, smtp)
    await verify(other, smtp, kind="contact_email")
    first = (await to_quote(chat))[-1]
    second = (await to_quote(other))[-1]
    _, data_1 = chat.find_button("Confirmer", first)
    _, data_2 = other.find_button("Confirmer", second)
    await telegram.press(chat.user_id, first["message_id"], data_1)
    await telegram.press(other.user_id, second["message_id"], data_2, chat_id=other.chat_id)
    await bot.idle()
    choice_1, choice_2 = chat.last(), other.last()
    _, card_1 = chat.find_button("Carte", choice_1)
    _, card_2 = other.find_button("Carte", choice_2)
    stripe.inject_fault("slow", count=1, delay=3.0)  # Stripe takes 3 s to make the session
    await asyncio.gather(
        telegram.press(chat.user_id, choice_1["message_id"], card_1),
        telegram.press(other.user_id, choice_2["message_id"], card_2, chat_id=other.chat_id),
    )
    await bot.idle()
    links = [url_button(person.last()) for person in (chat, other)]
    assert links[0] and links[0] == links[1], (chat.transcript(), other.transcript())
    for person in (chat, other):
        assert "indisponible" not in person.last()["text"], person.transcript()
    assert len(stripe.sessions) == 1
    assert not [r for r in stripe.requests if r["status"] == 409]


async def test_another_count_for_the_same_period_offers_to_replace_the_open_invoice(
    chat, smtp, bot
):
    await verify(chat, smtp)
    first = await to_invoice(chat)
    await chat.say("/menu")
    await chat.press("Renouveler")
    await chat.say("6")
    replies = await chat.press("Confirmer")
    assert first in replies[-1]["text"] and "remplacer" in replies[-1]["text"].lower()
    replies = await chat.press("Remplacer")
    second = NUMBER.search(replies[-1]["text"]).group(0)
    assert second != first and f"remplace {first}" in replies[-1]["text"]
    rows = await invoices_of(bot)
    assert [(r["number"], r["status"], r["resources"]) for r in rows] == [
        (first, "cancelled", 4),
        (second, "open", 6),
    ]
    assert rows[0]["replaced_by"] == rows[1]["id"]


async def test_a_quote_confirmed_after_its_period_was_paid_is_shown_again_not_issued(
    chat, smtp, bot
):
    """The quote says one period; the period is paid (a transfer recorded by staff) before the
    person confirms: confirming must not bill the year after without a word. The new quote is
    shown, saying it changed, and only a confirmation of that one issues the next period."""
    from bot.payments import record_payment

    await verify(chat, smtp)
    first = await to_invoice(chat)
    _, end = expected_period(bot, MERMOZ["subscription_ends"])
    await chat.say("/menu")
    await chat.press("Renouveler")
    quote = (await chat.say("6"))[-1]
    assert f"{end.year}" in quote["text"]
    paid = await record_payment(
        bot.services, first, "transfer", "staff:9001", bot=bot.runtime.app.bot
    )
    assert paid.status == "paid"
    replies = await chat.press("Confirmer", quote)
    text = replies[-1]["text"]
    assert "Le devis a changé" in text, chat.transcript()
    next_start, next_end = new_period(end, bot.services.clock.today())
    assert format_date(next_end, "fr") in text and format_date(end, "fr") in text
    rows = await invoices_of(bot)
    assert [(r["number"], r["status"]) for r in rows] == [(first, "paid")]
    replies = await chat.press("Confirmer")
    second = NUMBER.search(replies[-1]["text"]).group(0)
    rows = await invoices_of(bot)
    assert rows[-1]["number"] == second and rows[-1]["resources"] == 6
    assert rows[-1]["period_start"] == next_start.isoformat()


async def test_replacing_an_invoice_paid_meanwhile_shows_the_new_quote(chat, smtp, bot):
    """The same through "replace the open invoice": the open invoice is paid before the person
    presses Replace; nothing is cancelled or issued for a period they were not shown."""
    from bot.payments import record_payment

    await verify(chat, smtp)
    first = await to_invoice(chat)
    await chat.say("/menu")
    await chat.press("Renouveler")
    await chat.say("6")
    offer = (await chat.press("Confirmer"))[-1]
    assert "remplacer" in offer["text"].lower()
    await record_payment(bot.services, first, "cheque", "staff:9001", bot=bot.runtime.app.bot)
    replies = await chat.press("Remplacer", offer)
    assert "Le devis a changé" in replies[-1]["text"], chat.transcript()
    rows = await invoices_of(bot)
    assert [(r["number"], r["status"]) for r in rows] == [(first, "paid")]


async def test_the_changed_quote_is_said_in_english(chat_en, smtp, bot):
    from bot.payments import record_payment

    await verify(chat_en, smtp)
    await chat_en.press("Renew")
    await chat_en.press("(minimum)")
    first = NUMBER.search((await chat_en.press("Confirm"))[-1]["text"]).group(0)
    await chat_en.say("/menu")
    await chat_en.press("Renew")
    quote = (await chat_en.say("6"))[-1]
    await record_payment(bot.services, first, "transfer", "staff:9001", bot=bot.runtime.app.bot)
    replies = await chat_en.press("Confirm", quote)
    assert "The quote changed since it was shown" in replies[-1]["text"], chat_en.transcript()
    assert len(await invoices_of(bot)) == 1


async def test_my_invoices_lists_them_and_sends_the_document(chat, smtp, bot, telegram):
    await verify(chat, smtp)
    replies = await chat.press("Mes factures")
    assert "Aucune facture" in replies[0]["text"]
    number = await to_invoice(chat)
    await chat.say("/menu")
    replies = await chat.press("Mes factures")
    assert number in replies[-1]["text"] and "à payer" in replies[-1]["text"]
    replies = await chat.press(number)
    document = replies[-1]
    assert document["document"]["file_name"] == f"{number}.pdf"
    assert number in document["caption"] and "à payer avant le" in document["caption"]
    pdf = telegram.document_bytes(document)
    assert pdf.startswith(b"%PDF-")
    text = " ".join(pdf_text(pdf).split())
    assert f"Facture n° {number}" in text and "720,00" in text and "Aaéroclub" not in text
    assert MERMOZ["name"] in text and "FR76 3000 6000" in text
    xml = embedded_xml(pdf).decode()
    assert f"<ram:ID>{number}</ram:ID>" in xml and "<ram:GrandTotalAmount>720.00<" in xml
    assert any("Carte" in label for label in chat.buttons(document))


async def test_a_replaced_invoice_shows_its_credit_note_in_my_invoices(chat, smtp, bot, telegram):
    await verify(chat, smtp)
    first = await to_invoice(chat)
    await chat.say("/menu")
    await chat.press("Renouveler")
    await chat.say("6")
    await chat.press("Confirmer")
    await chat.press("Remplacer")
    await chat.say("/menu")
    listing = (await chat.press("Mes factures"))[-1]
    assert "Avoir AV-2026-000001" in listing["text"] and f"annule {first}" in listing["text"]
    document = (await chat.press("AV-2026-000001"))[-1]
    assert document["document"]["file_name"] == "AV-2026-000001.pdf"
    assert f"annule la facture {first}" in document["caption"]
    xml = embedded_xml(telegram.document_bytes(document)).decode()
    assert "<ram:TypeCode>381</ram:TypeCode>" in xml and first in xml


# --- paying -----------------------------------------------------------------------------------


async def test_pay_by_card_with_the_test_card_moves_the_subscription_on(
    chat, smtp, bot, stripe, telegram
):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    link = await card_link(chat)
    text = chat.last()["text"]
    assert number in text and "valable jusqu’au" in text
    session = stripe.session(session_id(link))
    assert session["client_reference_id"] == number
    key = session["metadata"].pop("invoice_key")  # the invoice's random payment key
    assert len(key) == 24 and session["metadata"] == {"invoice": number, "club": "mermoz"}
    assert session["mode"] == "payment" and session["amount_total"] == 72000
    assert session["success_url"].endswith(f"?start=paid_{number}")
    assert session["cancel_url"].endswith(f"?start=pay_{number}")
    assert sum(item["amount_total"] for item in session["line_items"]["data"]) == 72000
    # Stripe wants less than 24 h after creation on its clock: an hour's margin for skew.
    # (`created` is Stripe's second on receipt: the request may cross into the next second.)
    assert 23 * 3600 - 2 <= session["expires_at"] - session["created"] <= 23 * 3600
    assert stripe.requests[-1]["idempotency_key"] == f"checkout-{number}-{key}-1"

    assert await stripe.pay(session_id(link), card="4242424242424242")
    await settled(bot, stripe)
    receipt = chat.last()["text"]
    assert "Paiement reçu" in receipt and number in receipt and "720,00" in receipt
    _start, end = expected_period(bot, MERMOZ["subscription_ends"])
    row = await club_row(bot)
    assert row["subscription_ends"] == end.isoformat()
    assert row["subscribed_resources"] == 4
    staff = telegram.bot_messages(STAFF_CHAT)[-1]["text"]
    assert number in staff and "payée" in staff and "carte" in staff
    invoice = (await invoices_of(bot))[0]
    assert invoice["status"] == "paid"
    payment = await bot.services.db.fetchone("SELECT * FROM payments")
    assert payment["method"] == "card" and payment["amount_cents"] == 72000
    # Right after it, "Renew" says the subscription already runs to its new end.
    await chat.say("/menu")
    replies = await chat.press("Renouveler")
    text = replies[-1]["text"]
    assert "Déjà renouvelé" in text and number in text
    assert f"jusqu’au {format_date(end, 'fr')}" in text


async def test_a_declined_card_leaves_the_invoice_open_and_the_link_usable(chat, smtp, bot, stripe):
    await verify(chat, smtp)
    await to_invoice(chat)
    link = await card_link(chat)
    assert not await stripe.pay(session_id(link), card="4000000000000002")
    await settled(bot, stripe)
    assert (await invoices_of(bot))[0]["status"] == "open"
    assert "Paiement reçu" not in chat.transcript()
    async with httpx.AsyncClient() as client:
        page = await client.get(link)
    assert page.status_code == 200
    assert await stripe.pay(session_id(link))
    await settled(bot, stripe)
    assert "Paiement reçu" in chat.last()["text"]


async def test_another_way_to_pay_under_the_card_link_leaves_the_link(chat, smtp, bot, stripe):
    """The card link's message keeps its link button when a button under it is pressed: only
    the buttons that act go (a message saying "here is your payment link" without the link)."""
    await verify(chat, smtp)
    await to_invoice(chat)
    replies = await chat.press("Carte")
    message = replies[-1]
    link = url_button(message)
    await chat.press("Autre moyen", message)
    kept = chat.message(message["message_id"])
    rows = (kept.get("reply_markup") or {}).get("inline_keyboard", [])
    assert [b.get("url") for row in rows for b in row] == [link], kept
    assert await stripe.pay(session_id(link))
    await settled(bot, stripe)
    assert "Paiement reçu" in chat.last()["text"]


async def test_asking_again_gives_the_same_link_then_a_new_one_after_expiry(
    chat, smtp, bot, stripe
):
    await verify(chat, smtp)
    await to_invoice(chat)
    first = await card_link(chat)
    await chat.press("Autre moyen")
    again = await card_link(chat)
    assert again == first and "de nouveau" in chat.last()["text"]
    assert len(stripe.sessions) == 1
    bot.services.clock.advance(dt.timedelta(hours=24, minutes=1))
    stripe.advance_clock(24 * 3600 + 60)
    await settled(bot, stripe)
    await chat.press("Autre moyen")
    fresh = await card_link(chat)
    assert fresh != first and len(stripe.sessions) == 2
    assert stripe.requests[-1]["idempotency_key"].endswith("-2")
    assert await stripe.pay(session_id(fresh))
    await settled(bot, stripe)
    assert "Paiement reçu" in chat.last()["text"]
    outcomes = await bot.services.db.fetchall(
        "SELECT type, outcome FROM stripe_events ORDER BY type"
    )
    assert [tuple(r) for r in outcomes] == [
        ("checkout.session.completed", "paid"),
        ("checkout.session.expired", "expired"),
    ]


async def test_transfer_instructions_and_telling_staff(chat, smtp, bot, telegram):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    replies = await chat.press("Virement")
    text = replies[-1]["text"]
    for expected in ("OPENFLYERS SAS", "FR76 3000 6000 0112 3456 7890 189", "AGRIFRPPXXX", number):
        assert expected in text
    assert "frais de virement sont à votre charge" in text
    replies = await chat.press("J’ai envoyé")
    assert "prévenue" in replies[0]["text"]
    staff = telegram.bot_messages(STAFF_CHAT)[-1]["text"]
    assert number in staff and "virement" in staff and f"/paid {number} transfer" in staff


async def test_cheque_instructions(chat, smtp, bot):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    replies = await chat.press("Chèque")
    text = replies[-1]["text"]
    for expected in ("OpenFlyers SAS", "12 rue de l'Aérodrome", "31700 Blagnac", number, "au dos"):
        assert expected in text or expected.replace("'", "&#39;") in text
    assert "délai postal" in text


async def test_staff_style_record_payment_is_idempotent_and_refuses_cancelled(
    chat, smtp, bot, telegram
):
    from bot.payments import record_payment

    await verify(chat, smtp)
    number = await to_invoice(chat)
    services = bot.services
    app_bot = bot.runtime.app.bot
    result = await record_payment(services, number, "cheque", "staff:9001", bot=app_bot)
    assert result.status == "paid"
    again = await record_payment(services, number, "transfer", "staff:9002", bot=app_bot)
    assert again.status == "already_paid" and again.payment.method == "cheque"
    assert await services.db.fetchval("SELECT count(*) FROM payments") == 1
    receipts = [m for m in telegram.bot_messages(chat.chat_id) if "Paiement reçu" in m["text"]]
    assert len(receipts) == 1 and "chèque" in receipts[0]["text"]


# --- the webhook ------------------------------------------------------------------------------


def completed_event(stripe, number: str) -> dict:
    return next(
        e
        for e in stripe.events
        if e["type"] == "checkout.session.completed"
        and e["data"]["object"]["metadata"].get("invoice") == number
    )


@pytest.mark.parametrize("signature", ["forged", "missing", "stale", "t=1,v1=deadbeef"])
async def test_bad_or_missing_signature_is_refused_and_changes_nothing(
    chat, smtp, bot, stripe, signature
):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    link = await card_link(chat)
    # A genuine-looking completed event, but not signed with our secret.
    event = {
        "id": "evt_forged_000000000000001",
        "object": "event",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": session_id(link),
                "object": "checkout.session",
                "status": "complete",
                "payment_status": "paid",
                "amount_total": 72000,
                "currency": "eur",
                "client_reference_id": number,
                "metadata": {"invoice": number, "club": "mermoz"},
            }
        },
    }
    attempt = await stripe.send_event(event, signature=signature)
    assert attempt["status"] == 400
    assert await bot.services.db.fetchval("SELECT count(*) FROM stripe_events") == 0
    assert (await invoices_of(bot))[0]["status"] == "open"


async def test_an_event_replayed_five_times_is_processed_once(chat, smtp, bot, stripe, telegram):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    link = await card_link(chat)
    assert await stripe.pay(session_id(link))
    await settled(bot, stripe)
    event = completed_event(stripe, number)
    for _ in range(5):
        attempt = await stripe.send_event(event)
        assert attempt["status"] == 200
    await settled(bot, stripe)
    assert await bot.services.db.fetchval("SELECT count(*) FROM payments") == 1
    receipts = [m for m in telegram.bot_messages(chat.chat_id) if "Paiement reçu" in m["text"]]
    assert len(receipts) == 1
    _start, end = expected_period(bot, MERMOZ["subscription_ends"])
    assert (await club_row(bot))["subscription_ends"] == end.isoformat()


async def test_duplicate_deliveries_and_expired_after_completed_leave_it_paid(
    chat, smtp, bot, stripe
):
    stripe.duplicate_deliveries = 3
    await verify(chat, smtp)
    number = await to_invoice(chat)
    link = await card_link(chat)
    assert await stripe.pay(session_id(link))
    await settled(bot, stripe)
    # An out-of-order "expired" for the same session, signed properly.
    completed = completed_event(stripe, number)
    expired = json.loads(json.dumps(completed))
    expired.update(id="evt_late_expired_0000000001", type="checkout.session.expired")
    expired["data"]["object"].update(status="expired", payment_status="unpaid")
    assert (await stripe.send_event(expired))["status"] == 200
    await settled(bot, stripe)
    assert (await invoices_of(bot))[0]["status"] == "paid"
    status = await bot.services.db.fetchval("SELECT status FROM checkout_sessions")
    assert status == "complete"
    assert await bot.services.db.fetchval("SELECT count(*) FROM payments") == 1


async def test_webhook_arriving_before_the_bot_answered(chat, smtp, bot, stripe, telegram):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    target, data = chat.find_button("Carte")

    async def pay_as_soon_as_created():
        while not stripe.sessions:
            await asyncio.sleep(0.001)
        assert await stripe.pay(next(iter(stripe.sessions)))

    payer = asyncio.create_task(pay_as_soon_as_created())
    await telegram.press(chat.user_id, target["message_id"], data)
    await payer
    await bot.idle()
    await settled(bot, stripe)
    assert (await invoices_of(bot))[0]["status"] == "paid"
    receipts = [m for m in telegram.bot_messages(chat.chat_id) if "Paiement reçu" in m["text"]]
    assert len(receipts) == 1 and number in receipts[0]["text"]


async def test_a_missed_webhook_is_caught_by_reconcile(chat, smtp, bot, stripe):
    from bot.payments import reconcile

    await verify(chat, smtp)
    await to_invoice(chat)
    link = await card_link(chat)
    stripe.webhook_url = None  # Stripe cannot reach us
    assert await stripe.pay(session_id(link))
    await asyncio.sleep(0.1)
    assert (await invoices_of(bot))[0]["status"] == "open"
    summary = await reconcile(bot.services, bot.runtime.app.bot)
    assert summary.paid == 1 and summary.errors == 0
    assert (await invoices_of(bot))[0]["status"] == "paid"
    await bot.idle()
    assert "Paiement reçu" in chat.last()["text"]
    summary = await reconcile(bot.services, bot.runtime.app.bot)
    assert summary.paid == 0


async def test_bot_restarted_between_invoice_and_payment(chat, smtp, bot, stripe):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    link = await card_link(chat)
    await bot.restart()
    await chat.press("Autre moyen")  # the conversation survived the restart
    again = await card_link(chat)  # and so did the stored session
    assert again == link
    assert await stripe.pay(session_id(link))
    await settled(bot, stripe)
    assert "Paiement reçu" in chat.last()["text"] and number in chat.last()["text"]


async def test_events_stored_but_not_processed_are_processed_at_start_up(chat, smtp, bot, stripe):
    await verify(chat, smtp)
    await to_invoice(chat)
    link = await card_link(chat)
    await bot.restart()
    # The bot took the event (200) and died before processing it: the row is all that is left.
    stripe.webhook_url = None
    assert await stripe.pay(session_id(link))
    event = stripe.events[-1]
    await bot.services.db.execute(
        "INSERT INTO stripe_events (id, type, payload) VALUES (?, ?, ?)",
        (event["id"], event["type"], json.dumps(event)),
    )
    await bot.restart()
    await settled(bot, stripe)
    assert (await invoices_of(bot))[0]["status"] == "paid"
    assert "Paiement reçu" in chat.last()["text"]


async def test_stripe_unreachable_gives_a_clear_message_and_nothing_half_done(
    chat, smtp, bot, stripe
):
    await verify(chat, smtp)
    await to_invoice(chat)
    stripe.inject_fault("500", count=10)
    replies = await chat.press("Carte")
    assert "indisponible" in replies[-1]["text"] and "Rien n’a été débité" in replies[-1]["text"]
    assert await bot.services.db.fetchval("SELECT count(*) FROM checkout_sessions") == 0
    stripe._faults.clear()
    link = await card_link(chat)
    assert link.startswith(stripe.base_url)


async def test_renew_start_button_opens_the_count_step_from_any_step(chat, smtp, bot, telegram):
    await verify(chat, smtp)
    await chat.press("Renouveler")
    await chat.press("(minimum)")  # in the quote step now
    # A reminder arrives with a "Renew now" button (issue 5 sends this callback data).
    message_id = await send_button(bot, chat.chat_id, "Renouveler maintenant", "renew:start")
    await telegram.press(chat.user_id, message_id, "renew:start")
    await bot.idle()
    assert "Pour combien de ressources" in chat.last()["text"]
    replies = await chat.say("5")
    assert "Devis" in replies[-1]["text"] and "5 ressources" in replies[-1]["text"]


async def test_start_payload_back_from_stripe(chat, smtp, bot, stripe):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    replies = await chat.say(f"/start pay_{number}")
    assert number in replies[-1]["text"] and "Comment souhaitez-vous payer" in replies[-1]["text"]
    link = await card_link(chat)
    assert await stripe.pay(session_id(link))
    await settled(bot, stripe)
    replies = await chat.say(f"/start paid_{number}")
    assert "est confirmé" in replies[0]["text"]


async def test_someone_elses_invoice_is_refused(chat, smtp, bot, telegram):
    await verify(chat, smtp)
    number = await to_invoice(chat)
    invoice_id = (await invoices_of(bot))[0]["id"]
    other = Chat(telegram, bot, CLUB_USER_2)
    await verify(other, smtp, "icare")
    replies = await other.say(f"/start pay_{number}")
    assert "Je ne trouve pas cette facture" in replies[0]["text"]
    message_id = await send_button(bot, other.chat_id, "Payer", f"pay:{invoice_id}:card")
    await telegram.press(other.user_id, message_id, f"pay:{invoice_id}:card")
    await bot.idle()
    assert "Je ne trouve pas cette facture" in other.last()["text"]


# --- as real processes: kill -9, and the reconcile command ------------------------------------


class Person:
    """A club contact talking to `ofbot run` in a subprocess (no in-process harness to wait on)."""

    def __init__(self, telegram, user_id: int = CLUB_USER_FR):
        self.telegram = telegram
        self.user_id = user_id

    def _last(self) -> int:
        return max((m["message_id"] for m in self.telegram.messages(self.user_id)), default=0)

    async def say(self, text: str, contains: str, timeout: float = 15.0) -> dict:
        last = self._last()
        await self.telegram.send_text(self.user_id, text)
        return await self.telegram.wait_for_bot_message(
            self.user_id, after=last, contains=contains, timeout=timeout
        )

    async def press(self, label: str, contains: str, timeout: float = 15.0) -> dict:
        """Press; the answer is a new message or the pressed one edited in place."""
        last = self._last()
        for message in reversed(self.telegram.bot_messages(self.user_id)):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if label in button["text"] and "callback_data" in button:
                        await self.telegram.press(
                            self.user_id, message["message_id"], button["callback_data"]
                        )
                        return await self.telegram.wait_for_bot_message(
                            self.user_id,
                            after=last,
                            contains=contains,
                            timeout=timeout,
                            pressed=message,
                        )
        raise AssertionError(f"no button {label!r}:\n{self.telegram.transcript(self.user_id)}")


async def test_killed_between_invoice_and_payment_then_started_again(
    bot_process, telegram, smtp, stripe
):
    from tests.conftest import read_code

    await bot_process.start()
    stripe.webhook_url = bot_process.url + "/stripe/webhook"
    person = Person(telegram)
    await person.say("/start", "l’adresse de la plateforme")
    await person.say("mermoz", MERMOZ["name"])
    await person.say(MERMOZ["structure_email"], "6 chiffres")
    await person.say(await read_code(smtp, MERMOZ["structure_email"]), "Que voulez-vous faire")
    await person.press("Renouveler", "Pour combien")
    await person.press("(minimum)", "Devis")
    issued = await person.press("Confirmer", "Comment souhaitez-vous payer")
    number = NUMBER.search(issued["text"]).group(0)
    link = url_button(await person.press("Carte", "lien de paiement"))
    await bot_process.kill()

    # Paid while the bot is down: Stripe's deliveries fail, then the bot comes back.
    assert await stripe.pay(session_id(link))
    await bot_process.start()
    receipt = await telegram.wait_for_bot_message(
        CLUB_USER_FR, contains="Paiement reçu", timeout=30
    )
    assert number in receipt["text"]
    # The conversation survived too: asking for the card again says it is paid.
    await person.say("/menu", "Que voulez-vous faire")
    await person.press("Mes factures", number)
    await asyncio.sleep(1)
    receipts = [
        m for m in telegram.bot_messages(CLUB_USER_FR) if "Paiement reçu" in (m.get("text") or "")
    ]
    assert len(receipts) == 1
    assert await bot_process.terminate() == 0
    log = bot_process.log_path.read_text()
    for secret in ("sk_test_sandbox", "whsec_sandbox", bot_process.settings.telegram_token):
        assert secret not in log


async def test_reconcile_command(bot, chat, smtp, stripe, tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT, bot_environment

    def ofbot_reconcile(**env_changes) -> subprocess.CompletedProcess:
        env = bot_environment(bot.runtime.settings)
        env.update(env_changes)
        env = {k: v for k, v in env.items() if v is not None}
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", "payments", "reconcile"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    # The command under test must find the paid session itself: the in-process bot's own
    # reconcile job (5 s after start) would settle it first on a loaded machine.
    for job in bot.runtime.app.job_queue.get_jobs_by_name("reconcile"):
        job.schedule_removal()
    await verify(chat, smtp)
    await to_invoice(chat)
    link = await card_link(chat)
    stripe.webhook_url = None  # the webhook never arrives
    assert await stripe.pay(session_id(link))

    missing = await asyncio.to_thread(ofbot_reconcile, OFBOT_STRIPE_SECRET_KEY=None)
    assert missing.returncode == 2
    assert (
        missing.stderr.strip() == "ofbot: setting OFBOT_STRIPE_SECRET_KEY: is required and not set"
    )

    result = await asyncio.to_thread(ofbot_reconcile)
    assert result.returncode == 0, result.stderr
    assert "paid: 1" in result.stdout and "errors: 0" in result.stdout
    assert (await invoices_of(bot))[0]["status"] == "paid"
    receipt = await bot.telegram.wait_for_bot_message(chat.chat_id, contains="Paiement reçu")
    assert "720,00" in receipt["text"]
    again = await asyncio.to_thread(ofbot_reconcile)
    assert "paid: 0" in again.stdout


async def test_below_the_minimum_refusal_has_a_way_back(chat, smtp, bot):
    # SPEC §3: every step has a way back, the refusal of a too-low count too.
    await verify(chat, smtp)
    await chat.press("Renouveler")
    await chat.say("3")
    replies = await chat.press("Retour")
    assert "Renouveler" in str(replies[-1].get("reply_markup"))


async def test_invoice_list_wording_in_english(chat_en, smtp, bot):
    await verify(chat_en, smtp, "dublin", kind="contact_email")
    await chat_en.press("Renew")
    await chat_en.say("6")
    await chat_en.press("Confirm")
    await chat_en.say("/menu")
    replies = await chat_en.press("My invoices")
    text = replies[-1]["text"]
    assert "to pay to pay" not in text
    assert "or an unpaid invoice to pay it" in text
