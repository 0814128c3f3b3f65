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


async def test_a_chat_waiting_for_its_turn_holds_no_slot_of_the_others():
    """Updates queued behind their own chat must not fill the processor's concurrent slots: 16
    flooding accounts with 16 updates each filled PTB's 256 and every other chat waited."""
    from telegram import Update

    from bot.updates import PerChatUpdateProcessor

    def update(update_id: int, chat_id: int) -> Update:
        chat = {"id": chat_id, "type": "private", "first_name": "x"}
        message = {"message_id": update_id, "date": 0, "chat": chat, "text": "/help"}
        return Update.de_json({"update_id": update_id, "message": message}, None)

    processor = PerChatUpdateProcessor(2)
    release = asyncio.Event()
    done: list[int] = []

    async def work(update_id: int, wait: bool) -> None:
        if wait:
            await release.wait()
        done.append(update_id)

    flood = [
        asyncio.create_task(processor.process_update(update(i, FLOODER), work(i, True)))
        for i in range(1, 6)
    ]
    await asyncio.sleep(0.05)
    other = asyncio.create_task(processor.process_update(update(99, CLUB_USER_FR), work(99, False)))
    await asyncio.wait_for(other, 5)  # not behind the flood's waiting updates
    assert done == [99]
    release.set()
    await asyncio.gather(*flood)
