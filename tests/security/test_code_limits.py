"""Cases 1 and 2 of issue 12: the one-time code limits hold whatever chats do (`/forget`, new
accounts), and a stranger who knows a registered address cannot lock the club's contacts out."""

from __future__ import annotations

import pytest

from tests.conftest import Chat, read_code, sample_club

MERMOZ = sample_club("mermoz")
WRONG = "Ce n’est pas le bon code"
EXHAUSTED = "Trop d’essais pour ce code"


async def test_forget_and_new_accounts_never_reset_the_club_code_limits(telegram, bot, smtp):
    """`/start mermoz` → address → 5 guesses → `/forget`, over and over from three accounts:
    at most 3 codes mailed and 15 guesses compared for the club within the hour."""
    address = MERMOZ["structure_email"]
    guesses = 0
    for user_id in (1201, 1202, 1203):
        telegram.add_user(user_id, f"Intrus {user_id}", language_code="fr")
        attacker = Chat(telegram, bot, user_id)
        for _ in range(3):
            await attacker.say("/start mermoz")
            await attacker.say(address)
            for n in range(5):
                replies = await attacker.say(f"{n + 1:06d}")
                if any(WRONG in m["text"] or EXHAUSTED in m["text"] for m in replies):
                    guesses += 1
            await attacker.say("/forget")
            await attacker.press("Oui, oublier")
    assert len(smtp.mailbox.messages_to(address)) <= 3
    assert guesses <= 15
    assert len(smtp.mailbox.messages_to(MERMOZ["contact_email"])) == 0


@pytest.mark.parametrize("stranger_addresses", ["one_address_resend", "both_addresses"])
async def test_a_stranger_cannot_lock_the_real_contact_out(telegram, bot, smtp, stranger_addresses):
    """The stranger spends everything one chat may spend (codes and guesses); the club's real
    contact, in another chat, still receives a code and verifies."""
    telegram.add_user(1301, "Intrus", language_code="fr")
    stranger = Chat(telegram, bot, 1301)
    await stranger.say("/start mermoz")
    await stranger.say(MERMOZ["structure_email"])
    for n in range(5):
        await stranger.say(f"{n:06d}")
    if stranger_addresses == "both_addresses":
        await stranger.press("Autre adresse")
        await stranger.say(MERMOZ["contact_email"])
    else:
        await stranger.press("Renvoyer")
    for n in range(5, 10):
        await stranger.say(f"{n:06d}")
    replies = await stranger.press("Renvoyer")  # the chat's share is spent
    assert "6 chiffres" not in replies[-1]["text"]

    real = Chat(telegram, bot, 1003)
    await real.say("/start mermoz")
    address = MERMOZ["contact_email"]
    count = len(smtp.mailbox.messages_to(address))
    replies = await real.say(address)
    assert "6 chiffres" in replies[-1]["text"], real.transcript()
    code = await read_code(smtp, address, after_count=count)
    replies = await real.say(code)
    assert "vérifié" in replies[0]["text"], real.transcript()
