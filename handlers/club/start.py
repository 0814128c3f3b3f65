"""Entry points and the commands available at every step: /start, /help, /cancel, /language,
/menu, /forget, and what to say when a message or an old button does not fit the current step."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot import contacts as contact_service
from bot import privacy, verification
from bot.clubs import identify_club
from bot.context import BotContext
from bot.texts import LANGUAGES
from handlers.club import identify, invoices, menu, renew, verify
from handlers.club.reminders import toggle as toggle_reminders
from handlers.club.states import IDENTIFY, VERIFY_CODE
from handlers.common import answer_query, button_is_current, lang_of, reply, settle_button
from storage import clubs as club_rows

PRIVATE = filters.ChatType.PRIVATE


async def start(update: Update, context: BotContext) -> str:
    """/start [subdomain | pay_… | paid_… | v_<token>]: the menu for a verified chat, else the
    identify step; `v_<token>` is the one-tap link of a code mail (verify.on_link)."""
    payload = context.args[0] if context.args else None
    context.user_data.pop("pending_club", None)
    club_id = await verification.verified_club_id(
        context.services, update.effective_chat.id, context.user_data.get("club_id")
    )
    if payload and payload.startswith(verification.LINK_PREFIX):
        return await verify.on_link(update, context, payload)
    if payload and payload.startswith(("paid_", "pay_")):
        # Back from Stripe's checkout page (success or cancel URL).
        return await renew.on_start_payload(update, context, payload)
    if payload and not payload.startswith("_"):
        return await identify.identify_text(update, context, payload)
    if club_id:
        context.user_data["club_id"] = club_id
        return await menu.show_menu(update, context)
    await reply(update, context, "start/welcome")
    return IDENTIFY


async def greet(update: Update, context: BotContext) -> str:
    """A first message or an old button with no conversation under way: start over politely.
    A first message that is a club's platform address (a person who writes `mermoz` without
    /start, or again after /cancel) is that club: the e-mail step, not "what is your address?"."""
    if update.callback_query:
        await settle_button(update, context)
    context.args = []
    text = update.message.text if update.message else None
    if text and not await verification.verified_club_id(
        context.services, update.effective_chat.id, context.user_data.get("club_id")
    ):
        found = await identify_club(context.services.db, text)
        if found.club is not None:
            context.user_data.pop("pending_club", None)
            return await identify.club_found(update, context, found.club)
    return await start(update, context)


async def help_command(update: Update, context: BotContext) -> None:
    """/help at any step: what the bot does and the commands; the step does not change."""
    await reply(update, context, "start/help")


async def cancel(update: Update, context: BotContext) -> str | int:
    """/cancel or a "back" button: drop what was being typed; back to the menu when verified."""
    for key in list(context.user_data):
        if key.startswith(("pending", "draft")):
            del context.user_data[key]
    club_id = await verification.verified_club_id(
        context.services, update.effective_chat.id, context.user_data.get("club_id")
    )
    if club_id:
        context.user_data["club_id"] = club_id
        return await menu.show_menu(update, context, notice="start/cancelled_to_menu")
    await reply(update, context, "start/cancelled")
    return ConversationHandler.END


async def language(update: Update, context: BotContext) -> None:
    """/language: choose French or English; the step does not change."""
    await reply(
        update,
        context,
        "start/language",
        buttons=[[("lang_fr", "lang:fr"), ("lang_en", "lang:en")]],
    )


async def set_language(update: Update, context: BotContext) -> str | None:
    """A language chosen: said in that language, then the conversation goes on in it."""
    chosen = update.callback_query.data.removeprefix("lang:")
    if chosen not in LANGUAGES:
        await settle_button(update, context)
        return None
    context.user_data["lang"] = chosen
    await contact_service.set_chat_language(context.services, update.effective_chat.id, chosen)
    await reply(update, context, "start/language_set")
    return await resume(update, context)


async def resume(update: Update, context: BotContext) -> str:
    """Where the person stands, asked again (after /language): a renewal's quote or count step,
    else the menu when verified; else the code, the e-mail or the platform address asked for."""
    services = context.services
    chat_id = update.effective_chat.id
    club_id = await verification.verified_club_id(
        services, chat_id, context.user_data.get("club_id")
    )
    if club_id:
        context.user_data["club_id"] = club_id
        draft = context.user_data.get(renew.DRAFT) or {}
        club = (
            await club_rows.get(services.db, club_id) if draft.get("club_id") == club_id else None
        )
        if club is not None:  # in the middle of a renewal: its quote, or its count step
            if "count" in draft:
                return await renew.show_quote(update, context, club)
            return await renew.ask_count(update, context, club)
        return await menu.show_menu(update, context)
    pending = context.user_data.get("pending_club")
    club = await club_rows.get(services.db, pending) if pending else None
    if club is None:
        return await identify.ask_address(update, context)
    if context.user_data.get("pending_kind") and await verification.has_live_code(
        services, club, chat_id
    ):
        await reply(
            update,
            context,
            "verify/type_code",
            buttons=[[("resend_code", "verify:resend"), ("other_address", "verify:other")]],
        )
        return VERIFY_CODE
    return await identify.ask_for_email(update, context, club)


async def forget(update: Update, context: BotContext) -> None:
    """/forget: ask before removing this chat's link to its club(s)."""
    await reply(
        update,
        context,
        "start/forget_confirm",
        buttons=[[("forget_yes", "forget:yes"), ("back", "forget:no")]],
    )


