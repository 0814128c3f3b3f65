"""Builds the python-telegram-bot Application: Bot API address, persistence, context type,
per-chat concurrency, rate limiting, and the handlers from `handlers.register`."""

from __future__ import annotations

from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes

import handlers
from bot.context import BotContext
from bot.services import Services
from bot.updates import OfbotApplication, PerChatUpdateProcessor
from storage.persistence import SQLitePersistence


def build_application(services: Services, *, polling: bool = True) -> Application:
    settings = services.settings
    api = settings.telegram_api_url
    builder = (
        ApplicationBuilder()
        .application_class(OfbotApplication)
        .token(settings.telegram_token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .persistence(SQLitePersistence(services.db))
        .context_types(ContextTypes(context=BotContext))
        .concurrent_updates(PerChatUpdateProcessor(256))
        # Telegram allows ~30 messages/s overall and 20/min per group; 429s are waited out.
        .rate_limiter(AIORateLimiter(max_retries=3))
        .connect_timeout(10)
        .read_timeout(15)
        .write_timeout(15)
        .pool_timeout(10)
        .connection_pool_size(64)
        .get_updates_read_timeout(40)
    )
    if not polling:
        builder = builder.updater(None)
    app = builder.build()
    app.bot_data["services"] = services
    handlers.register(app)
    return app
