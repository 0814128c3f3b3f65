"""Reminders on/off for a verified contact (SPEC §3.3, §5): `/reminders` at any step, and the
menu's reminders button; the choice is per club and chat, and the menu shows the new state."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler

from bot import reminders, verification
from bot.context import BotContext
from handlers.club import menu
from handlers.club.states import IDENTIFY, MENU
from handlers.common import reply
from storage import clubs as club_rows


async def toggle(update: Update, context: BotContext) -> str:
    """Turn the renewal reminders of this chat's club off if on, on if off; then the menu."""
    services = context.services
    chat_id = update.effective_chat.id
    club_id = await verification.verified_club_id(
        services, chat_id, context.user_data.get("club_id")
    )
    now_on = await reminders.toggle_reminders(services, club_id, chat_id) if club_id else None
    if now_on is None:
        await reply(update, context, "start/not_verified")
        return IDENTIFY
    context.user_data["club_id"] = club_id
    club = await club_rows.get(services.db, club_id)
    notice = "reminders/turned_on" if now_on else "reminders/turned_off"
    return await menu.show_menu(update, context, notice=notice, notice_values={"club": club.name})


STATES = {
    MENU: [CallbackQueryHandler(toggle, pattern=r"^menu:reminders$")],
}
