"""`ofbot doctor`'s Telegram checks: the token (getMe, privacy mode), the staff group (the bot's
and each staff member's place in it) and the webhook (set or not, per the bot's mode, and its errors).
"""

from __future__ import annotations

import datetime as dt
import time

import httpx

from bot.doctor.checks import ERROR, OK, WARNING, Check

PENDING_UPDATES_WARNING = 100  # updates Telegram holds: the bot is down or falling behind
WEBHOOK_ERROR_RECENT = 3600  # seconds: a webhook delivery error this recent is reported


class TelegramAnswer(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class TelegramChecks:
    """The Telegram checks of `Doctor` (bot/doctor/__init__.py): they use its `settings`, its
    `http` client and `webhook` mode, and leave `me` (getMe's answer) for the checks after them."""

    async def _bot_api(self, method: str, **params) -> dict | list | bool:
        """One Bot API call; raises TelegramAnswer for `ok: false`, httpx.HTTPError when the API
        cannot be reached."""
        url = f"{self.settings.telegram_api_url}/bot{self.settings.telegram_token}/{method}"
        response = await self.http.post(url, json=params)
        try:
            body = response.json()
        except ValueError:
            raise TelegramAnswer(response.status_code, f"HTTP {response.status_code}") from None
        if not body.get("ok"):
            raise TelegramAnswer(
                body.get("error_code", response.status_code), body.get("description", "")
            )
        return body["result"]

    async def check_token(self) -> list[Check]:
        if not self.settings.telegram_token:
            return [
                Check(
                    "telegram token",
                    ERROR,
                    "OFBOT_TELEGRAM_TOKEN is not set",
                    "create a bot with @BotFather and set OFBOT_TELEGRAM_TOKEN",
                )
            ]
        try:
            self.me = await self._bot_api("getMe")
        except TelegramAnswer as exc:
            if exc.code in (401, 404):
                return [
                    Check(
                        "telegram token",
                        ERROR,
                        f"Telegram refuses the token ({exc.description})",
                        "copy the token again from @BotFather (/mybots → API Token)",
                    )
                ]
            return [Check("telegram token", ERROR, f"getMe failed: {exc.code} {exc.description}")]
        except httpx.HTTPError as exc:
            return [
                Check(
                    "telegram token",
                    ERROR,
                    f"the Bot API at {self.settings.telegram_api_url} cannot be reached ({type(exc).__name__})",
                    "check the network and OFBOT_TELEGRAM_API_URL",
                )
            ]
        me = self.me
        checks = [Check("telegram token", OK, f"@{me.get('username')} (id {me.get('id')})")]
        if me.get("can_read_all_group_messages"):
            checks.append(
                Check(
                    "privacy mode",
                    WARNING,
                    "off: the bot receives every message of the staff group, which it does not need",
                    "@BotFather → /setprivacy → Enable (the bot works with commands and replies to it)",
                )
            )
        else:
            checks.append(
                Check(
                    "privacy mode",
                    OK,
                    "on: in the staff group the bot sees commands and replies to its messages, which is all it needs",
                )
            )
        return checks

    async def check_staff_group(self) -> list[Check]:
        chat_id = self.settings.staff_chat_id
        if chat_id is None:
            return [
                Check(
                    "staff group",
                    ERROR,
                    "OFBOT_STAFF_CHAT_ID is not set",
                    "add the bot to the staff group and set its chat id",
                )
            ]
        if self.me is None:
            return [Check("staff group", ERROR, "not checked: the token does not work")]
        try:
            chat = await self._bot_api("getChat", chat_id=chat_id)
        except TelegramAnswer as exc:
            return [
                Check(
                    "staff group",
                    ERROR,
                    f"getChat({chat_id}): {exc.description}",
                    "add the bot to the staff group, and check OFBOT_STAFF_CHAT_ID "
                    "(a supergroup id starts with -100)",
                )
            ]
        kind = chat.get("type")
        if kind not in ("group", "supergroup"):
            return [
                Check(
                    "staff group",
                    ERROR,
                    f"chat {chat_id} is a {kind}, not a group",
                    "set OFBOT_STAFF_CHAT_ID to the staff group's id",
                )
            ]
        title = chat.get("title", "")
        checks = []
        try:
            member = await self._bot_api("getChatMember", chat_id=chat_id, user_id=self.me["id"])
        except TelegramAnswer as exc:
            return [
                Check(
                    "staff group",
                    ERROR,
                    f"getChatMember: {exc.description}",
                    "add the bot to the staff group",
                )
            ]
        status = member.get("status")
        if status in ("left", "kicked"):
            return [
                Check(
                    "staff group",
                    ERROR,
                    f"the bot is not a member of “{title}” ({status})",
                    "add the bot to the staff group again",
                )
            ]
        can_post = status in ("administrator", "creator") or (
            member.get("can_send_messages", True)
            if status == "restricted"
            else (chat.get("permissions") or {}).get("can_send_messages", True)
        )
        if not can_post:
            checks.append(
                Check(
                    "staff group",
                    ERROR,
                    f"the bot is in “{title}” but cannot post there",
                    "let members send messages, or make the bot an administrator",
                )
            )
        else:
            checks.append(
                Check("staff group", OK, f"“{title}” ({kind}): the bot is {status} and can post")
            )
        if chat.get("is_forum"):
            manage = status == "creator" or (
                status == "administrator" and member.get("can_manage_topics")
            )
            if manage:
                checks.append(
                    Check("staff topics", OK, "forum: the bot can create one topic per club")
                )
            else:
                checks.append(
                    Check(
                        "staff topics",
                        WARNING,
                        "forum, but the bot cannot manage topics: requests land in General",
                        "make the bot an administrator with the right “Manage topics”",
                    )
                )
        missing = []
        for user_id in sorted(self.settings.staff_user_ids):
            try:
                staff = await self._bot_api("getChatMember", chat_id=chat_id, user_id=user_id)
            except TelegramAnswer:
                missing.append(user_id)
                continue
            if staff.get("status") in ("left", "kicked"):
                missing.append(user_id)
        if not self.settings.staff_user_ids:
            checks.append(
                Check(
                    "staff members",
                    WARNING,
                    "OFBOT_STAFF_USER_IDS is empty: nobody can use the staff commands",
                    "set the staff members' Telegram user ids",
                )
            )
        elif missing:
            checks.append(
                Check(
                    "staff members",
                    WARNING,
                    f"not in the staff group: {', '.join(map(str, missing))}",
                    "add them to the group, or remove them from OFBOT_STAFF_USER_IDS",
                )
            )
        else:
            checks.append(
                Check(
                    "staff members",
                    OK,
                    f"{len(self.settings.staff_user_ids)} staff member(s), all in the group",
                )
            )
        return checks

    async def check_webhook(self) -> list[Check]:
        if self.me is None:
            return [Check("webhook", ERROR, "not checked: the token does not work")]
        info = await self._bot_api("getWebhookInfo")
        url = info.get("url") or ""
        pending = int(info.get("pending_update_count") or 0)
        checks = []
        s = self.settings
        if self.webhook:
            expected = f"{s.public_url}/telegram/webhook" if s.public_url else None
            if expected is None:
                checks.append(
                    Check(
                        "webhook",
                        ERROR,
                        "webhook mode needs OFBOT_PUBLIC_URL",
                        "set OFBOT_PUBLIC_URL to the https address of the reverse proxy",
                    )
                )
            elif not expected.startswith("https://"):
                checks.append(
                    Check(
                        "webhook",
                        ERROR,
                        f"{expected} is not https: Telegram refuses it",
                        "serve the bot behind a TLS reverse proxy (docs/OPERATIONS.md)",
                    )
                )
            elif not s.telegram_secret_token:
                checks.append(
                    Check(
                        "webhook",
                        ERROR,
                        "OFBOT_TELEGRAM_SECRET_TOKEN is not set",
                        "set a long random secret",
                    )
                )
            elif url == expected:
                checks.append(Check("webhook", OK, f"set to {url}, {pending} update(s) pending"))
            elif not url:
                checks.append(
                    Check(
                        "webhook",
                        WARNING,
                        f"not set yet ({pending} update(s) pending)",
                        "`ofbot run --webhook` sets it at start-up",
                    )
                )
            else:
                checks.append(
                    Check(
                        "webhook",
                        WARNING,
                        f"set to {url}, not {expected}",
                        "`ofbot run --webhook` sets it at start-up; check OFBOT_PUBLIC_URL",
                    )
                )
        elif url:
            checks.append(
                Check(
                    "webhook",
                    WARNING,
                    f"a webhook is set ({url}) but this bot polls: getUpdates is refused while it is",
                    "`ofbot run` removes it at start-up; or check with `ofbot doctor --webhook` if the bot runs with --webhook",
                )
            )
        else:
            checks.append(Check("webhook", OK, f"none (long polling), {pending} update(s) pending"))
        if pending > PENDING_UPDATES_WARNING:
            checks.append(
                Check(
                    "pending updates",
                    WARNING,
                    f"Telegram holds {pending} updates",
                    "the bot is down or behind: start it, and check its log",
                )
            )
        error_at = info.get("last_error_date")
        if url and error_at and time.time() - error_at < WEBHOOK_ERROR_RECENT:
            when = dt.datetime.fromtimestamp(error_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            checks.append(
                Check(
                    "webhook delivery",
                    ERROR,
                    f"Telegram's last delivery failed at {when}: {info.get('last_error_message')}",
                    "check the reverse proxy, the certificate and that the bot runs",
                )
            )
        return checks
