"""Issue 14: the bot meets Telegram's rules (each test is one reported case, failing on the code
before the fix): buttons act on their own message, late answers, limits, callback data, plain
labels, requests Telegram refuses, club buttons outside private chats, webhook bodies.

The sandbox (bot/sandbox/) refuses what Telegram refuses; see docs/TELEGRAM.md for each rule."""

from __future__ import annotations

import re

import httpx

from bot.clubs import import_clubs
from tests.conftest import (
    CLUB_USER_FR,
    OUTSIDER,
    STAFF_CHAT,
    STAFF_USERS,
    Chat,
    read_code,
    sample_club,
    verify,
)
from tests.security.conftest import forge_press

NUMBER = re.compile(r"OF-\d{4}-\d{6}")
CSV_HEADER = "subdomain,name,structure_email,contact_email,plan,active_resources,subscription_ends"


async def add_clubs(bot, rows: list[str]) -> None:
    plans = set(bot.services.catalogue.plans)
    report = await import_clubs(bot.services.db, "\n".join([CSV_HEADER, *rows]) + "\n", plans)
    assert not getattr(report, "errors", None), report


def bot_calls(telegram, method: str) -> list[dict]:
    return [params for name, params in telegram.api_calls if name.lower() == method.lower()]


def apologies(telegram, chat_id: int) -> list[dict]:
    return [m for m in telegram.bot_messages(chat_id) if "référence" in (m.get("text") or "")]


def staff_alerts(telegram) -> list[dict]:
    return [
        m for m in telegram.bot_messages(STAFF_CHAT) if "Erreur du bot" in (m.get("text") or "")
    ]


# --- case 2: a button acts on what its own message showed ------------------------------------


async def test_confirm_under_an_older_quote_never_issues_the_newer_one(chat, smtp, bot, telegram):
    await verify(chat, smtp, "mermoz")
    await chat.press("Renouveler")
    quote_a = (await chat.press("(minimum)"))[-1]  # 4 resources
    assert "4" in quote_a["text"]
    await chat.say("/menu")
    await chat.press("Renouveler")
    quote_b = (await chat.press("6"))[-1]  # 6 resources
    assert quote_b["message_id"] != quote_a["message_id"]

    replies = await chat.press("Confirmer", quote_a)
    assert not replies, chat.transcript()
    assert "plus à jour" in telegram.callback_answers[-1]["text"]
    assert await bot.services.db.fetchval("SELECT count(*) FROM invoices") == 0
    # Every button of the old quote, not only "confirm" (its keyboard is gone: forged here).
    assert not await forge_press(chat, "renew:recount", quote_a)
    assert "plus à jour" in telegram.callback_answers[-1]["text"]

    # The newest quote's own button still works, for what it showed.
    replies = await chat.press("Confirmer", quote_b)
    assert NUMBER.search(replies[-1]["text"]), chat.transcript()
    assert await bot.services.db.fetchval("SELECT resources FROM invoices") == 6


# --- case 5: a late answer never aborts the action -------------------------------------------


async def test_a_late_button_answer_never_stops_the_staff_action(
    chat, smtp, bot, telegram, alice, monkeypatch
):
    await verify(chat, smtp, "mermoz")
    await chat.press("Mot de passe")
    await chat.press("aucune des deux")
    await chat.press("Confirmer la demande")
    escalation_id = await bot.services.db.fetchval("SELECT id FROM escalations")
    card = next(m for m in telegram.bot_messages(STAFF_CHAT) if "🛎" in (m.get("text") or ""))
    # Pressed long ago (the bot was down): Telegram refuses the answer, "query is too old".
    real_clock = telegram.clock
    monkeypatch.setattr(telegram, "clock", lambda: real_clock() - 3600)
    _, data = alice.find_button("Je prends", card)
    await telegram.press(alice.user_id, card["message_id"], data, chat_id=STAFF_CHAT)
    monkeypatch.setattr(telegram, "clock", real_clock)
    await bot.idle()

    status = await bot.services.db.fetchval(
        "SELECT status FROM escalations WHERE id = ?", (escalation_id,)
    )
    assert status == "taken"
    card = telegram._user_chat(alice.user_id, STAFF_CHAT).messages[card["message_id"]]
    assert "pris par Alice" in card["text"]
    assert "prise en charge" in chat.last()["text"], chat.transcript()
    assert not apologies(telegram, CLUB_USER_FR) and not staff_alerts(telegram)


# --- case 7: no text over Telegram's limits, in UTF-16 units ----------------------------------


