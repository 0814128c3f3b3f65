"""Issue 14 case 3: the staff group is a basic group that Telegram upgrades to a supergroup (its id
changes; the old id answers 400 with migrate_to_chat_id). The bot follows the new id, stores it,
says so in one log line naming OFBOT_STAFF_CHAT_ID, and loses nothing in flight."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import CLUB_USER_FR, OUTSIDER, STAFF_USERS, replace_settings, verify

BASIC_GROUP = -4242  # a basic group: no -100 prefix


@pytest.fixture
def settings(settings, telegram):
    telegram.add_group(BASIC_GROUP, "OpenFlyers staff", members=[*STAFF_USERS, OUTSIDER])
    return replace_settings(settings, staff_chat_id=BASIC_GROUP)


def texts(telegram, chat_id: int) -> list[str]:
    return [m.get("text") or m.get("caption") or "" for m in telegram.bot_messages(chat_id)]


async def test_the_staff_group_is_followed_when_it_becomes_a_supergroup(
    chat, smtp, bot, telegram, caplog
):
    caplog.set_level(logging.WARNING)
    await verify(chat, smtp, "mermoz")
    await chat.press("Parler à l’équipe")
    assert any("Conversation n°" in t for t in texts(telegram, BASIC_GROUP))

    # Telegram upgrades the group; the bot has not seen the service message yet.
    new_id = telegram.migrate_group(BASIC_GROUP, announce=False)
    await telegram.send_text(CLUB_USER_FR, "Toujours là ?")
    await bot.idle()
    assert any("Toujours là ?" in t for t in texts(telegram, new_id)), telegram.transcript(new_id)
    assert "Transmis" in chat.last()["text"], chat.transcript()
    assert bot.services.settings.staff_chat_id == new_id

    # A request's card, then its refresh once taken: in the new group.
    await chat.say("/menu")
    await chat.press("Mot de passe")
    await chat.press("aucune des deux")
    await chat.press("Confirmer la demande")
    [card] = [m for m in telegram.bot_messages(new_id) if "🛎" in (m.get("text") or "")]
    _, data = next(
        (card, b["callback_data"])
        for row in card["reply_markup"]["inline_keyboard"]
        for b in row
        if "prends" in b["text"]
    )
    await telegram.press(STAFF_USERS[0], card["message_id"], data, chat_id=new_id)
    await bot.idle()
    assert "prise en charge" in chat.last()["text"]

    # The daily summary goes there too.
    from bot.staff import StaffSummaryDue

    await bot.runtime.app.update_queue.put(StaffSummaryDue(bot.services.clock.today().isoformat()))
    await telegram.wait_for_bot_message(new_id, contains="Résumé", timeout=10)

    lines = [r.getMessage() for r in caplog.records if "OFBOT_STAFF_CHAT_ID" in r.getMessage()]
    assert len(lines) == 1 and str(new_id) in lines[0]
    assert not [t for t in texts(telegram, new_id) if "Erreur du bot" in t]

    # Stored: a restart follows the new id at once.
    await bot.restart()
    assert bot.services.settings.staff_chat_id == new_id


async def test_the_service_message_alone_is_enough(chat, smtp, bot, telegram):
    new_id = telegram.migrate_group(BASIC_GROUP)  # announced in both chats
    await bot.idle()
    assert bot.services.settings.staff_chat_id == new_id
    assert (
        await bot.services.db.fetchval(
            "SELECT new_chat_id FROM chat_migrations WHERE old_chat_id = ?", (BASIC_GROUP,)
        )
        == new_id
    )
