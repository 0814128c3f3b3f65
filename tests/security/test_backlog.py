"""Case 4 of issue 12: one chat's flood never stalls another chat. Telegram's getUpdates returns
at most 100 updates from the offset; an offset held at one chat's oldest update in hand hid every
other chat's updates until that chat's backlog was handled."""

from __future__ import annotations

import asyncio

from tests.conftest import CLUB_USER_FR

FLOODER = 1501


async def test_another_chat_is_answered_while_one_chat_floods(bot, telegram):
    telegram.add_user(FLOODER, "Flood", language_code="fr")
    for _ in range(150):
        await telegram.send_text(FLOODER, "/help")
    await telegram.send_text(CLUB_USER_FR, "/start")
    await telegram.wait_for_bot_message(CLUB_USER_FR, contains="adresse", timeout=60)
    # Answered within the flood's first window, not after it: the flooding chat had at most a
    # small backlog answered when the other chat got its answer (its first 100 before).
    assert len(telegram.bot_messages(FLOODER)) <= 40
    # The flood itself is shed beyond the backlog: most of it is never handled.
    await asyncio.sleep(0.5)
    assert len(telegram.bot_messages(FLOODER)) < 150
