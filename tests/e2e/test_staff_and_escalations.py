"""Password help, billed manual resets, e-mail changes and the staff side (SPEC §3.5–3.6, §4) end to
end: club chats, two staff users and a non-staff member in the staff group, Stripe's test card."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from tests.conftest import (
    CLUB_USER_2,
    CLUB_USER_FR,
    OUTSIDER,
    STAFF_CHAT,
    STAFF_USERS,
    Chat,
    sample_club,
    verify,
)

LESAILES = sample_club("lesailes")  # First Price: the intervention is billed
MERMOZ = sample_club("mermoz")  # Business: free
NUMBER = re.compile(r"OF-\d{4}-\d{6}")
REQUEST = re.compile(r"(?:n°|no\.) (\d+)")


async def settled(bot, stripe, timeout: float = 10.0) -> None:
    """Every webhook delivered and every stored Stripe event processed."""
    await stripe.drain(timeout)
    async with asyncio.timeout(timeout):
        while await bot.services.db.fetchval(
            "SELECT count(*) FROM stripe_events WHERE processed_at IS NULL"
        ):
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)


def card_of(telegram, escalation_id: int) -> dict:
    """The staff group's card of one request, as it reads now (edits applied)."""
    for message in telegram.bot_messages(STAFF_CHAT):
        if (message.get("text") or "").startswith(f"🛎 Demande n° {escalation_id} "):
            return message
    raise AssertionError(telegram.transcript(STAFF_CHAT))


def url_button(message: dict) -> str:
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for button in row:
            if "url" in button:
                return button["url"]
    raise AssertionError(f"no URL button on {message}")


async def ask_manual_reset(chat: Chat) -> list[dict]:
    await chat.press("Mot de passe")
    return await chat.press("aucune des deux")


async def confirm_request(chat: Chat, label: str = "Confirmer la demande") -> int:
    replies = await chat.press(label)
    match = REQUEST.search(replies[0]["text"]) or REQUEST.search(replies[-1]["text"])
    assert match, chat.transcript()
    return int(match.group(1))


async def audit(bot, action: str) -> list[dict]:
    rows = await bot.services.db.fetchall(
        "SELECT * FROM audit WHERE action = ? ORDER BY id", (action,)
    )
    return [dict(row) for row in rows]


async def test_password_help_explains_the_forgotten_password_link_without_the_addresses(
    chat, smtp, bot
):
    await verify(chat, smtp, "lesailes")
    replies = await chat.press("Mot de passe")
    text = replies[-1]["text"]
    assert "Mot de passe oublié ?" in text and "lesailes" in text and "•••" in text
    assert LESAILES["structure_email"] not in text and LESAILES["contact_email"] not in text
    assert any("aucune des deux" in label for label in chat.buttons(replies[-1]))
    replies = await chat.press("Retour")  # a way back
    assert "Renouveler" in " ".join(chat.buttons(replies[-1]))


