"""Verify step (SPEC §3.2): the user names a registered address, receives a code there, types it.

Every limit is the service's; this module only turns its answers into messages and steps."""

from __future__ import annotations

import contextlib

from telegram import Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot import relay, verification
from bot.context import BotContext
from handlers.club import identify, menu
from handlers.club.states import IDENTIFY, TALK, VERIFY_CODE, VERIFY_EMAIL
from handlers.common import lang_of, reply, settle_button
from storage import clubs as club_rows
from storage.clubs import Club

TEXT = filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND


async def _pending_club(update: Update, context: BotContext) -> Club | None:
    club_id = context.user_data.get("pending_club")
    club = await club_rows.get(context.services.db, club_id) if club_id else None
    if club is None:
        await reply(update, context, "start/welcome")
    return club


def _time(context: BotContext, moment) -> str:
    return moment.astimezone(context.services.clock.tz).strftime("%H:%M")


async def on_email(update: Update, context: BotContext) -> str:
    """An address typed in the verify step."""
    club = await _pending_club(update, context)
    if club is None:
        return IDENTIFY
    if verification.read_code(update.effective_message.text) and await verification.has_live_code(
        context.services, club, update.effective_chat.id
    ):
        # A code typed here means the step change was lost (a crash right after the code was
        # sent): take it as the code rather than count it as a wrong address.
        return await on_code(update, context)
    result = await verification.check_email(
        context.services, club, update.effective_chat.id, update.effective_message.text
    )
    if result.locked_until:
        await reply(
            update,
            context,
            "verify/locked",
            buttons=[[("contact_staff", "verify:staff")]],
            until=_time(context, result.locked_until),
        )
        return VERIFY_EMAIL
    if result.not_an_address:
        await reply(update, context, "verify/email_help", buttons=[[("back", "back")]])
        return VERIFY_EMAIL
    if result.kind is None:
        await reply(
            update,
            context,
            "verify/wrong_email",
            buttons=[[("back", "back")]],
            hints=result.hints,
            left=result.misses_left,
        )
        return VERIFY_EMAIL
    context.user_data["pending_kind"] = result.kind
    return await _send(update, context, club, result.kind, on_failure=VERIFY_EMAIL)


async def _send(
    update: Update, context: BotContext, club: Club, kind: str, on_failure: str, fresh: bool = False
) -> str:
    """Send a code; on failure stay on `on_failure` (the step the user came from)."""
    sent = await verification.send_code(
        context.services,
        club,
        update.effective_chat.id,
        kind,
        lang_of(update, context),
        fresh=fresh,
    )
    if sent.sent:
        address = club.structure_email if kind == "structure" else club.contact_email
        await reply(
            update,
            context,
            "verify/sent",
            buttons=[[("resend_code", "verify:resend"), ("other_address", "verify:other")]],
            address=address,
            minutes=verification.CODE_TTL // 60,
        )
        return VERIFY_CODE
    if sent.limit == "address":
        until = _time(context, sent.retry_at)
        await reply(update, context, "verify/too_many_codes_address", until=until)
    elif sent.limit == "chat":
        await reply(
            update, context, "verify/too_many_codes_chat", until=_time(context, sent.retry_at)
        )
    elif sent.retry_at:
        await reply(update, context, "verify/too_many_codes", until=_time(context, sent.retry_at))
    elif sent.mail_refused:
        # Retrying cannot cure it: never "try again in a few minutes".
        await reply(update, context, "verify/mail_refused")
    else:
        await reply(update, context, "verify/mail_failed")
    return on_failure


async def on_code(update: Update, context: BotContext) -> str:
    """Digits typed in the code step."""
    club = await _pending_club(update, context)
    if club is None:
        return IDENTIFY
    user = update.effective_user
    result = await verification.check_code(
        context.services,
        club,
        chat_id=update.effective_chat.id,
        user_id=user.id,
        display_name=user.full_name,
        lang=lang_of(update, context),
        typed=update.effective_message.text,
    )
    if result.status == "ok":
        for key in ("pending_club", "pending_kind"):
            context.user_data.pop(key, None)
        context.user_data["club_id"] = club.id
        return await menu.show_menu(
            update, context, notice="verify/done", notice_values={"club": club.name}
        )
    if (
        result.status == "missing"
        and await verification.verified_club_id(context.services, update.effective_chat.id, club.id)
        == club.id
    ):
        # Verified already, but the step change was lost (a crash right after the check).
        for key in ("pending_club", "pending_kind"):
            context.user_data.pop(key, None)
        context.user_data["club_id"] = club.id
        return await menu.show_menu(update, context)
    buttons = [[("resend_code", "verify:resend"), ("other_address", "verify:other")]]
    if result.status == "too_many":
        until = _time(context, result.retry_at)
        await reply(update, context, "verify/too_many_guesses", buttons=buttons, until=until)
        return VERIFY_CODE
    await reply(
        update, context, f"verify/code_{result.status}", buttons=buttons, left=result.tries_left
    )
    return VERIFY_CODE


