"""The conversation's rough edges a newcomer met (issue 17, items 7–14), each as the newcomer
met it: text at the e-mail step, help from a lock, replacing an invoice whose transfer was
announced, the customer-account address, /language, French club names after "de"."""

from __future__ import annotations

import re

from tests.conftest import STAFF_CHAT, Chat, sample_club, verify

MERMOZ = sample_club("mermoz")
NUMBER = re.compile(r"OF-\d{4}-\d{6}")


def staff_texts(telegram) -> list[str]:
    return [m.get("text") or "" for m in telegram.bot_messages(STAFF_CHAT)]


async def test_text_that_is_no_address_gets_help_and_uses_no_try(chat: Chat):
    await chat.say("/start")
    await chat.say("mermoz")
    for text in ("retour", "pas un email", "je ne sais pas", "???", "aide", "non"):
        replies = await chat.say(text)
        assert "ne compte pas comme un essai" in replies[-1]["text"], chat.transcript()
        assert "bloquée" not in replies[-1]["text"]
    # Six non-addresses later, the first wrong address is the first try of five.
    replies = await chat.say("quelqu.un@ailleurs.example.org")
    assert "Encore 4 essais" in replies[-1]["text"]


async def test_a_locked_person_who_asks_for_help_gets_their_next_message_to_staff(
    chat: Chat, telegram, alice
):
    await chat.say("/start")
    await chat.say("mermoz")
    for attempt in range(5):
        replies = await chat.say(f"faux{attempt}@ailleurs.example.org")
    assert "bloquée" in replies[-1]["text"]
    replies = await chat.press("équipe")
    assert "Écrivez-lui ici" in replies[-1]["text"]
    replies = await chat.say("Notre ancienne présidente avait l’adresse du bureau.")
    assert "Transmis" in replies[-1]["text"] and "bloquée" not in replies[-1]["text"]
    relayed = [t for t in staff_texts(telegram) if "Notre ancienne présidente" in t]
    assert relayed and "non vérifié" in relayed[0], telegram.transcript(STAFF_CHAT)
    # Staff answer by replying to it; the answer reaches the locked person.
    message = next(
        m
        for m in telegram.bot_messages(STAFF_CHAT)
        if "Notre ancienne présidente" in (m.get("text") or "")
    )
    await telegram.send_text(
        alice.user_id,
        "Nous vous appelons.",
        chat_id=STAFF_CHAT,
        reply_to_message_id=message["message_id"],
    )
    await chat.bot.idle()
    assert "Nous vous appelons." in chat.last()["text"]
    # "Back" returns to the e-mail step (the lock still holds there).
    replies = await chat.press("Retour")
    assert "adresses e-mail de la fiche client" in replies[-1]["text"]


async def test_replacing_an_invoice_with_an_announced_transfer_warns_and_tells_staff(
    chat: Chat, smtp, telegram
):
    await verify(chat, smtp)
    await chat.press("Renouveler")
    await chat.press("(minimum)")
    replies = await chat.press("Confirmer")
    first = NUMBER.search(replies[-1]["text"]).group(0)
    await chat.press("Virement")
    await chat.press("J’ai envoyé")
    await chat.say("/menu")
    await chat.press("Renouveler")
    await chat.say("6")
    replies = await chat.press("Confirmer")
    text = replies[-1]["text"]
    assert first in text and "⚠️ Vous nous avez signalé" in text and "un virement envoyé" in text
    replies = await chat.press("Remplacer")
    second = NUMBER.search(replies[-1]["text"]).group(0)
    await chat.bot.idle()
    told = [t for t in staff_texts(telegram) if f"a remplacé la facture {first}" in t]
    assert told and second in told[0] and "virement" in told[0], telegram.transcript(STAFF_CHAT)


async def test_replacing_an_invoice_nobody_announced_a_payment_for_is_not_flagged(
    chat: Chat, smtp, telegram
):
    await verify(chat, smtp)
    await chat.press("Renouveler")
    await chat.press("(minimum)")
    await chat.press("Confirmer")
    await chat.say("/menu")
    await chat.press("Renouveler")
    await chat.say("6")
    replies = await chat.press("Confirmer")
    assert "⚠️" not in replies[-1]["text"]
    await chat.press("Remplacer")
    await chat.bot.idle()
    assert not [t for t in staff_texts(telegram) if "a remplacé la facture" in t]


async def test_password_help_gives_the_customer_account_login_page(chat: Chat, smtp, bot):
    await verify(chat, smtp)
    replies = await chat.press("Mot de passe")
    url = bot.services.catalogue.customer_account_url
    assert url.startswith("https://")
    assert url in replies[-1]["text"]
    buttons = [b for row in replies[-1]["reply_markup"]["inline_keyboard"] for b in row]
    assert any(b.get("url") == url for b in buttons)


async def test_language_switch_shows_the_menu_in_the_new_language(chat: Chat, smtp):
    await verify(chat, smtp)
    await chat.say("/language")
    replies = await chat.press("English")
    assert "continue in English" in replies[0]["text"]
    assert "What would you like to do?" in replies[-1]["text"]
    assert "Renew" in " ".join(chat.buttons(replies[-1]))


async def test_language_switch_at_the_code_step_asks_for_the_code_again(chat: Chat, smtp):
    await chat.say("/start")
    await chat.say("mermoz")
    await chat.say(MERMOZ["structure_email"])
    await chat.say("/language")
    replies = await chat.press("English")
    assert "6-digit code" in replies[-1]["text"]


async def test_french_club_names_after_de_take_their_article(chat: Chat, smtp):
    menu = await verify(chat, smtp)
    assert menu
    done = [m["text"] for m in chat.telegram.bot_messages(chat.chat_id) if "vérifié" in m["text"]]
    assert "un contact de l’Aéroclub Jean Mermoz" in done[-1]
    mail = smtp.mailbox.messages_to(MERMOZ["structure_email"])[-1]
    assert "compte client OpenFlyers de l’Aéroclub Jean Mermoz (mermoz)" in mail["text"]


async def test_the_personal_login_explanation_names_the_personal_login_once(chat: Chat):
    await chat.say("/start")
    replies = await chat.say("jean.dupont")
    assert replies[-1]["text"].count("identifiant personnel") == 1


async def test_language_switch_in_a_renewal_shows_its_quote_in_the_new_language(chat: Chat, smtp):
    await verify(chat, smtp)
    await chat.press("Renouveler")
    await chat.press("(minimum)")
    await chat.say("/language")
    replies = await chat.press("English")
    assert "Quote — Aéroclub Jean Mermoz" in replies[-1]["text"]
    replies = await chat.press("Confirm and create the invoice")
    assert NUMBER.search(replies[-1]["text"]) and "Invoice created" in replies[-1]["text"]


async def test_french_club_names_take_their_article_after_pour_and_as_a_contact(
    chat: Chat, smtp, bot, alice
):
    """Tester's finding: "Rappels … désactivés pour Aéroclub Jean Mermoz" lacked its "l’"."""
    await verify(chat, smtp)
    off = (await chat.say("/reminders"))[-1]["text"]
    assert "désactivés pour l’Aéroclub Jean Mermoz" in off, off
    on = (await chat.say("/reminders"))[-1]["text"]
    assert "activés pour l’Aéroclub Jean Mermoz" in on, on
    # Revoked by staff: "n’est plus un contact vérifié de l’Aéroclub…".
    replies = await alice.say("/club mermoz")
    await alice.press("Retirer", replies[-1])
    told = chat.last()["text"]
    assert "contact vérifié de l’Aéroclub Jean Mermoz" in told, told