async def test_first_price_manual_reset_is_paid_by_card_then_taken_and_done(
    chat, smtp, bot, stripe, telegram, alice
):
    await verify(chat, smtp, "lesailes")
    replies = await ask_manual_reset(chat)
    offer = replies[-1]["text"]
    assert "30,00" in offer and "36,00" in offer and "First Price" in offer  # the fee, before
    assert await bot.services.db.fetchval("SELECT count(*) FROM invoices") == 0
    escalation_id = await confirm_request(chat)
    opened = chat.last()
    number = NUMBER.search(opened["text"]).group(0)
    assert any("Payer" in label for label in chat.buttons(opened))

    card = card_of(telegram, escalation_id)
    assert LESAILES["name"] in card["text"] and "First Price" in card["text"]
    assert "Frais : ⏳ dus" in card["text"] and number in card["text"]
    assert "à prendre" in card["text"] and "Jeanne" in card["text"]
    assert [b for row in card["reply_markup"]["inline_keyboard"] for b in row]

    await alice.press("Fait", card)  # not before the fee is paid
    assert "pas encore payés" in telegram.callback_answers[-1]["text"]
    assert "à prendre" in card_of(telegram, escalation_id)["text"]

    await chat.press("Payer")
    link = url_button((await chat.press("Carte"))[-1])
    assert await stripe.pay(link.rstrip("/").rsplit("/", 1)[1], card="4242424242424242")
    await settled(bot, stripe)
    card = await telegram.wait_for_edit(STAFF_CHAT, card["message_id"], contains="✅ payés")
    told = [m["text"] for m in telegram.bot_messages(CLUB_USER_FR)]
    assert any(f"Paiement reçu pour votre demande n° {escalation_id}" in t for t in told)

    await alice.press("Je prends", card)
    card = card_of(telegram, escalation_id)
    assert "pris par Alice" in card["text"]
    assert "prise en charge" in chat.last()["text"]

    await alice.press("Fait", card)
    card = card_of(telegram, escalation_id)
    assert "traité par Alice" in card["text"] and "✅ payés" in card["text"]
    assert not (card.get("reply_markup") or {}).get("inline_keyboard")
    assert f"demande n° {escalation_id} est traitée" in chat.last()["text"]
    actions = [row["action"] for row in await bot.services.db.fetchall("SELECT action FROM audit")]
    for action in ("escalation.open", "invoice.issued", "invoice.paid", "escalation.fee_paid"):
        assert action in actions
    [done] = await audit(bot, "escalation.done")
    assert done["actor"] == f"staff:{STAFF_USERS[0]}"


async def test_business_manual_reset_is_free(chat, smtp, bot, telegram, alice):
    await verify(chat, smtp, "mermoz")
    replies = await ask_manual_reset(chat)
    assert "gratuite" in replies[-1]["text"] and "€" not in replies[-1]["text"]
    escalation_id = await confirm_request(chat)
    assert not any("Payer" in label for label in chat.buttons(chat.last()))
    card = card_of(telegram, escalation_id)
    assert "Frais : gratuit" in card["text"] and "Business" in card["text"]
    await alice.press("Fait", card)  # free: done without taking first is allowed
    assert "traité par Alice" in card_of(telegram, escalation_id)["text"]
    assert "traitée" in chat.last()["text"]
    assert await bot.services.db.fetchval("SELECT count(*) FROM invoices") == 0


async def test_a_fee_that_changed_after_it_was_shown_is_shown_again_before_billing(
    chat, smtp, bot, telegram
):
    """Shown free (Business); the club's record moves to First Price (a sync from the platform)
    before the person confirms: nothing is opened or billed on the old terms, the new price is
    shown to confirm."""
    await verify(chat, smtp, "mermoz")
    offer = (await ask_manual_reset(chat))[-1]
    assert "gratuite" in offer["text"]
    await bot.services.db.execute(
        "UPDATE clubs SET plan = ? WHERE subdomain = 'mermoz'", (LESAILES["plan"],)
    )
    replies = await chat.press("Confirmer la demande", offer)
    text = replies[-1]["text"]
    assert "a changé depuis son affichage" in text and "36,00" in text, chat.transcript()
    assert await bot.services.db.fetchval("SELECT count(*) FROM escalations") == 0
    assert await bot.services.db.fetchval("SELECT count(*) FROM invoices") == 0
    await confirm_request(chat)
    assert await bot.services.db.fetchval("SELECT count(*) FROM invoices") == 1


async def test_confirming_twice_opens_one_request(chat, smtp, bot, telegram):
    await verify(chat, smtp, "mermoz")
    replies = await ask_manual_reset(chat)
    offer = replies[-1]
    _, data = chat.find_button("Confirmer la demande", offer)
    for _ in range(2):  # a double press: both reach the bot before it answers
        await telegram.press(CLUB_USER_FR, offer["message_id"], data)
    await bot.idle()
    first = await bot.services.db.fetchval("SELECT id FROM escalations")
    assert chat.transcript().count(f"Demande n° {first} transmise") == 1
    await chat.press("Menu")  # and asking again later from the menu
    await ask_manual_reset(chat)
    replies = await chat.press("Confirmer la demande")
    assert f"n° {first}" in replies[-1]["text"] and "déjà en cours" in replies[-1]["text"]
    assert "Vous serez prévenu ici à chaque étape" in replies[-1]["text"]
    assert await bot.services.db.fetchval("SELECT count(*) FROM escalations") == 1
    cards = [m for m in telegram.bot_messages(STAFF_CHAT) if "🛎" in (m.get("text") or "")]
    assert len(cards) == 1


