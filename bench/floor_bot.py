"""The floor: the least work any bot must do to answer the renewal flow as ofbot does, on the
echo-tuned bot's library, transport and loop — to tell the CPU the flow itself costs from the CPU
ofbot's own code adds (bench/overhead.py runs it as the kind "floor").

    FLOOR_TOKEN=… FLOOR_API_URL=http://127.0.0.1:PORT FLOOR_SMTP=127.0.0.1:PORT \
    FLOOR_DB=/tmp/floor.sqlite3 python -m bench.floor_bot

Per update it does only what the product cannot skip, each in its cheapest form:
- a durable record of the update before it is answered (one INSERT in one transaction, SQLite
  WAL with synchronous=NORMAL as ofbot's storage/db.py): "nothing lost or done twice after a
  crash" needs at least that;
- ofbot's messages, keyboards and round trips: the same texts' lengths and the same
  inline keyboards (callback data the benchmark presses) at each step, a typed step answered
  with sendMessage, a pressed button with answerCallbackQuery + editMessageText (1.5 requests
  per update over the flow, as ofbot);
- the sign-in code mail: one message of pre-built bytes on one kept SMTP connection
  (aiosmtplib `sendmail`, no `email` package), sent before the step's answer.
No templates, languages, state machine, business data, rate limiter or persistence of
conversations. It is a lower bound, not the flow's exact cost: it also leaves out work no correct
bot can skip (a code stored when mailed and checked when typed — any digits pass here —, the club
looked up among the 10 000 and the address checked against it, the codes-per-hour limit, the
invoice and its number, the audit row): ~0.01 ms of CPU per update done the cheapest way
(bench/README.md), so all but that of ofbot's CPU above it is ofbot's own code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sqlite3
import time

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

# ofbot's French texts at each step of the renewal flow, by length (bench run of 2026-11-30).
_TEXT = "Votre abonnement OpenFlyers : renouvellement, facture et paiement. " * 8


def _text(length: int) -> str:
    return _TEXT[:length]


def _keyboard(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


BACK = [("⬅️ Retour", "back")]
ASK_EMAIL = (225, _keyboard([BACK]))
CODE_SENT = (
    172,
    _keyboard([[("Renvoyer un code", "verify:resend"), ("Autre adresse", "verify:other")]]),
)
MENU = (
    249,
    _keyboard(
        [
            [("🔄 Renouveler l’abonnement", "menu:renew")],
            [("🧾 Mes factures", "menu:invoices"), ("🔑 Mot de passe", "menu:password")],
            [("✉️ Changer les e-mails", "menu:emails"), ("💬 Parler à l’équipe", "menu:talk")],
            [
                ("🔕 Couper les rappels", "menu:reminders"),
                ("🗑 Oublier cette conversation", "forget:ask"),
            ],
        ]
    ),
)
COUNTS = (
    314,
    _keyboard(
        [
            [("2 (minimum)", "renew:count:2")],
            [("3", "renew:count:3"), ("4", "renew:count:4"), ("7", "renew:count:7")],
            [("✏️ Autre nombre", "renew:other")],
            [BACK[0]],
        ]
    ),
)
QUOTE = (
    350,
    _keyboard(
        [
            [("✅ Confirmer et créer la facture", "renew:confirm")],
            [("🔀 Changer de formule", "renew:plans")],
            [("✏️ Changer le nombre", "renew:recount")],
            [BACK[0]],
        ]
    ),
)
PAY = (
    77,
    _keyboard(
        [
            [("💳 Carte bancaire", "pay:1:card")],
            [("🏦 Virement", "pay:1:transfer"), ("✉️ Chèque", "pay:1:cheque")],
            [BACK[0]],
        ]
    ),
)
TRANSFER = (
    398,
    _keyboard(
        [
            [("📨 J’ai envoyé le virement", "pay:1:sent:transfer")],
            [("↩️ Autre moyen de paiement", "pay:1")],
            [BACK[0]],
        ]
    ),
)
PRESSED = {"menu:renew": COUNTS, "renew:confirm": PAY, "pay:1:transfer": TRANSFER}


class Floor:
    """The durable record and the kept SMTP connection."""

    def __init__(self, db_path: str, smtp: str) -> None:
        self.db = sqlite3.connect(db_path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS handled (update_id INTEGER PRIMARY KEY, chat_id INTEGER,"
            " step TEXT)"
        )
        host, _, port = smtp.rpartition(":")
        self.smtp_host, self.smtp_port = host, int(port)
        self.smtp = None
        self.smtp_lock = asyncio.Lock()  # one mail at a time on the one kept connection

    def record(self, update: Update, step: str) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute(
            "INSERT OR IGNORE INTO handled VALUES (?, ?, ?)",
            (update.update_id, update.effective_chat.id, step),
        )
        self.db.execute("COMMIT")

    async def mail(self, to: str) -> None:
        import aiosmtplib

        async with self.smtp_lock:
            if self.smtp is None or not self.smtp.is_connected:
                self.smtp = aiosmtplib.SMTP(
                    hostname=self.smtp_host,
                    port=self.smtp_port,
                    local_hostname="floor.example.org",
                )
                await self.smtp.connect()
            await self.smtp.sendmail("no-reply@openflyers.example", [to], self._message(to))

    @staticmethod
    def _message(to: str) -> bytes:
        code = f"{random.randrange(10**6):06d}"
        message = (
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
            "From: OpenFlyers <no-reply@openflyers.example>\r\n"
            f"To: {to}\r\nSubject: Code\r\n"
            f"Message-ID: <{time.time_ns()}@openflyers.example>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Code : {code}\r\n"
        ).encode()
        return message


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    floor: Floor = context.bot_data["floor"]
    text = update.message.text
    if text.startswith("/start"):
        floor.record(update, "start")
        await update.message.reply_text(_text(292))
    elif "@" in text:
        floor.record(update, "email")
        await floor.mail(text)
        await update.message.reply_text(_text(CODE_SENT[0]), reply_markup=CODE_SENT[1])
    elif text.isdigit():
        floor.record(update, "code")
        await update.message.reply_text(_text(MENU[0]), reply_markup=MENU[1])
    else:
        floor.record(update, "subdomain")
        await update.message.reply_text(_text(ASK_EMAIL[0]), reply_markup=ASK_EMAIL[1])


async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    floor: Floor = context.bot_data["floor"]
    query = update.callback_query
    floor.record(update, query.data)
    length, markup = PRESSED.get(query.data) or (QUOTE if "count" in query.data else MENU)
    await query.answer()
    await query.edit_message_text(_text(length), reply_markup=markup)


def main() -> None:
    import uvloop

    from bot.telegram_http import AiohttpRequest

    logging.basicConfig(level=logging.WARNING)
    asyncio.set_event_loop(uvloop.new_event_loop())
    api = os.environ["FLOOR_API_URL"]
    application = (
        Application.builder()
        .token(os.environ["FLOOR_TOKEN"])
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .concurrent_updates(256)
        .request(AiohttpRequest(pool_size=64, read_timeout=15))
        .get_updates_request(AiohttpRequest(pool_size=1, read_timeout=40))
        .build()
    )
    application.bot_data["floor"] = Floor(os.environ["FLOOR_DB"], os.environ["FLOOR_SMTP"])
    application.add_handler(MessageHandler(filters.TEXT, on_text))
    application.add_handler(CallbackQueryHandler(on_press))
    application.run_polling(allowed_updates=Update.ALL_TYPES, poll_interval=0, timeout=30)


if __name__ == "__main__":
    main()
