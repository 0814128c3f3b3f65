"""Talk to staff (SPEC §3.7): in the TALK step the club's texts, photos and documents are copied
to the staff group; staff answers arrive in this chat with a "reply" button that leads back here.

Leaving is /cancel or the "back" button; staff closing the conversation ends it on the next message."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot import relay, verification
from bot.context import BotContext
from bot.relay import RelayUnavailable, Speaker
from handlers.club import identify, menu, verify
from handlers.club.states import (
    EMAIL_CONFIRM,
    EMAIL_NEW,
    EMAIL_WHICH,
    IDENTIFY,
    MENU,
    PASSWORD,
    RENEW_CONFIRM,
    RENEW_COUNT,
    RENEW_PAY,
    RENEW_PLAN,
    RESET_CONFIRM,
    TALK,
    VERIFY_CODE,
    VERIFY_EMAIL,
)
from handlers.common import lang_of, reply, settle_button
from storage import clubs as club_rows

PRIVATE = filters.ChatType.PRIVATE
RELAYABLE = PRIVATE & ~filters.COMMAND & (filters.TEXT | filters.PHOTO | filters.Document.ALL)
OTHER = PRIVATE & ~filters.COMMAND & ~filters.TEXT & ~filters.PHOTO & ~filters.Document.ALL


def _speaker(update: Update, context: BotContext) -> Speaker:
    user = update.effective_user
    return Speaker(
        chat_id=update.effective_chat.id,
        user_id=user.id,
        name=user.full_name,
        username=user.username,
        lang=lang_of(update, context),
    )


async def on_talk(update: Update, context: BotContext) -> str:
    """Menu "talk to staff" (or "reply" under a staff answer): open the conversation."""
    services = context.services
    club_id = await verification.verified_club_id(
        services, update.effective_chat.id, context.user_data.get("club_id")
    )
    if not club_id:
        talk = await relay.current_talk(services, update.effective_chat.id)
        if talk is None:  # a help conversation staff have closed since (or a forged press)
            await reply(update, context, "talk/ended")
            return VERIFY_EMAIL if context.user_data.get("pending_club") else IDENTIFY
        await reply(update, context, "talk/intro", buttons=[[("back", "back")]])
        return TALK
    context.user_data["club_id"] = club_id
    try:
        await relay.start_talk(services, context.bot, _speaker(update, context), club_id)
    except RelayUnavailable:
        return await menu.show_menu(update, context, notice="talk/unavailable")
    await reply(update, context, "talk/intro", buttons=[[("back", "back")]])
    return TALK


async def on_message(update: Update, context: BotContext) -> str:
    """A text, photo or document in the TALK step: copied to staff, with the club named.
    A person who asked for help from a lock and types an address once the lock has ended is
    back at the e-mail step: the address is checked, not relayed."""
    services = context.services
    message = update.effective_message
    if (
        context.user_data.get("pending_club")
        and not context.user_data.get("club_id")
        and message.text
        and verification.looks_like_address(message.text)
        and not await verification.lock_of_chat(services, update.effective_chat.id)
    ):
        return await verify.on_email(update, context)
    talk = await relay.current_talk(services, update.effective_chat.id)
    if talk is None:
        await reply(update, context, "talk/ended")
        if context.user_data.get("club_id"):
            return await menu.show_menu(update, context)
        return VERIFY_EMAIL if context.user_data.get("pending_club") else IDENTIFY
    try:
        await relay.relay_to_staff(services, context.bot, talk, update.effective_message)
    except RelayUnavailable:
        await reply(update, context, "talk/unavailable")
        return TALK
    if context.user_data.get("talk_acknowledged") != talk.id:
        context.user_data["talk_acknowledged"] = talk.id
        await reply(update, context, "talk/relayed", buttons=[[("back", "back")]])
    return TALK


async def on_other(update: Update, context: BotContext) -> str:
    """A sticker, voice note, location…: not passed on; say what is."""
    await reply(update, context, "talk/not_relayable")
    return TALK


async def on_already(update: Update, context: BotContext) -> str:
    await settle_button(update, context)
    await reply(update, context, "talk/already")
    return TALK


async def on_back(update: Update, context: BotContext) -> str:
    """ "Back" while talking to staff: the menu; for a person not verified yet (help asked from
    a lock), the e-mail step they came from."""
    services = context.services
    club_id = await verification.verified_club_id(
        services, update.effective_chat.id, context.user_data.get("club_id")
    )
    if club_id:
        context.user_data["club_id"] = club_id
        return await menu.show_menu(update, context)
    pending = context.user_data.get("pending_club")
    club = await club_rows.get(services.db, pending) if pending else None
    if club is None:
        return await identify.ask_address(update, context)
    return await identify.ask_for_email(update, context, club)


_REPLY = CallbackQueryHandler(on_talk, pattern=r"^talk:reply$")

STATES = {
    MENU: [CallbackQueryHandler(on_talk, pattern=r"^menu:talk$"), _REPLY],
    TALK: [
        CallbackQueryHandler(on_back, pattern=r"^back$"),
        MessageHandler(RELAYABLE, on_message),
        MessageHandler(OTHER, on_other),
        CallbackQueryHandler(on_already, pattern=r"^talk:reply$"),
    ],
    # "Reply to staff" under a staff answer works from any step.
    **{
        state: [_REPLY]
        for state in (
            IDENTIFY,
            VERIFY_EMAIL,
            VERIFY_CODE,
            PASSWORD,
            RESET_CONFIRM,
            EMAIL_WHICH,
            EMAIL_NEW,
            EMAIL_CONFIRM,
            RENEW_COUNT,
            RENEW_PLAN,
            RENEW_CONFIRM,
            RENEW_PAY,
        )
    },
}