async def test_a_request_another_contact_opened_promises_no_news_here(
    chat, smtp, bot, telegram, alice
):
    """Each step of a request is told to the chat that asked (escalations.tell_club). A second
    contact asking the same was told « Vous serez prévenu ici à chaque étape » and then heard
    nothing when staff took it."""
    await verify(chat, smtp, "mermoz")
    other = Chat(telegram, bot, CLUB_USER_2)
    await verify(other, smtp, "mermoz", "contact_email")
    await ask_manual_reset(chat)
    first = await confirm_request(chat)
    await ask_manual_reset(other)
    replies = await other.press("Confirmer la demande")
    text = replies[-1]["text"]
    assert f"n° {first}" in text and "déjà en cours" in text, other.transcript()
    assert "Vous serez prévenu ici" not in text and "autre conversation" in text, text


async def test_email_change_approved_changes_the_record_with_an_audit_row(
    chat_en, smtp, bot, telegram, alice, bruno
):
    chat = chat_en  # the contact reads English; staff read French
    await verify(chat, smtp, "mermoz")
    replies = await chat.press("Change e-mails")
    assert MERMOZ["structure_email"] not in replies[-1]["text"] and "•••" in replies[-1]["text"]
    await chat.press("Structure e-mail")
    replies = await chat.say("not-an-address")
    assert "not a valid e-mail address" in replies[-1]["text"]
    replies = await chat.say(MERMOZ["structure_email"].upper())
    assert "already is the registered" in replies[-1]["text"]
    replies = await chat.say("Secretariat@Mermoz.example.fr")
    text = replies[-1]["text"]
    assert "secretariat@mermoz.example.fr" in text.lower() and "free" in text
    assert MERMOZ["structure_email"] not in text
    escalation_id = await confirm_request(chat, "Confirm the request")

    card = card_of(telegram, escalation_id)
    assert "changement d’e-mail" in card["text"] and "Secretariat@mermoz.example.fr" in card["text"]
    await bruno.press("Je prends", card)
    assert "is being handled" in chat.last()["text"]
    await alice.press("Fait", card_of(telegram, escalation_id))  # another staff member may finish
    done = card_of(telegram, escalation_id)["text"]
    assert "traité par Alice" in done
    # The card keeps the address it replaced (it showed the new one on both sides of the arrow).
    assert "b•••@m•••.fr → Secretariat@mermoz.example.fr" in done
    # The change is told; then, verified through the address that changed, the chat is told it
    # must verify again (issue 12 case 7).
    told = telegram.bot_messages(chat.chat_id)[-2]["text"]
    assert "is now <code>" not in told  # HTML rendered, not shown raw
    assert "is now Secretariat@mermoz.example.fr" in told
    assert "no longer a verified contact" in chat.last()["text"]

    row = await bot.services.db.fetchone("SELECT * FROM clubs WHERE subdomain = 'mermoz'")
    assert row["structure_email"] == "Secretariat@mermoz.example.fr"
    assert row["contact_email"] == MERMOZ["contact_email"]
    [change] = await audit(bot, "club.update")
    assert change["actor"] == f"staff:{STAFF_USERS[0]}" and change["target"] == "mermoz"
    assert json.loads(change["before_json"]) == {"structure_email": MERMOZ["structure_email"]}
    assert json.loads(change["after_json"]) == {"structure_email": "Secretariat@mermoz.example.fr"}
    assert change["at"]


