"""Identify step (SPEC §3.1): which club's customer account is this about?

Accepts every address form; suggests close matches as buttons; explains the two logins."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot import verification
from bot.clubs import identify_club
from bot.context import BotContext
from handlers.club import menu
from handlers.club.states import IDENTIFY, MENU, VERIFY_EMAIL
from handlers.common import callback_data, read_id, remember_club_language, reply
from storage import clubs as club_rows
from storage.clubs import Club


async def on_address(update: Update, context: BotContext) -> str:
    """Free text in the identify step."""
    return await identify_text(update, context, update.effective_message.text)


async def identify_text(update: Update, context: BotContext, text: str) -> str:
    found = await identify_club(context.services.db, text)
    if found.club:
        return await club_found(update, context, found.club)
    if found.reading.personal:
        await reply(update, context, "identify/personal_login", kind=found.reading.personal)
    elif found.suggestions:
        buttons = []
        for sub, name in found.suggestions:
            club = await club_rows.get_by_subdomain(context.services.db, sub)
            if club is not None:  # the club's id, not its subdomain (63 characters fit no button)
                buttons.append(
                    [
                        (
                            "pick_club",
                            callback_data("pick", club.id),
                            {"subdomain": sub, "name": name},
                        )
                    ]
                )
        await reply(update, context, "identify/suggestions", buttons=buttons, typed=text[:64])
    else:
        await reply(update, context, "identify/unknown", typed=text[:64])
    return IDENTIFY


async def on_pick(update: Update, context: BotContext) -> str:
    """A suggested club pressed."""
    club_id = read_id(update.callback_query.data.removeprefix("pick:"))
    club = await club_rows.get(context.services.db, club_id) if club_id else None
    if club is None:
        await reply(update, context, "identify/gone")
        return IDENTIFY
    return await club_found(update, context, club)


async def club_found(update: Update, context: BotContext, club: Club) -> str:
    chat_id = update.effective_chat.id
    remember_club_language(context, club.language)
    if await verification.verified_club_id(context.services, chat_id, club.id) == club.id:
        context.user_data["club_id"] = club.id
        return await menu.show_menu(update, context)
    context.user_data["pending_club"] = club.id
    return await ask_for_email(update, context, club)


async def on_text_at_menu(update: Update, context: BotContext) -> str:
    """Text at the menu. Another club's platform address is that club (as `/start
    <subdomain>`): its menu when this chat is verified for it too, else its e-mail step — a
    person speaking for two clubs typed the other's subdomain and was told « I did not
    understand ». Any other text: the menu says it expects a button (menu.text_in_menu)."""
    found = await identify_club(context.services.db, update.effective_message.text)
    if found.club is not None and found.club.id != context.user_data.get("club_id"):
        return await club_found(update, context, found.club)
    return await menu.text_in_menu(update, context)


async def ask_address(update: Update, context: BotContext) -> str:
    """The identify step's question again: "Back" from the e-mail step, another club."""
    for key in ("pending_club", "pending_kind"):
        context.user_data.pop(key, None)
    await reply(update, context, "identify/ask")
    return IDENTIFY


async def ask_for_email(update: Update, context: BotContext, club: Club) -> str:
    """Name the club and ask for one of its registered addresses."""
    await reply(
        update,
        context,
        "identify/found",
        buttons=[[("back", "back")]],
        club=club.name,
        subdomain=club.subdomain,
    )
    return VERIFY_EMAIL


STATES = {
    IDENTIFY: [
        MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, on_address),
        CallbackQueryHandler(on_pick, pattern=r"^pick:"),
    ],
    # identify comes before menu in handlers/club FLOWS: this takes the menu's text.
    MENU: [
        MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, on_text_at_menu)
    ],
}
