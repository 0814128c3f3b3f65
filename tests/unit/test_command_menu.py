"""The command menus list exactly the commands the handlers answer, with descriptions that
Telegram accepts, in French and English; the staff group's menu only when it is configured."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from telegram import BotCommandScopeAllPrivateChats, BotCommandScopeChat
from telegram.ext import CommandHandler, ConversationHandler

from bot.command_menu import club_commands, menus, staff_commands
from bot.texts import LANGUAGES, Texts
from handlers.club import build_conversation
from handlers.staff import commands as staff_command_handlers
from handlers.staff import relay as staff_relay

TEXTS = Texts()


def handled(handlers: list) -> set[str]:
    found: set[str] = set()
    for handler in handlers:
        if isinstance(handler, CommandHandler):
            found |= set(handler.commands)
        elif isinstance(handler, ConversationHandler):
            found |= handled(handler.entry_points)
            found |= handled(handler.fallbacks)
            for state_handlers in handler.states.values():
                found |= handled(state_handlers)
    return found


def test_private_chat_menu_is_every_club_command():
    menu = {c.command for c in club_commands(TEXTS, "fr")}
    assert menu == handled([build_conversation()])


def test_staff_menu_is_every_staff_command():
    menu = {c.command for c in staff_commands(TEXTS, "fr")}
    assert menu == handled([*staff_command_handlers.HANDLERS, *staff_relay.HANDLERS])


@pytest.mark.parametrize("build", [club_commands, staff_commands])
def test_commands_and_descriptions_follow_telegrams_rules(build):
    lists = {lang: build(TEXTS, lang) for lang in LANGUAGES}
    for commands in lists.values():
        assert [c.command for c in commands] == [c.command for c in lists["fr"]]
        for command in commands:
            assert re.fullmatch(r"[a-z0-9_]{1,32}", command.command)
            assert 1 <= len(command.description) <= 256
            assert command.description == command.description.strip()
            assert "<" not in command.description and "&" not in command.description
    french, english = lists["fr"], lists["en"]
    assert all(f.description != e.description for f, e in zip(french, english, strict=True))


def test_menus_per_scope_and_language():
    def services(staff_chat_id):
        return SimpleNamespace(texts=TEXTS, settings=SimpleNamespace(staff_chat_id=staff_chat_id))

    found = menus(services(-100123))
    assert [(type(m.scope), m.language_code) for m in found] == [
        (BotCommandScopeAllPrivateChats, None),
        (BotCommandScopeChat, None),
        (BotCommandScopeAllPrivateChats, "en"),
        (BotCommandScopeChat, "en"),
    ]
    assert {m.scope.chat_id for m in found if isinstance(m.scope, BotCommandScopeChat)} == {-100123}
    assert [m.describe() for m in found[:2]] == [
        "all_private_chats, default language",
        "chat -100123, default language",
    ]
    assert [m.language_code for m in menus(services(None))] == [None, "en"]