async def test_email_change_refused_with_a_reason_relayed_to_the_club(
    chat, smtp, bot, telegram, alice
):
    await verify(chat, smtp, "mermoz")
    await chat.press("Changer les e-mails")
    await chat.press("E-mail du contact")
    await chat.say("nouveau.chef@mermoz.example.fr")
    escalation_id = await confirm_request(chat)
    card = card_of(telegram, escalation_id)

    replies = await alice.press("Refuser", card)
    prompt = replies[-1]
    assert "motif du refus" in prompt["text"] and "Alice" in prompt["text"]
    await alice.telegram.send_text(
        STAFF_USERS[0],
        "Le bureau ne connaît pas cette adresse",
        chat_id=STAFF_CHAT,
        reply_to_message_id=prompt["message_id"],
    )
    await bot.idle()
    card = card_of(telegram, escalation_id)
    assert "refusé par Alice" in card["text"] and "ne connaît pas cette adresse" in card["text"]
    told = chat.last()["text"]
    assert "refusée" in told and "Le bureau ne connaît pas cette adresse" in told
    row = await bot.services.db.fetchone("SELECT * FROM clubs WHERE subdomain = 'mermoz'")
    assert row["contact_email"] == MERMOZ["contact_email"]
    [refusal] = await audit(bot, "escalation.refuse")
    assert json.loads(refusal["after_json"])["refusal_reason"].startswith("Le bureau")
    # The request is closed: its buttons are gone, the next message of Alice is just chat.
    assert not (card.get("reply_markup") or {}).get("inline_keyboard")
    await alice.say("merci")
    assert "refusé par Alice" in card_of(telegram, escalation_id)["text"]


async def test_a_refusal_reason_too_long_is_cut_visibly(chat, smtp, bot, telegram, alice):
    """A reason is kept to 500 characters; it used to be cut mid-word with nothing to say so."""
    await verify(chat, smtp, "mermoz")
    await ask_manual_reset(chat)
    escalation_id = await confirm_request(chat)
    replies = await alice.press("Refuser", card_of(telegram, escalation_id))
    await alice.telegram.send_text(
        STAFF_USERS[0],
        "Motif " + "très long " * 100,
        chat_id=STAFF_CHAT,
        reply_to_message_id=replies[-1]["message_id"],
    )
    await bot.idle()
    told = chat.last()["text"]
    assert "Motif très long" in told and told.rstrip().endswith("…"), told


async def test_two_staff_pressing_take_at_once_one_wins(chat, smtp, bot, telegram):
    await verify(chat, smtp, "mermoz")
    await ask_manual_reset(chat)
    escalation_id = await confirm_request(chat)
    card = card_of(telegram, escalation_id)
    data = f"esc:take:{escalation_id}"
    for staff_id in STAFF_USERS:  # both press before the bot has edited the card
        await telegram.press(staff_id, card["message_id"], data, chat_id=STAFF_CHAT)
    await bot.idle()
    answers = [a["text"] for a in telegram.callback_answers[-2:]]
    assert any("pour vous" in a for a in answers)
    assert any("Déjà prise par Alice" in a for a in answers)
    assert "pris par Alice" in card_of(telegram, escalation_id)["text"]


STAFF_COMMANDS = ["/club mermoz", "/paid OF-2026-000001 virement", "/pending", "/stats"]


async def test_non_staff_is_refused_everywhere_and_nothing_changes(
    chat, smtp, bot, telegram, outsider
):
    await verify(chat, smtp, "lesailes")
    await ask_manual_reset(chat)
    escalation_id = await confirm_request(chat)
    number = NUMBER.search(chat.last()["text"]).group(0)
    card = card_of(telegram, escalation_id)
    before = card["text"]
    club_messages = len(telegram.bot_messages(CLUB_USER_FR))
    for label in ("Je prends", "Fait", "Refuser"):
        await outsider.press(label, card)
        assert "réservé à l’équipe" in telegram.callback_answers[-1]["text"]
    assert card_of(telegram, escalation_id)["text"] == before
    for command in [*STAFF_COMMANDS, f"/paid {number} virement"]:
        replies = await outsider.say(command)
        assert len(replies) == 1 and "réservé à l’équipe" in replies[0]["text"], command
    assert len(telegram.bot_messages(CLUB_USER_FR)) == club_messages  # the club was told nothing
    replies = await chat.say("/stats")  # a club contact in a private chat
    assert "réservé à l’équipe" in replies[-1]["text"]
    row = await bot.services.db.fetchone("SELECT * FROM escalations WHERE id = ?", (escalation_id,))
    assert row["status"] == "open" and row["fee"] == "due"
    assert await bot.services.db.fetchval("SELECT count(*) FROM payments") == 0
    assert (
        await bot.services.db.fetchval("SELECT count(*) FROM audit WHERE actor LIKE 'staff:%'") == 0
    )
    assert await bot.services.db.fetchval("SELECT count(*) FROM pending_refusals") == 0
    assert OUTSIDER not in bot.services.settings.staff_user_ids


