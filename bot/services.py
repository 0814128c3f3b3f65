"""The services every handler and job reaches through `context.services`, built once at start-up.

Holding them in one object (in `application.bot_data`) keeps handlers free of module globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.clock import Clock
from bot.mail import Mailer
from bot.metrics import Metrics
from bot.settings import Settings
from bot.texts import Texts
from storage.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    texts: Texts
    clock: Clock
    mailer: Mailer
    catalogue: Any = None  # bot.catalogue.Catalogue, loaded and validated at start-up
    stripe: Any = None  # the Stripe client, when a secret key is configured
    bot_username: str = ""
    metrics: Metrics = field(default_factory=Metrics)  # what GET /metrics reports
    # Where Stripe's checkout sends the payer back, `{payload}` standing for the deep-link payload
    # (paid_… or pay_…). None in production: the bot's own t.me link, so Telegram opens the chat.
    # `ofbot sandbox` sets its page's address, since t.me cannot be reached offline.
    checkout_return_url: str | None = None
    outbox: Any = None  # bot.outbox.MailOutbox: mail sent in the background (bot running)
    extra: dict[str, Any] = field(default_factory=dict)

    def is_staff(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.staff_user_ids
