"""Telegram's command menu: set at start-up for private chats and the staff group, in French and
English; a Bot API that refuses it (error, missing method, unknown chat) leaves the bot working."""

from __future__ import annotations

import logging

import pytest
from telegram import BotCommandScopeAllPrivateChats, BotCommandScopeChat

from bot.command_menu import TASK
from bot.runtime import Runtime
from tests.conftest import (
    CLUB_USER_EN,
    CLUB_USER_FR,
    STAFF_CHAT,
    STAFF_USERS,
    BotHarness,
    Chat,
    replace_settings,
    seed_database,
)

CLUB = ["start", "menu", "cancel", "language", "reminders", "forget", "help"]
STAFF = ["club", "paid", "pending", "stats", "close", "help"]


def names(menu: list[dict]) -> list[str]:
    return [c["command"] for c in menu]


async def test_after_start_up_private_chats_and_the_staff_group_show_their_commands(bot, telegram):
    assert await bot.services.extra[TASK] == 4
    texts = bot.services.texts
    french, english = telegram.menu(CLUB_USER_FR), telegram.menu(CLUB_USER_EN)
    assert names(french) == names(english) == CLUB
    assert french[0]["description"] == texts.render("fr", "commands/start")
    assert english[0]["description"] == texts.render("en", "commands/start")
    assert all(f != e for f, e in zip(french, english, strict=True))
    # Any other language gets the French list, as Telegram shows a list with no language.
    assert telegram.menu(CLUB_USER_EN, language_code="de") == french

    alice = STAFF_USERS[0]
    staff_fr = telegram.menu(alice, STAFF_CHAT)
    staff_en = telegram.menu(alice, STAFF_CHAT, language_code="en")
    assert names(staff_fr) == names(staff_en) == STAFF
    assert staff_fr[1]["description"] == texts.render("fr", "commands/paid")
    assert staff_en[1]["description"] == texts.render("en", "commands/paid")

    # What the bot reads back through the Bot API is the same.
    api = bot.runtime.app.bot
    private = await api.get_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="en")
    assert [(c.command, c.description) for c in private] == [
        (c["command"], c["description"]) for c in english
    ]
    assert [
        c.command for c in await api.get_my_commands(scope=BotCommandScopeChat(STAFF_CHAT))
    ] == (STAFF)
    # A restart sets the same menus again.
    await bot.restart()
    assert await bot.services.extra[TASK] == 4
    assert telegram.menu(CLUB_USER_FR) == french


@pytest.fixture
def refusing_menus(telegram):
    """The Bot API answers the bot's four setMyCommands with 500 (requested before `bot`)."""
    telegram.inject_fault("setMyCommands", "500", 4)


async def test_a_failing_set_my_commands_leaves_the_bot_answering_start(
    refusing_menus, bot, telegram, caplog
):
    assert await bot.services.extra[TASK] == 0
    logged = caplog.get_records("setup") + caplog.records  # the bot starts in the fixture
    warnings = [r for r in logged if r.name == "bot.command_menu"]
    assert len(warnings) == 4 and all(r.levelno == logging.WARNING for r in warnings)
    assert not any(r.exc_info for r in warnings)  # a Bot API error is one line, no traceback
    assert telegram.calls["setmycommands"] == 4
    assert telegram.menu(CLUB_USER_FR) == [] and telegram.menu(STAFF_USERS[0], STAFF_CHAT) == []

    replies = await Chat(telegram, bot, CLUB_USER_FR).say("/start")
    assert replies and replies[-1]["text"].startswith("Bonjour")
    assert bot.runtime.app.running


@pytest.mark.parametrize("problem", ["no such method", "unknown staff chat", "no staff chat"])
async def test_a_bot_api_that_refuses_part_of_the_menus_changes_nothing_else(
    problem, settings, telegram, caplog
):
    if problem == "no such method":
        del telegram._methods["setmycommands"]  # an older stand-in: 404 Not Found
        settings, expected = settings, 0
    elif problem == "unknown staff chat":
        settings, expected = replace_settings(settings, staff_chat_id=-1009999999), 2
    else:
        settings, expected = replace_settings(settings, staff_chat_id=None), 2
    await seed_database(settings)
    runtime = Runtime(settings)
    with caplog.at_level(logging.WARNING, logger="bot.command_menu"):
        await runtime.start()
    try:
        bot = BotHarness(runtime, telegram)
        assert await runtime.services.extra[TASK] == expected
        warnings = [r for r in caplog.records if r.name == "bot.command_menu"]
        assert len(warnings) == {"no such method": 1, "unknown staff chat": 2}.get(problem, 0)
        assert names(telegram.menu(CLUB_USER_EN)) == ([] if expected == 0 else CLUB)
        replies = await Chat(telegram, bot, CLUB_USER_EN).say("/start")
        assert replies and replies[-1]["text"].startswith("Hello")
    finally:
        await runtime.stop()


async def test_a_hung_set_my_commands_holds_up_neither_answers_nor_stop(settings, telegram):
    telegram.inject_fault("setMyCommands", "timeout", 1, delay=600)
    await seed_database(settings)
    runtime = Runtime(settings)
    await runtime.start()
    task = runtime.services.extra[TASK]
    try:
        bot = BotHarness(runtime, telegram)
        replies = await Chat(telegram, bot, CLUB_USER_FR).say("/start")
        assert replies and replies[-1]["text"].startswith("Bonjour")
        assert telegram.menu(CLUB_USER_FR) == []  # the first setMyCommands is still unanswered
    finally:
        await runtime.stop()
    assert task.cancelled()  # dropped at stop, not waited for