async def test_paid_by_hand_once(chat, smtp, bot, telegram, alice):
    await verify(chat, smtp, "lesailes")
    await ask_manual_reset(chat)
    escalation_id = await confirm_request(chat)
    number = NUMBER.search(chat.last()["text"]).group(0)

    replies = await alice.say(f"/paid {number.lower()} virement")
    assert any("enregistré" in m["text"] and number in m["text"] for m in replies)
    assert "✅ payés" in card_of(telegram, escalation_id)["text"]
    told = " ".join(m["text"] for m in telegram.bot_messages(CLUB_USER_FR)[-3:])
    assert "Paiement reçu" in told and number in told

    replies = await alice.say(f"/paid {number} cheque")
    assert len(replies) == 1 and "déjà payée" in replies[0]["text"]
    # Staff read the name of who recorded it, never an actor id (tester's finding: "staff:9001").
    assert "virement" in replies[0]["text"] and "enregistré par Alice" in replies[0]["text"]
    assert "staff:" not in replies[0]["text"] and str(STAFF_USERS[0]) not in replies[0]["text"]
    payments = await bot.services.db.fetchall("SELECT * FROM payments")
    assert len(payments) == 1 and payments[0]["method"] == "transfer"
    assert payments[0]["actor"] == f"staff:{STAFF_USERS[0]}"
    [paid] = await audit(bot, "invoice.paid")
    assert paid["actor"] == f"staff:{STAFF_USERS[0]}"

    replies = await alice.say("/paid OF-2099-999999 virement")
    assert "inconnue" in replies[-1]["text"] and "rien n’a été enregistré" in replies[-1]["text"]
    replies = await alice.say(f"/paid {number}")
    assert "Syntaxe" in replies[-1]["text"]
    assert await bot.services.db.fetchval("SELECT count(*) FROM payments") == 1


async def test_paid_on_a_cancelled_invoice_changes_nothing(chat, smtp, bot, telegram, alice):
    await verify(chat, smtp, "icare")
    await ask_manual_reset(chat)
    escalation_id = await confirm_request(chat)
    number = NUMBER.search(chat.last()["text"]).group(0)
    replies = await alice.press("Refuser", card_of(telegram, escalation_id))
    await telegram.send_text(
        STAFF_USERS[0],
        "Demande en double",
        chat_id=STAFF_CHAT,
        reply_to_message_id=replies[-1]["message_id"],
    )
    await bot.idle()
    replies = await alice.say(f"/paid {number} cheque")
    assert "annulée" in replies[-1]["text"]
    assert await bot.services.db.fetchval("SELECT count(*) FROM payments") == 0


async def test_staff_commands_in_the_group_and_in_private(chat, smtp, bot, telegram, alice):
    await verify(chat, smtp, "lesailes")
    await ask_manual_reset(chat)
    escalation_id = await confirm_request(chat)
    number = NUMBER.search(chat.last()["text"]).group(0)

    replies = await alice.say("/club https://lesailes.openflyers.fr")
    text = replies[-1]["text"]
    assert LESAILES["name"] in text and "Contacts vérifiés : 1" in text
    assert number in text and f"n° {escalation_id}" in text
    replies = await alice.say("/club lesaile_")
    assert "Aucun club" in replies[-1]["text"]
    replies = await alice.say("/club")
    assert "Syntaxe" in replies[-1]["text"]

    replies = await alice.say("/pending")
    assert f"n° {escalation_id}" in replies[-1]["text"] and number in replies[-1]["text"]

    private = Chat(telegram, bot, STAFF_USERS[0])  # the same staff member, privately
    replies = await private.say("/stats")
    text = replies[-1]["text"]
    assert "Clubs :" in text and "Factures ouvertes : 1" in text and "1 à prendre" in text