async def forget_confirmed(update: Update, context: BotContext) -> int | str | None:
    if update.callback_query.data == "forget:ask":
        await forget(update, context)
        return None
    if update.callback_query.data != "forget:yes":
        await reply(update, context, "start/forget_kept")
        return None
    chat, user = update.effective_chat, update.effective_user
    done = await privacy.forget_person(context.services, context.bot, chat.id)
    await reply(
        update,
        context,
        "start/forget_done",
        clubs=len(done.clubs),
        relayed=done.messages,
        requests=done.requests,
    )
    # Nothing of the chat or the person stays in the saved conversation data either.
    context.user_data.clear()
    context.application.forget_after_update(chat.id, user.id if user else None)
    return ConversationHandler.END


async def not_understood(update: Update, context: BotContext) -> None:
    """A message that fits no handler of the current step: say so, stay on the step."""
    await reply(update, context, "start/not_understood")


async def stale_button(update: Update, context: BotContext) -> None:
    """A button from an earlier step: tell the user, stay on the current step."""
    lang = lang_of(update, context)
    notice = context.services.texts.render_plain(lang, "start/stale_button")
    await settle_button(update, context, notice)


async def check_button(update: Update, context: BotContext) -> None:
    """Runs before every handler: a club button acts only on what its own message showed. Under
    a message showing another state (an older quote, another club's menu, a draft since
    changed), the press is answered "no longer current" and nothing else happens."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE or button_is_current(update, context):
        return
    lang = lang_of(update, context)
    notice = context.services.texts.render_plain(lang, "start/button_not_current")
    await settle_button(update, context, notice)
    raise ApplicationHandlerStop


async def button_elsewhere(update: Update, context: BotContext) -> None:
    """A button no handler took, outside private chats (a forged or foreign club button in the
    staff group): stop the spinner, change nothing, post nothing."""
    await answer_query(update)


async def show_menu_command(update: Update, context: BotContext) -> str | None:
    club_id = await verification.verified_club_id(
        context.services, update.effective_chat.id, context.user_data.get("club_id")
    )
    if not club_id:
        await reply(update, context, "start/not_verified")
        return IDENTIFY
    context.user_data["club_id"] = club_id
    return await menu.show_menu(update, context)


def _anywhere() -> list:
    """Commands and buttons that work at every step, and with no conversation under way."""
    return [
        CommandHandler("start", start, filters=PRIVATE),
        CommandHandler("menu", show_menu_command, filters=PRIVATE),
        CommandHandler("help", help_command, filters=PRIVATE),
        CommandHandler("language", language, filters=PRIVATE),
        CommandHandler("forget", forget, filters=PRIVATE),
        CommandHandler("reminders", toggle_reminders, filters=PRIVATE),
        CallbackQueryHandler(set_language, pattern=r"^lang:"),
        CallbackQueryHandler(forget_confirmed, pattern=r"^forget:"),
        # "Renew now" (reminders), "Pay" (fee invoices) and invoice documents.
        *renew.ANYWHERE,
        *invoices.ANYWHERE,
    ]


def entry_points() -> list:
    return [
        *_anywhere(),
        MessageHandler(PRIVATE & ~filters.COMMAND, greet),
        CallbackQueryHandler(greet),
    ]


def fallbacks() -> list:
    return [
        CommandHandler("cancel", cancel, filters=PRIVATE),
        CallbackQueryHandler(cancel, pattern=r"^back$"),
        *_anywhere(),
        MessageHandler(PRIVATE & ~filters.COMMAND, not_understood),
        MessageHandler(PRIVATE & filters.COMMAND, not_understood),
        CallbackQueryHandler(stale_button),
    ]
