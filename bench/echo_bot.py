"""The baseline: PTB's echo bot (examples/echobot.py) on the same python-telegram-bot version,
pointed at the sandbox Bot API; it answers every text message (commands too) with its text.

    ECHO_TOKEN=… ECHO_API_URL=http://127.0.0.1:PORT python -m bench.echo_bot

With ECHO_TUNED=1 it gets ofbot's transport and event loop (aiohttp, uvloop): the stock echo bot
is the issue's baseline; the tuned one shows how much of the difference is the bot's own work.
"""

from __future__ import annotations

import asyncio
import logging
import os

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Echo the user message."""
    await update.message.reply_text(update.message.text)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    api = os.environ["ECHO_API_URL"]
    builder = (
        Application.builder()
        .token(os.environ["ECHO_TOKEN"])
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        # The same concurrency and connection pool as ofbot, so only the work per update differs.
        .concurrent_updates(256)
    )
    if os.environ.get("ECHO_TUNED") == "1":
        import uvloop

        from bot.telegram_http import AiohttpRequest

        asyncio.set_event_loop(uvloop.new_event_loop())
        builder = builder.request(AiohttpRequest(pool_size=64, read_timeout=15))
        builder = builder.get_updates_request(AiohttpRequest(pool_size=1, read_timeout=40))
    else:
        builder = builder.connection_pool_size(64)
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.run_polling(allowed_updates=Update.ALL_TYPES, poll_interval=0, timeout=30)


if __name__ == "__main__":
    main()
