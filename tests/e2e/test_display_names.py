"""Untrusted display strings (Telegram names, club names from the CSV) cannot bring bidi
overrides or other invisible format characters into staff texts or topic names (tester's
finding: first_name "\\u202eevil" reversed the staff relay header)."""

from __future__ import annotations

import unicodedata

from tests.conftest import STAFF_CHAT, Chat, make_staff_forum, verify

SPOOFER = 1042
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u200b\ufeff"


def format_controls(text: str) -> set[str]:
    return {f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) == "Cf"}


def staff_texts(telegram) -> list[str]:
    return [m.get("text") or m.get("caption") or "" for m in telegram.bot_messages(STAFF_CHAT)]


async def test_a_display_name_with_bidi_controls_reaches_staff_neutralised(smtp, bot, telegram):
    telegram.add_user(
        SPOOFER, "\u202eevil", last_name="\u2066Dupont\u2069\u200f", language_code="fr"
    )
    chat = Chat(telegram, bot, SPOOFER)
    await verify(chat, smtp, "mermoz")
    await chat.press("Parler à l’équipe")
    await chat.say("Bonjour")
    await chat.press("Retour")
    await chat.press("Mot de passe")
    await chat.press("aucune des deux")
    await chat.press("Confirmer la demande")
    texts = staff_texts(telegram)
    header = next(t for t in texts if "Conversation n°" in t)
    assert "evil Dupont" in header, header
    card = next(t for t in texts if t.startswith("🛎"))
    assert "evil Dupont" in card, card
    for text in texts:
        assert not format_controls(text), (format_controls(text), text)


async def test_a_club_name_with_bidi_controls_makes_a_clean_topic_name(chat, smtp, bot, telegram):
    make_staff_forum(telegram)
    await bot.services.db.execute(
        "UPDATE clubs SET name = ? WHERE subdomain = 'mermoz'", (f"Aéroclub{BIDI} Mermoz",)
    )
    await verify(chat, smtp, "mermoz")
    await chat.press("Parler à l’équipe")
    await chat.say("Bonjour")
    [topic] = telegram.topics(STAFF_CHAT)
    assert topic["name"] == "💬 mermoz — Aéroclub Mermoz", topic["name"]
    for text in staff_texts(telegram):
        assert not format_controls(text), (format_controls(text), text)


async def test_close_matches_with_very_long_club_names_still_get_their_buttons(chat, bot):
    """Club names come from the CSV with no length limit; the close-match buttons carry them.
    Three names of 3000 characters made a keyboard Telegram refuses ("reply markup is too
    long"): the person got "something went wrong". Labels are cut, the keyboard goes out."""
    for subdomain, letter in (("longname", "N"), ("longnamf", "M"), ("longnamg", "🛩")):
        await bot.services.db.execute(
            "INSERT INTO clubs (subdomain, name, structure_email, contact_email, plan,"
            " active_resources, subscription_ends) VALUES (?, ?, 'a@z.example.fr',"
            " 'b@z.example.fr', 'business', 3, '2027-01-01')",
            (subdomain, letter * 3000),
        )
    await chat.say("/start")
    replies = await chat.say("longnam")
    labels = chat.buttons(replies[-1])
    # Each name cut, its subdomain kept: the person can still tell the clubs apart.
    for subdomain in ("longname", "longnamf", "longnamg"):
        [label] = [label for label in labels if label.endswith(f"… ({subdomain})")]
        assert len(label) < 60, label
    replies = await chat.press(labels[0])
    assert "e-mail" in replies[-1]["text"], chat.transcript()