async def test_an_emoji_heavy_text_reaches_staff_whole(chat, smtp, bot, telegram):
    await verify(chat, smtp, "mermoz")
    await chat.press("Parler à l’équipe")
    text = "😀" * 270 + "a" * 3526
    assert len(text) == 3796 and len(text.encode("utf-16-le")) // 2 == 4066
    await telegram.send_text(CLUB_USER_FR, text)
    await bot.idle()
    assert any(m.get("text") == text for m in telegram.bot_messages(STAFF_CHAT)), (
        telegram.transcript(STAFF_CHAT)[-500:]
    )
    assert "Transmis" in chat.last()["text"]
    assert not staff_alerts(telegram)


async def test_pending_with_long_lists_is_split_within_the_limit(bot, telegram, alice):
    services = bot.services
    rows = [
        f"{'club' + str(i).zfill(2) + 'x' * 57},Club {i},a{i}@x.example.fr,b{i}@x.example.fr,"
        f"business,2,2026-12-20"
        for i in range(26)
    ]
    await add_clubs(bot, rows)
    from bot import escalations, invoices
    from storage import clubs as club_rows

    for i in range(26):
        club = await club_rows.get_by_subdomain(services.db, f"club{str(i).zfill(2)}{'x' * 57}")
        await invoices.issue_renewal(
            services, club_id=club.id, plan_id="business", resources=3, actor="test"
        )
        await escalations.request_intervention(
            services,
            club,
            chat_id=500_000 + i,
            user_id=500_000 + i,
            requester="Quelqu’un",
            lang="fr",
            kind="password_reset",
            email_field=None,
            new_email=None,
        )
    replies = await alice.say("/pending")
    assert len(replies) >= 2, alice.transcript()[-300:]
    joined = "\n".join(m["text"] for m in replies)
    assert joined.count("club00") == 2 and "Factures impayées" in joined
    assert all(len(m["text"].encode("utf-16-le")) // 2 <= 4096 for m in replies)
    assert not staff_alerts(telegram)


# --- cases 8 and 9: callback data carries ids; labels are plain text -------------------------


async def test_a_long_subdomain_suggestion_is_a_working_button(chat, bot, telegram):
    long = "a" * 61 + "z"  # 62 characters: "pick:<subdomain>" would be 67 bytes
    await add_clubs(
        bot, [f"{long},Air & Passion,s@ap.example.fr,c@ap.example.fr,business,2,2026-12-20"]
    )
    await chat.say("/start")
    replies = await chat.say("a" * 61 + "y")
    assert replies and not apologies(telegram, CLUB_USER_FR), chat.transcript()
    labels = chat.buttons(replies[-1])
    assert any(label.startswith("Air & Passion (") for label in labels), labels
    assert all(
        len(b["callback_data"].encode()) <= 64
        for row in replies[-1]["reply_markup"]["inline_keyboard"]
        for b in row
    )
    replies = await chat.press("Air & Passion")
    assert "Air &amp; Passion" not in replies[-1]["text"] and "Air & Passion" in replies[-1]["text"]


async def test_notices_and_labels_show_apostrophes_as_typed(chat, bot, telegram):
    await add_clubs(
        bot, ["aube,Aéroclub de l'Aube,s@aube.example.fr,c@aube.example.fr,business,2,2026-12-20"]
    )
    await chat.say("/start")
    replies = await chat.say("aubee")
    assert "Aéroclub de l'Aube (aube)" in chat.buttons(replies[-1])


# --- case 10: no request Telegram refuses, no input crashes a handler ------------------------


async def test_a_double_press_edits_once_and_the_second_is_no_longer_current(
    chat, smtp, bot, telegram
):
    """Both presses reach the bot before it answers: the first edits the menu into the count
    step (issue 19: edited in place), the second was made under the menu as it was and is told
    so; it neither removes the count step's keyboard (Telegram would refuse a second removal
    with "message is not modified") nor acts on it."""
    await verify(chat, smtp, "mermoz")
    menu = chat.last()
    _, data = chat.find_button("Renouveler", menu)
    for _ in range(2):
        await telegram.press(CLUB_USER_FR, menu["message_id"], data)
    await bot.idle()
    id_ = menu["message_id"]
    assert len([p for p in bot_calls(telegram, "editMessageText") if p["message_id"] == id_]) == 1
    assert not [p for p in bot_calls(telegram, "editMessageReplyMarkup")]
    assert chat.last()["message_id"] == id_, chat.transcript()  # no second answer below
    assert "(minimum)" in " ".join(chat.buttons(chat.last()))
    assert "plus à jour" in telegram.callback_answers[-1]["text"]

    # "Back" pressed twice on the count step: one step back, not two ("Back" is on both).
    _, data = chat.find_button("Retour", chat.last())
    for _ in range(2):
        await telegram.press(CLUB_USER_FR, id_, data)
    await bot.idle()
    assert "Renouveler" in " ".join(chat.buttons(chat.last())), chat.transcript()
    assert (
        chat.last()["message_id"] == id_ and "plus à jour" in telegram.callback_answers[-1]["text"]
    )
    assert not [p for p in bot_calls(telegram, "editMessageReplyMarkup")]


async def test_a_raced_self_contained_press_leaves_the_new_keyboard(chat, smtp, bot, telegram):
    """A button that carries what it acts on ("transfer" for invoice N) still acts when the
    message changed under it, but the keyboard it would remove is the new step's: it stays."""
    await verify(chat, smtp, "mermoz")
    for label in ("Renouveler", "(minimum)", "Confirmer"):
        await chat.press(label)
    issued = chat.last()
    _, data = chat.find_button("Virement", issued)
    for _ in range(2):
        await telegram.press(CLUB_USER_FR, issued["message_id"], data)
    await bot.idle()
    details = chat.message(issued["message_id"])
    assert "IBAN" in details["text"] and "envoyé" in " ".join(chat.buttons(details))
    assert not [p for p in bot_calls(telegram, "editMessageReplyMarkup")]
    assert not apologies(telegram, CLUB_USER_FR), chat.transcript()


async def test_an_answer_identical_to_the_pressed_message_comes_below_it(chat, smtp, bot, telegram):
    """Telegram refuses an edit that changes nothing ("message is not modified"): "send a new
    code" answers with the same words as the message it is under, so the answer comes as a new
    message (the person sees the press was answered) and the old keyboard goes."""
    await chat.say("/start")
    await chat.say("mermoz")
    sent = (await chat.say(sample_club("mermoz")["structure_email"]))[-1]
    replies = await chat.press("Renvoyer", sent)
    assert replies and replies[-1]["message_id"] > sent["message_id"], chat.transcript()
    assert "6 chiffres" in replies[-1]["text"]
    assert not chat.message(sent["message_id"]).get("reply_markup")
    assert not apologies(telegram, CLUB_USER_FR), chat.transcript()


async def test_huge_numbers_in_buttons_and_start_links_are_nobodys(chat, smtp, bot, telegram):
    await verify(chat, smtp, "mermoz")
    huge = str(2**64 + 7)
    await forge_press(chat, f"pay:{huge}")
    await forge_press(chat, f"invoice:{huge}")
    await chat.say(f"/start pay_{huge}")
    await chat.say(f"/start paid_{huge}")
    assert not apologies(telegram, CLUB_USER_FR), chat.transcript()
    assert not staff_alerts(telegram)


# --- case 11: club handlers answer in private chats only ------------------------------------


async def test_club_buttons_in_the_staff_group_do_nothing_there(chat, smtp, bot, telegram, alice):
    await verify(chat, smtp, "mermoz")
    await chat.press("Mot de passe")
    await chat.press("aucune des deux")
    await chat.press("Confirmer la demande")
    card = next(m for m in telegram.bot_messages(STAFF_CHAT) if "🛎" in (m.get("text") or ""))
    before = len(telegram.bot_messages(STAFF_CHAT))
    outsider = Chat(telegram, bot, OUTSIDER, STAFF_CHAT)
    for data in ("menu:renew", "back", "renew:confirm", "lang:en", "nonsense"):
        await forge_press(outsider, data, card)
    assert len(telegram.bot_messages(STAFF_CHAT)) == before, telegram.transcript(STAFF_CHAT)
    stored = telegram._user_chat(OUTSIDER, STAFF_CHAT).messages[card["message_id"]]
    assert stored.get("reply_markup"), "the card lost its buttons"
    assert not [
        p for p in bot_calls(telegram, "editMessageReplyMarkup") if int(p["chat_id"]) == STAFF_CHAT
    ]


# --- case 12: webhook bodies Telegram never sends ------------------------------------------


async def test_a_webhook_body_that_is_not_an_update_is_a_bad_request(webhook_bot):
    bot = webhook_bot
    url = bot.runtime.http.url + "/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": bot.runtime.settings.telegram_secret_token}
    async with httpx.AsyncClient() as client:
        for body in ("[]", '[{"update_id": 1}]', "42", '"x"', '{"update_id": "1"}'):
            response = await client.post(url, content=body, headers=headers)
            assert response.status_code == 400, (body, response.status_code)


