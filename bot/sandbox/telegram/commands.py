"""The bot's profile: command lists by scope and language, descriptions, name and menu button.

Scopes, fallbacks and checks follow the Bot API server and TDLib (texts included)."""

from __future__ import annotations

import copy
import re
from typing import Any, ClassVar, NamedTuple

from bot.sandbox.telegram.errors import ApiError, bad_request

MAX_COMMANDS = 100


MAX_COMMAND = 32


MAX_COMMAND_DESCRIPTION = 256


class CommandsKey(NamedTuple):
    """Where a list of commands applies: a scope (with its chat and member) and a language."""

    scope: str
    chat_id: int | None = None
    user_id: int | None = None
    language: str = ""


_CHAT_SCOPES = ("chat", "chat_administrators", "chat_member")


_GLOBAL_SCOPES = ("default", "all_private_chats", "all_group_chats", "all_chat_administrators")


def _command_scope(raw: Any) -> dict:
    """A BotCommandScope read as the Bot API server reads it: {"type", "chat_id", "user_id"}."""
    if raw is None or raw == "":
        return {"type": "default", "chat_id": None, "user_id": None}

    def fail(why: str) -> ApiError:
        return bad_request(f"can't parse BotCommandScope: {why}")

    if not isinstance(raw, dict):
        raise fail("BotCommandScope must be an Object")
    kind = raw.get("type")
    if kind is None:
        raise fail('Can\'t find field "type"')
    if not isinstance(kind, str):
        raise fail('Field "type" must be of type String')
    if kind in _GLOBAL_SCOPES:
        return {"type": kind, "chat_id": None, "user_id": None}
    if kind not in _CHAT_SCOPES:
        raise fail("Unsupported type specified")
    chat_id = raw.get("chat_id")
    if chat_id is None:
        raise fail('Can\'t find field "chat_id"')
    if not isinstance(chat_id, (str, int)) or isinstance(chat_id, bool):
        raise fail('Field "chat_id" must be of type String')
    if chat_id == "":
        raise fail("Empty chat_id specified")
    if isinstance(chat_id, str) and re.fullmatch(r"-?\d+", chat_id):
        chat_id = int(chat_id)
    user_id = None
    if kind == "chat_member":
        user_id = raw.get("user_id")
        if user_id is None:
            raise fail('Can\'t find field "user_id"')
        if isinstance(user_id, str) and re.fullmatch(r"-?\d+", user_id):
            user_id = int(user_id)
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            raise fail('Field "user_id" must be a valid Number')
        if user_id <= 0:
            raise fail("Invalid user_id specified")
    return {"type": kind, "chat_id": chat_id, "user_id": user_id}


def _command_list(raw: Any) -> list:
    """The `commands` parameter: absent or empty is an empty list, as in the Bot API server."""
    if raw is None or raw == "":
        return []
    if not isinstance(raw, list):
        raise bad_request("expected an Array of BotCommand")
    for command in raw:
        if not isinstance(command, dict):
            raise bad_request("can't parse BotCommand: expected an Object")
        for field in ("command", "description"):
            if field not in command:
                raise bad_request(f"can't parse BotCommand: Can't find field \"{field}\"")
            if not isinstance(command[field], str):
                raise bad_request(
                    f'can\'t parse BotCommand: Field "{field}" must be of type String'
                )
    return raw


def _clean_command(command: dict) -> dict:
    """TDLib's checks: trimmed, without a leading "/", 1-32 characters; description 1-256."""
    name = command["command"].strip()
    name = name.removeprefix("/")
    if not name:
        raise bad_request("command must be non-empty")
    if len(name) > MAX_COMMAND:
        raise bad_request(f"command length must not exceed {MAX_COMMAND}")
    description = command["description"].strip()
    if not description:
        raise bad_request("command description must be non-empty")
    if len(description) > MAX_COMMAND_DESCRIPTION:
        raise bad_request(f"command description length must not exceed {MAX_COMMAND_DESCRIPTION}")
    return {"command": name, "description": description}


