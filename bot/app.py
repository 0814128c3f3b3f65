"""Builds the python-telegram-bot Application: Bot API address, persistence, context type,
per-chat concurrency, rate limiting, and the handlers from `handlers.register`."""

from __future__ import annotations

import ssl

import certifi
from telegram.ext import Application, ApplicationBuilder, ContextTypes

import handlers
from bot.context import BotContext
from bot.ratelimit import TelegramRateLimiter
from bot.services import Services
from bot.staff_group import follow_migration
from bot.telegram_http import AiohttpRequest
from bot.updates import OfbotApplication, OfbotBot, PerChatUpdateProcessor, UpdateLedger
from storage.inbox import SqliteInbox
from storage.persistence import SQLitePersistence


def build_application(services: Services, *, polling: bool = True) -> Application:
    settings = services.settings
    api = settings.telegram_api_url
    # One TLS context for both connection pools: building one (loading the CA bundle) costs
    # ~40 ms of start-up CPU.
    tls = ssl.create_default_context(cafile=certifi.where())
    request = AiohttpRequest(
        pool_size=64,
        connect_timeout=10,
        read_timeout=15,
        write_timeout=15,
        pool_timeout=10,
        tls=tls,
    )
    get_updates_request = AiohttpRequest(pool_size=1, read_timeout=40, tls=tls)
    # Every Bot API answer counted by method and status (429s apart) for GET /metrics.
    request.observe = get_updates_request.observe = services.metrics.observe_bot_api
    bot = OfbotBot(
        settings.telegram_token,
        base_url=f"{api}/bot",
        base_file_url=f"{api}/file/bot",
        request=request,
        get_updates_request=get_updates_request,
        # Paced as Telegram limits: per chat (~1/s), per group (20/min), broadcasts 30/s; a reply
        # never queues behind other chats. 429s are waited out (3 times).
        rate_limiter=TelegramRateLimiter(max_retries=3),
        # Polling: every update written to the inbox before it is confirmed (webhook: answered
        # once handled).
        ledger=UpdateLedger(journal_all=polling),
    )
    builder = (
        ApplicationBuilder()
        .application_class(OfbotApplication)
        .bot(bot)
        .persistence(SQLitePersistence(services.db))
        .context_types(ContextTypes(context=BotContext))
        .concurrent_updates(PerChatUpdateProcessor(256))
    )
    if not polling:
        builder = builder.updater(None)
    # A flooding chat's updates wait in the database, not in Telegram's queue (bot/updates.py).
    bot.keep_in(SqliteInbox(services.db))
    app = builder.build()
    app.bot_data["services"] = services
    # Closed by Runtime.stop even when initialize() failed (Bot API unreachable): PTB's
    # shutdown() does nothing for a bot that never finished initialize().
    app.bot_api_requests = (request, get_updates_request)

    async def chat_migrated(old_chat_id: int, new_chat_id: int) -> None:
        await follow_migration(services, old_chat_id, new_chat_id)

    bot.follow_migrations(chat_migrated)
    handlers.register(app)
    return app
