"""Messages that `ofbot` commands (`reminders run`, `payments reconcile` run by hand) send in
private chats while the bot may be running elsewhere, recorded so the running bot knows a notice
came below a message: a press under that message is then answered below the notice, not edited
in place above it, out of sight (docs/TELEGRAM.md, "Buttons and callback queries")."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Bot
from telegram.ext import ExtBot

from bot.services import Services
from bot.telegram_send import CREATES_MESSAGE
from storage import chats
from storage.db import Database

log = logging.getLogger(__name__)


class NoticeRecorder:
    """Mixed into the Bot of an `ofbot` command: each message it sends in a private chat is
    recorded (`storage.chats.record_notice`). A record that fails is logged, never raised: the
    message went out, and at worst a later press edits a message above it."""

    notice_db: Database | None = None

    async def _post(self, endpoint: str, data: dict | None = None, **kwargs: Any) -> Any:
        result = await super()._post(endpoint, data, **kwargs)
        db = self.notice_db
        if db is not None and endpoint in CREATES_MESSAGE and isinstance(result, dict):
            chat = result.get("chat") or {}
            message_id = result.get("message_id")
            if chat.get("type") == "private" and isinstance(message_id, int):
                try:
                    await chats.record_notice(db, chat["id"], message_id)
                except Exception as exc:  # sqlite3.Error: the message was sent all the same
                    log.warning("a command's message in a chat not recorded: %s", exc)
        return result


class CommandBot(NoticeRecorder, Bot):
    """`telegram.Bot` for `ofbot` commands, recording its messages in chats."""


class CommandExtBot(NoticeRecorder, ExtBot):
    """`telegram.ext.ExtBot` (with a rate limiter) for `ofbot` commands, recording its messages."""


def record_into(bot: NoticeRecorder, db: Database) -> None:
    """Where `bot` records its messages (the bot object is frozen after its __init__)."""
    with bot._unfrozen():
        bot.notice_db = db


async def came_after(services: Services, chat_id: int, message_id: int) -> bool:
    """True when a command's message came in `chat_id` after `message_id`."""
    newest = await chats.last_notice(services.db, chat_id)
    return newest is not None and newest > message_id