async def test_a_reminder_button_renews_its_own_club(chat, smtp, bot, telegram):
    """A chat speaking for two clubs: "Renew now" under club A's reminder renews A, even when
    the chat looked at club B last."""
    from bot import reminders
    from storage import clubs as club_rows
    from storage.reminders import Key

    await verify(chat, smtp, "mermoz")
    # The same chat becomes a contact of Les Ailes too, its current club.
    address = sample_club("lesailes")["contact_email"]
    await chat.say("/start lesailes")
    await chat.say(address)
    replies = await chat.say(await read_code(smtp, address))
    assert "Les Ailes du Lauragais" in replies[-1]["text"], chat.transcript()
    mermoz = await club_rows.get_by_subdomain(bot.services.db, "mermoz")
    delivery = reminders.Delivery(
        key=Key(mermoz.id, mermoz.subscription_ends, 7, CLUB_USER_FR),
        subdomain="mermoz",
        club_name=mermoz.name,
        plan=mermoz.plan,
        resources=mermoz.active_resources,
        language="fr",
        days_left=7,
    )
    text, markup = reminders.render_reminder(bot.services, delivery)
    await bot.runtime.app.bot.send_message(CLUB_USER_FR, text, reply_markup=markup)
    replies = await chat.press("Renouveler maintenant")
    assert mermoz.name in replies[-1]["text"], chat.transcript()
    assert "Les Ailes du Lauragais" not in replies[-1]["text"]


