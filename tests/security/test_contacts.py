"""Case 7 of issue 12: a contact verified through an address that changes on the record is
revoked and told; staff see the contacts (masked) in /club and can revoke one."""

from __future__ import annotations

import re

from tests.conftest import CLUB_USER_2, STAFF_CHAT, Chat, sample_club, verify

MERMOZ = sample_club("mermoz")
REQUEST = re.compile(r"(?:n°|no\.) (\d+)")


def _card(telegram, escalation_id: int) -> dict:
    for message in telegram.bot_messages(STAFF_CHAT):
        if (message.get("text") or "").startswith(f"🛎 Demande n° {escalation_id} "):
            return message
    raise AssertionError(telegram.transcript(STAFF_CHAT))


async def test_contacts_verified_through_a_replaced_address_are_revoked_and_told(
    chat, smtp, bot, telegram, alice
):
    await verify(chat, smtp, "mermoz", "structure_email")  # the old treasurer
    other = Chat(telegram, bot, CLUB_USER_2)
    await verify(other, smtp, "mermoz", "contact_email")
    # The contact has staff replace the structure address.
    await other.press("Changer les e-mails")
    await other.press("E-mail de la structure")
    await other.say("nouveau.bureau@mermoz.example.fr")
    replies = await other.press("Confirmer la demande")
    escalation_id = int(REQUEST.search(" ".join(m["text"] for m in replies)).group(1))
    await alice.press("Je prends", _card(telegram, escalation_id))
    await alice.press("Fait", _card(telegram, escalation_id))
    await bot.idle()

    assert "n’est plus un contact vérifié" in chat.last()["text"], chat.transcript()
    replies = await chat.say("/menu")
    assert not any("Renouveler" in label for m in replies for label in chat.buttons(m))
    links = await bot.services.db.fetchall(
        "SELECT chat_id FROM contacts WHERE club_id = (SELECT id FROM clubs WHERE subdomain = ?)",
        ("mermoz",),
    )
    assert [row[0] for row in links] == [other.chat_id]  # verified through the contact address


async def test_club_lists_contacts_masked_with_a_revoke_button(chat, smtp, bot, telegram, alice):
    await verify(chat, smtp, "mermoz")
    replies = await alice.say("/club mermoz")
    text = replies[-1]["text"]
    assert "Jeanne" not in text and "J•••" in text
    assert str(chat.chat_id) not in text
    await alice.press("Retirer J•••", replies[-1])
    assert "n’est plus un contact vérifié" in chat.last()["text"], chat.transcript()
    assert not await bot.services.db.fetchval("SELECT count(*) FROM contacts")
    replies = await chat.say("/menu")
    assert not any("Renouveler" in label for m in replies for label in chat.buttons(m))


async def test_a_revoked_contact_open_conversation_no_longer_speaks_for_the_club(
    chat, smtp, bot, telegram, alice
):
    """A chat whose contact link is revoked (here by staff; an address change revokes the same
    way) keeps its open conversation only as an unverified one: its messages reach staff marked
    "non vérifié", and what staff write plainly in the club's topic (meant for the club's
    verified contacts) no longer reaches it."""
    from tests.conftest import make_staff_forum
    from tests.e2e.test_staff_forum import in_topic, topic_named, write_in_topic

    make_staff_forum(telegram)
    await verify(chat, smtp, "mermoz")
    await chat.press("Parler à l’équipe")
    await chat.say("Bonjour, ici l’ancien trésorier")
    thread = topic_named(telegram, "mermoz")["message_thread_id"]
    assert "non vérifié" not in in_topic(telegram, thread)[-1]["text"]

    replies = await alice.say("/club mermoz")
    await alice.press("Retirer J•••", replies[-1])
    assert "n’est plus un contact vérifié" in chat.last()["text"], chat.transcript()

    await chat.say("Toujours là")
    relayed = in_topic(telegram, thread)[-1]["text"]
    assert "Toujours là" in relayed and "non vérifié" in relayed, relayed
    mark = max(m["message_id"] for m in telegram.messages(chat.chat_id))
    await write_in_topic(bot, telegram, thread, "Le nouveau mot de passe est …")
    assert [m for m in telegram.bot_messages(chat.chat_id) if m["message_id"] > mark] == []
