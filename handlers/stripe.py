"""Stripe events as updates: the webhook stored the event and queued a `StripeEventUpdate`; this
TypeHandler processes it through `bot.payments`, with the same error handler as Telegram updates."""

from __future__ import annotations

from telegram.ext import Application, TypeHandler

from bot import payments
from bot.context import BotContext


async def on_stripe_event(update: payments.StripeEventUpdate, context: BotContext) -> None:
    """One stored event, processed once (a replay finds it processed and does nothing)."""
    await payments.process_event(context.services, context.bot, update.event_id)


def register(app: Application) -> None:
    app.add_handler(TypeHandler(payments.StripeEventUpdate, on_stripe_event))