async def test_daily_summary_is_posted_to_the_staff_group(chat, smtp, bot, telegram, alice):
    from bot.staff import StaffSummaryDue

    jobs = [job.name for job in bot.runtime.app.job_queue.jobs()]
    assert "staff-summary" in jobs
    await verify(chat, smtp, "mermoz")
    await ask_manual_reset(chat)
    await confirm_request(chat)
    before = len(telegram.bot_messages(STAFF_CHAT))
    day = bot.services.clock.today().isoformat()
    await bot.runtime.app.update_queue.put(StaffSummaryDue(day))
    message = await telegram.wait_for_bot_message(STAFF_CHAT, contains="Résumé du")
    assert len(telegram.bot_messages(STAFF_CHAT)) == before + 1
    text = message["text"]
    assert "Rappels envoyés" in text and "Renouvellements payés : 0" in text
    assert "Demandes ouvertes : 1" in text


@pytest.mark.parametrize("label", ["Je prends", "Fait", "Refuser"])
async def test_a_button_on_a_closed_request_says_so(chat, smtp, bot, telegram, alice, label):
    await verify(chat, smtp, "mermoz")
    await ask_manual_reset(chat)
    escalation_id = await confirm_request(chat)
    card = card_of(telegram, escalation_id)
    data = {"Je prends": "take", "Fait": "done", "Refuser": "refuse"}[label]
    await telegram.press(
        STAFF_USERS[0], card["message_id"], f"esc:done:{escalation_id}", chat_id=STAFF_CHAT
    )
    await telegram.press(
        STAFF_USERS[1], card["message_id"], f"esc:{data}:{escalation_id}", chat_id=STAFF_CHAT
    )
    await bot.idle()
    assert "déjà close" in telegram.callback_answers[-1]["text"]


async def test_a_card_telegram_could_not_take_is_posted_later(chat, smtp, bot, telegram, alice):
    # The request is recorded; Telegram fails the card once: the club is told its request was
    # recorded (not an error), and the card with its buttons goes out on the next try.
    from bot import escalations

    await verify(chat, smtp, "mermoz")
    await chat.press("Changer les e-mails")
    await chat.press("E-mail du contact")
    await chat.say("nouveau.chef@mermoz.example.fr")
    telegram.inject_fault("sendMessage", "500", count=1)
    escalation_id = await confirm_request(chat)
    assert "Désolé" not in chat.transcript()
    with pytest.raises(AssertionError):
        card_of(telegram, escalation_id)

    await escalations.post_missing_cards_on_startup(bot.runtime.app)  # start-up or the job
    card = card_of(telegram, escalation_id)
    await escalations.post_missing_cards(bot.services, bot.runtime.app.bot)  # not twice
    cards = [
        m
        for m in telegram.bot_messages(STAFF_CHAT)
        if (m.get("text") or "").startswith(f"🛎 Demande n° {escalation_id} ")
    ]
    assert len(cards) == 1
    await alice.press("Je prends", card)
    row = await bot.services.db.fetchone(
        "SELECT status FROM escalations WHERE id = ?", (escalation_id,)
    )
    assert row["status"] == "taken"


async def test_a_card_edit_telegram_could_not_take_is_made_later(chat, smtp, bot, telegram, alice):
    from bot import escalations

    await verify(chat, smtp, "lesailes")
    await ask_manual_reset(chat)
    escalation_id = await confirm_request(chat)
    number = NUMBER.search(chat.last()["text"]).group(0)
    telegram.inject_fault("editMessageText", "500", count=1)  # the card's "paid" edit
    await alice.say(f"/paid {number} virement")
    assert "✅ payés" not in card_of(telegram, escalation_id)["text"]
    await escalations.post_missing_cards(bot.services, bot.runtime.app.bot)  # the periodic job
    assert "✅ payés" in card_of(telegram, escalation_id)["text"]