async def on_link(update: Update, context: BotContext, payload: str) -> str:
    """`/start v_<token>`: the link of a code mail tapped, in any private chat (start.py)."""
    user = update.effective_user
    club_id = await verification.check_link(
        context.services,
        payload,
        chat_id=update.effective_chat.id,
        user_id=user.id,
        display_name=user.full_name,
        lang=lang_of(update, context),
    )
    club = await club_rows.get(context.services.db, club_id) if club_id else None
    if club is None:
        await reply(update, context, "verify/link_invalid")
        verified = await verification.verified_club_id(
            context.services, update.effective_chat.id, context.user_data.get("club_id")
        )
        if verified:
            context.user_data["club_id"] = verified
            return await menu.show_menu(update, context)
        await reply(update, context, "start/welcome")
        return IDENTIFY
    for key in ("pending_club", "pending_kind"):
        context.user_data.pop(key, None)
    context.user_data["club_id"] = club.id
    await reply(update, context, "verify/done", club=club.name)
    return await menu.show_menu(update, context)


async def on_resend(update: Update, context: BotContext) -> str:
    club = await _pending_club(update, context)
    kind = context.user_data.get("pending_kind")
    if club is None or kind is None:
        return IDENTIFY if club is None else VERIFY_EMAIL
    return await _send(update, context, club, kind, on_failure=VERIFY_CODE, fresh=True)


async def on_other_address(update: Update, context: BotContext) -> str:
    club = await _pending_club(update, context)
    if club is None:
        return IDENTIFY
    context.user_data.pop("pending_kind", None)
    return await identify.ask_for_email(update, context, club)


async def on_staff_help(update: Update, context: BotContext) -> str:
    """Locked out: tell the staff group who is stuck (a conversation staff can answer by
    replying); the person's next messages go to staff (the TALK step) until they go back.
    Only a chat that is locked now, and once per lock: a forged or stale press posts nothing."""
    services = context.services
    club_id = context.user_data.get("pending_club")
    claim = await verification.claim_staff_help(services, update.effective_chat.id, club_id)
    if claim == "not_locked":
        lang = lang_of(update, context)
        await settle_button(
            update, context, services.texts.render_plain(lang, "start/stale_button")
        )
        return VERIFY_EMAIL
    if claim == "first":
        user = update.effective_user
        speaker = relay.Speaker(
            chat_id=update.effective_chat.id,
            user_id=user.id,
            name=user.full_name,
            username=user.username,
            lang=lang_of(update, context),
        )
        with contextlib.suppress(relay.RelayUnavailable):  # no staff group: said just below
            await relay.start_help_talk(services, context.bot, speaker, club_id)
    if await relay.current_talk(services, update.effective_chat.id) is None:
        # No staff group configured, or staff closed the help conversation already.
        await reply(update, context, "talk/unavailable")
        return VERIFY_EMAIL
    # No button under it: the contact-staff button of the lock message stays the only one, and
    # "Back" comes with the acknowledgement of the first message relayed (or /cancel).
    await reply(update, context, "verify/staff_told")
    return TALK


STATES = {
    VERIFY_EMAIL: [
        # "Back" from the e-mail step: the previous step (which club), not the whole flow.
        CallbackQueryHandler(identify.ask_address, pattern=r"^back$"),
        MessageHandler(TEXT, on_email),
        CallbackQueryHandler(on_staff_help, pattern=r"^verify:staff$"),
    ],
    VERIFY_CODE: [
        MessageHandler(TEXT, on_code),
        CallbackQueryHandler(on_resend, pattern=r"^verify:resend$"),
        CallbackQueryHandler(on_other_address, pattern=r"^verify:other$"),
    ],
}
