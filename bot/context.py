"""The typed CallbackContext handlers receive: `context.services` instead of module globals.

Registered through ContextTypes in bot/app.py, as python-telegram-bot's contexttypesbot example."""

from __future__ import annotations

from telegram.ext import CallbackContext, ExtBot

from bot.services import Services


class BotContext(CallbackContext[ExtBot, dict, dict, dict]):
    @property
    def services(self) -> Services:
        return self.application.bot_data["services"]