class CommandsMixin:
    """`getMe`, `set/get/deleteMyCommands`, descriptions, name and the chat menu button."""

    api_methods: ClassVar[dict[str, str]] = {
        "getme": "_get_me",
        "setmycommands": "_set_my_commands",
        "getmycommands": "_get_my_commands",
        "deletemycommands": "_delete_my_commands",
        "setmydescription": "_set_my_description",
        "getmydescription": "_get_my_description",
        "setmyshortdescription": "_set_my_short_description",
        "getmyshortdescription": "_get_my_short_description",
        "setmyname": "_set_my_name",
        "getmyname": "_get_my_name",
        "setchatmenubutton": "_set_chat_menu_button",
        "getchatmenubutton": "_get_chat_menu_button",
    }

    def commands(self, language_code: str = "", scope: dict | None = None) -> list[dict]:
        """The list the bot set for exactly this scope and language (no fallback)."""
        key = self._commands_key({"scope": scope, "language_code": language_code})
        return copy.deepcopy(self._commands.get(key, []))

    def menu(
        self,
        user_id: int,
        chat_id: int | None = None,
        *,
        language_code: str | None = None,
        administrator: bool = False,
    ) -> list[dict]:
        """The commands a person's app shows in a chat's menu: the first list set, from the
        narrowest scope to the default one, each first in their language, then for everyone.

        `language_code` is their app's language (default: their user's); the sandbox keeps no
        group administrators, so `administrator=True` says this person is one."""
        user = self._require_user(user_id)
        chat_id = user_id if chat_id is None else chat_id
        chat = self._chats.get(chat_id)
        if chat is None:
            raise KeyError(f"no chat {chat_id}")
        language = language_code if language_code is not None else user.get("language_code")
        language = (language or "")[:2].lower()
        if chat.info["type"] == "private":
            scopes = [
                CommandsKey("chat", chat_id),
                CommandsKey("all_private_chats"),
                CommandsKey("default"),
            ]
        else:
            admin = administrator  # the administrators' lists come before the chat's
            scopes = [
                CommandsKey("chat_member", chat_id, user_id),
                *([CommandsKey("chat_administrators", chat_id)] if admin else []),
                CommandsKey("chat", chat_id),
                *([CommandsKey("all_chat_administrators")] if admin else []),
                CommandsKey("all_group_chats"),
                CommandsKey("default"),
            ]
        for scope in scopes:
            for key in (scope._replace(language=language), scope):
                if key in self._commands:
                    return copy.deepcopy(self._commands[key])
        return []

    def _get_me(self, p: dict, files: dict) -> dict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _set_my_commands(self, p: dict, files: dict) -> bool:
        # The Bot API server's order: the commands' JSON, the scope, its chat, then TDLib's checks
        # (language, each command), then Telegram's own (characters, how many).
        raw = _command_list(p.get("commands"))
        key = self._commands_key(p)
        commands = [_clean_command(command) for command in raw]
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]+", command["command"]):
                raise bad_request("BOT_COMMAND_INVALID")
        if len(commands) > MAX_COMMANDS:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        if commands:
            self._commands[key] = commands
        else:
            self._commands.pop(key, None)  # an empty list is no list: the fallbacks apply
        return True

    def _get_my_commands(self, p: dict, files: dict) -> list[dict]:
        """The list for this scope and language, else the scope's list for every language."""
        key = self._commands_key(p)
        found = self._commands.get(key, self._commands.get(key._replace(language="")))
        return copy.deepcopy(found or [])

    def _delete_my_commands(self, p: dict, files: dict) -> bool:
        """Only this scope and language: other languages' lists and narrower scopes stay."""
        self._commands.pop(self._commands_key(p), None)
        return True

    def _commands_key(self, p: dict) -> CommandsKey:
        """The scope and language of a command-list call, checked as Telegram checks them."""
        scope = _command_scope(p.get("scope"))
        chat_id = user_id = None
        if scope["chat_id"] is not None:
            chat = self._chat(scope, "chat_id")
            chat_id = chat.info["id"]
            if scope["user_id"] is not None:
                if scope["user_id"] not in self._users:
                    raise bad_request("user not found")
                user_id = scope["user_id"]
            if chat.info["type"] == "private" and scope["type"] != "chat":
                raise bad_request("can't use specified scope in private chats")
            if chat.info["type"] == "channel":
                raise bad_request("can't change commands in channel chats")
        language = p.get("language_code") or ""
        if not re.fullmatch(r"([a-z]{2})?", str(language)):
            raise bad_request("invalid language code specified")
        return CommandsKey(scope["type"], chat_id, user_id, str(language))

    def _set_profile_text(self, field: str, p: dict) -> bool:
        self._descriptions[(field, p.get("language_code") or "")] = str(p.get(field) or "")
        return True

    def _get_profile_text(self, field: str, p: dict) -> dict:
        language = p.get("language_code") or ""
        value = self._descriptions.get((field, language), self._descriptions.get((field, "")))
        if field == "name" and not value:
            value = self.bot_user["first_name"]
        return {field: value or ""}

    def _set_my_description(self, p: dict, files: dict) -> bool:
        return self._set_profile_text("description", p)

    def _get_my_description(self, p: dict, files: dict) -> dict:
        return self._get_profile_text("description", p)

    def _set_my_short_description(self, p: dict, files: dict) -> bool:
        return self._set_profile_text("short_description", p)

    def _get_my_short_description(self, p: dict, files: dict) -> dict:
        return self._get_profile_text("short_description", p)

    def _set_my_name(self, p: dict, files: dict) -> bool:
        return self._set_profile_text("name", p)

    def _get_my_name(self, p: dict, files: dict) -> dict:
        return self._get_profile_text("name", p)

    def _set_chat_menu_button(self, p: dict, files: dict) -> bool:
        chat_id = p.get("chat_id")
        if chat_id is not None:
            self._chat(p)
        button = p.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise bad_request("can't parse menu button JSON object")
        self._menu_buttons[chat_id] = button
        return True

    def _get_chat_menu_button(self, p: dict, files: dict) -> dict:
        chat_id = p.get("chat_id")
        return self._menu_buttons.get(chat_id, self._menu_buttons.get(None, {"type": "default"}))
