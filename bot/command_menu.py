"""The command menu Telegram shows next to the message box (setMyCommands): club commands in private
chats, staff commands in the staff group, French and English; set in the background at start-up."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)
from telegram.error import EndPointNotFound, InvalidToken, TelegramError
from telegram.ext import Application

from bot.services import Services
from bot.texts import DEFAULT_LANGUAGE, LANGUAGES, Texts

log = logging.getLogger(__name__)

# `services.extra[TASK]`: the background task setting the menus (tests await it).
TASK = "command_menu"
# Seconds one setMyCommands may take before it is given up (start-up never waits for it).
TIMEOUT = 10.0


def club_commands(texts: Texts, lang: str) -> list[BotCommand]:
    """The commands private chats answer at every step (handlers/club/start.py), in /help's order."""
    render = texts.render
    return [
        BotCommand("start", render(lang, "commands/start")),
        BotCommand("menu", render(lang, "commands/menu")),
        BotCommand("cancel", render(lang, "commands/cancel")),
        BotCommand("language", render(lang, "commands/language")),
        BotCommand("reminders", render(lang, "commands/reminders")),
        BotCommand("forget", render(lang, "commands/forget")),
        BotCommand("help", render(lang, "commands/help")),
    ]


def staff_commands(texts: Texts, lang: str) -> list[BotCommand]:
    """The staff group's commands (handlers/staff/commands.py and /close in handlers/staff/relay.py)."""
    render = texts.render
    return [
        BotCommand("club", render(lang, "commands/club")),
        BotCommand("paid", render(lang, "commands/paid")),
        BotCommand("pending", render(lang, "commands/pending")),
        BotCommand("stats", render(lang, "commands/stats")),
        BotCommand("close", render(lang, "commands/close")),
        BotCommand("help", render(lang, "commands/help")),
    ]


@dataclass(frozen=True)
class Menu:
    """One setMyCommands call: a scope, a language (None: everyone without a list of their own)."""

    scope: BotCommandScope
    language_code: str | None
    commands: list[BotCommand]

    def describe(self) -> str:
        where = self.scope.type + (
            f" {self.scope.chat_id}" if isinstance(self.scope, BotCommandScopeChat) else ""
        )
        return f"{where}, {self.language_code or 'default language'}"


def menus(services: Services) -> list[Menu]:
    """Every menu to set: private chats, then the staff group when OFBOT_STAFF_CHAT_ID is set."""
    found = []
    staff_chat = services.settings.staff_chat_id
    for lang in LANGUAGES:
        code = None if lang == DEFAULT_LANGUAGE else lang
        found.append(
            Menu(BotCommandScopeAllPrivateChats(), code, club_commands(services.texts, lang))
        )
        if staff_chat:
            found.append(
                Menu(BotCommandScopeChat(staff_chat), code, staff_commands(services.texts, lang))
            )
    return found


async def set_menus(bot: Bot, services: Services) -> int:
    """setMyCommands for each menu; returns how many were set. Each failure (Bot API error,
    a stand-in without the method, network) is one warning, and the other menus are still set."""
    done = 0
    try:
        wanted = menus(services)
    except Exception:
        log.warning("command menus not set: their texts could not be rendered", exc_info=True)
        return done
    for menu in wanted:
        try:
            await bot.set_my_commands(
                menu.commands,
                scope=menu.scope,
                language_code=menu.language_code,
                connect_timeout=TIMEOUT,
                read_timeout=TIMEOUT,
                write_timeout=TIMEOUT,
            )
        except (EndPointNotFound, InvalidToken) as exc:
            # 404 (a stand-in without the method) or 401: no other menu would fare better.
            log.warning("command menus not set: the Bot API answered %r to setMyCommands", str(exc))
            break
        except TelegramError as exc:
            log.warning("command menu not set (%s): %s", menu.describe(), exc)
        except Exception:
            log.warning("command menu not set (%s)", menu.describe(), exc_info=True)
        else:
            done += 1
    log.info("command menus set: %d of %d", done, len(wanted))
    return done


async def publish_command_menu(app: Application) -> None:
    """STARTUP_HOOK: set the menus in a background task, so the first update never waits."""
    services: Services = app.bot_data["services"]
    services.extra[TASK] = app.create_task(set_menus(app.bot, services), name="command-menu")


def cancel_command_menu(services: Services) -> None:
    """At stop: a setMyCommands still waiting for an answer is dropped, not waited for."""
    task = services.extra.pop(TASK, None)
    if task is not None and not task.done():
        task.cancel()
