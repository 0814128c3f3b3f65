"""OFBOT_STAFF_SIGNATURE on (issue 18): a staff answer relayed to a club ends with the staff
member's first name (a text is sent anew with it; a photo or document gets it in its caption)."""

from __future__ import annotations

import pytest

from tests.conftest import CLUB_USER_FR, STAFF_CHAT, STAFF_USERS, replace_settings, verify


@pytest.fixture
def settings(settings):
    return replace_settings(settings, staff_signature=True)


async def test_relayed_answers_carry_the_staff_members_first_name(chat, smtp, bot, telegram):
    await verify(chat, smtp, "mermoz")
    await chat.press("Parler à l’équipe")
    await telegram.send_text(CLUB_USER_FR, "Une question")
    await bot.idle()
    relayed = telegram.bot_messages(STAFF_CHAT)[-1]
    mark = max(m["message_id"] for m in telegram.messages(CLUB_USER_FR))
    await telegram.send_text(
        STAFF_USERS[0],
        "Voici la réponse.",
        chat_id=STAFF_CHAT,
        reply_to_message_id=relayed["message_id"],
    )
    await bot.idle()
    [answer] = [m for m in telegram.bot_messages(CLUB_USER_FR) if m["message_id"] > mark]
    assert answer["text"] == "Voici la réponse.\n\n— Alice"
    assert answer["reply_to_message"]["text"] == "Une question"
    assert answer["reply_markup"]["inline_keyboard"]  # the "reply" button stays