def test_a_public_url_telegram_refuses_stops_start_up_naming_the_setting():
    from bot.settings import SettingsError, load_settings

    for value in ("http://bot.example.org", "https://bot.example.org:8080", "ftp://x.example"):
        try:
            load_settings({"OFBOT_PUBLIC_URL": value}, env_file="/nonexistent")
        except SettingsError as exc:
            assert "OFBOT_PUBLIC_URL" in str(exc) and "\n" not in str(exc)
        else:
            raise AssertionError(f"{value} accepted")
    for value in (
        "https://bot.example.org",
        "https://bot.example.org:8443/x",
        "https://b.example:88",
    ):
        assert load_settings({"OFBOT_PUBLIC_URL": value}, env_file="/nonexistent").public_url


async def test_whatever_the_data_no_text_or_caption_exceeds_telegrams_limits(bot, telegram):
    """The one send path (bot/telegram_send.py): a summary of any length, a caption too long for
    its document, an edit past 4096: each arrives, nothing is refused."""
    from telegram.constants import ParseMode

    tg_bot = bot.runtime.app.bot
    lines = [
        f"• <b>club{i:03d}</b> — <i>échec</i> ✈️ &amp; <code>{'x' * 40}</code>" for i in range(160)
    ]
    summary = "🗓 <b>Résumé</b>\n" + "\n".join(lines)
    assert len(summary) > 2 * 4096
    last = await tg_bot.send_message(STAFF_CHAT, summary, parse_mode=ParseMode.HTML)
    pieces = telegram.bot_messages(STAFF_CHAT)
    assert len(pieces) >= 2 and pieces[-1]["message_id"] == last.message_id
    assert all(len(m["text"].encode("utf-16-le")) // 2 <= 4096 for m in pieces)
    joined = "\n".join(m["text"] for m in pieces)
    assert all(f"club{i:03d} — échec ✈️ & " in joined for i in range(160))

    document = await tg_bot.send_document(
        STAFF_CHAT, b"%PDF-1.4\n", filename="x.pdf", caption="é" * 1500, parse_mode=ParseMode.HTML
    )
    stored = telegram._user_chat(STAFF_USERS[0], STAFF_CHAT).messages[document.message_id]
    assert "caption" not in stored
    assert telegram.bot_messages(STAFF_CHAT)[-1]["text"] == "é" * 1500

    edited = await tg_bot.edit_message_text(
        "<b>" + "a" * 5000 + "</b>", STAFF_CHAT, last.message_id, parse_mode=ParseMode.HTML
    )
    assert len(edited.text) <= 4096 and edited.text.endswith("…")


async def test_staff_buttons_in_a_private_chat_are_not_club_buttons(chat, smtp, bot, telegram):
    """The "is this message current?" check is for club buttons: /club's revoke button in a
    staff member's private chat with the bot still acts."""
    await verify(chat, smtp, "mermoz")
    staff_private = Chat(telegram, bot, STAFF_USERS[0])
    replies = await staff_private.say("/club mermoz")
    await staff_private.press("Retirer J•••", replies[-1])
    assert "n’est plus un contact vérifié" in chat.last()["text"], chat.transcript()
    assert "plus à jour" not in (telegram.callback_answers[-1]["text"] or "")
