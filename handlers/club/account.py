"""Password help and changes to the e-mails on record (SPEC §3.5–3.6): explain "Mot de passe
oublié ?", and open a manual reset or an e-mail change for staff, with its fee shown first.

Stored addresses are only ever shown masked; the draft request lives in user_data ("draft_…")."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot import escalations, verification
from bot.context import BotContext
from bot.escalations import NewEmailProblem
from bot.logs import mask_email
from handlers.club import menu
from handlers.club.states import (
    EMAIL_CONFIRM,
    EMAIL_NEW,
    EMAIL_WHICH,
    IDENTIFY,
    MENU,
    PASSWORD,
    RESET_CONFIRM,
)
from handlers.common import lang_of, reply
from storage import clubs as club_rows
from storage.clubs import Club

TEXT = filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND
FIELDS = {"structure": "structure_email", "contact": "contact_email"}


async def _club(update: Update, context: BotContext) -> Club | None:
    """The chat's verified club, or None after telling the user to identify again."""
    services = context.services
    club_id = await verification.verified_club_id(
        services, update.effective_chat.id, context.user_data.get("club_id")
    )
    club = await club_rows.get(services.db, club_id) if club_id else None
    if club is None:
        context.user_data.pop("club_id", None)
        await reply(update, context, "start/not_verified")
    return club


def _fee(context: BotContext, club: Club, kind: str) -> dict:
    quote = escalations.intervention_quote(context.services, club, kind)
    return {
        "fee": quote is not None,
        "ht": quote.ht_cents if quote else 0,
        "ttc": quote.ttc_cents if quote else 0,
    }


async def on_password(update: Update, context: BotContext) -> str:
    """Menu "password": how to recover it alone, and the way to staff when that cannot work."""
    club = await _club(update, context)
    if club is None:
        return IDENTIFY
    login_url = context.services.catalogue.customer_account_url
    await reply(
        update,
        context,
        "account/password_help",
        buttons=[
            [("customer_account", f"url:{login_url}")],
            [("pw_neither", "pw:manual")],
            [("back", "back")],
        ],
        login_url=login_url,
        subdomain=club.subdomain,
        structure_hint=mask_email(club.structure_email),
        contact_hint=mask_email(club.contact_email),
    )
    return PASSWORD


async def on_manual_reset(update: Update, context: BotContext) -> str:
    """No access to either address: show what a manual reset costs before anything is created."""
    club = await _club(update, context)
    if club is None:
        return IDENTIFY
    context.user_data["draft_request"] = {"kind": "password_reset"}
    return await _show_reset_confirm(update, context, club)


async def _show_reset_confirm(
    update: Update, context: BotContext, club: Club, *, changed: bool = False
) -> str:
    fee = _fee(context, club, "password_reset")
    context.user_data["draft_request"]["shown_fee"] = fee
    await reply(
        update,
        context,
        "account/reset_confirm",
        buttons=[[("request_confirm", "req:confirm")], [("back", "back")]],
        club=club.name,
        plan=menu.plan_label(context, club.plan, lang_of(update, context)),
        fee=fee["fee"],
        ht=fee["ht"],
        ttc=fee["ttc"],
        changed=changed,
    )
    return RESET_CONFIRM


async def on_emails(update: Update, context: BotContext) -> str:
    """Menu "change e-mails": which of the two addresses."""
    club = await _club(update, context)
    if club is None:
        return IDENTIFY
    await reply(
        update,
        context,
        "account/email_which",
        buttons=[
            [("email_structure", "email:structure"), ("email_contact", "email:contact")],
            [("back", "back")],
        ],
        structure_hint=mask_email(club.structure_email),
        contact_hint=mask_email(club.contact_email),
    )
    return EMAIL_WHICH


async def on_email_field(update: Update, context: BotContext) -> str:
    club = await _club(update, context)
    if club is None:
        return IDENTIFY
    field = FIELDS.get(update.callback_query.data.removeprefix("email:"))
    if field is None:
        return await on_emails(update, context)
    return await ask_new_email(update, context, club, field)


async def ask_new_email(update: Update, context: BotContext, club: Club, field: str) -> str:
    """The new address for `field` (structure_email or contact_email)."""
    context.user_data["draft_request"] = {"kind": "email_update", "field": field}
    await reply(
        update,
        context,
        "account/email_new",
        buttons=[[("back", "back")]],
        field=field,
        old_hint=mask_email(getattr(club, field)),
    )
    return EMAIL_NEW


async def on_new_email(update: Update, context: BotContext) -> str:
    """The new address typed: validated, not the current one, then the confirmation step."""
    club = await _club(update, context)
    if club is None:
        return IDENTIFY
    draft = context.user_data.get("draft_request") or {}
    field = draft.get("field")
    if field not in FIELDS.values():
        return await on_emails(update, context)
    try:
        address = escalations.check_new_email(club, field, update.effective_message.text)
    except NewEmailProblem as problem:
        if problem.reason == "same":
            await reply(update, context, "account/email_same", field=field)
        else:
            await reply(update, context, "account/email_invalid")
        return EMAIL_NEW
    draft["new_email"] = address
    context.user_data["draft_request"] = draft
    return await _show_email_confirm(update, context, club)


async def _show_email_confirm(
    update: Update, context: BotContext, club: Club, *, changed: bool = False
) -> str:
    draft = context.user_data["draft_request"]
    field = draft["field"]
    fee = _fee(context, club, "email_update")
    draft["shown_fee"] = fee
    await reply(
        update,
        context,
        "account/email_confirm",
        buttons=[[("request_confirm", "req:confirm")], [("back", "back")]],
        field=field,
        old_hint=mask_email(getattr(club, field)),
        new_email=draft["new_email"],
        plan=menu.plan_label(context, club.plan, lang_of(update, context)),
        fee=fee["fee"],
        ht=fee["ht"],
        ttc=fee["ttc"],
        changed=changed,
    )
    return EMAIL_CONFIRM


async def on_confirm(update: Update, context: BotContext) -> str:
    """Confirmed: the request (and its invoice, when billed), its card for staff, the next step."""
    club = await _club(update, context)
    if club is None:
        return IDENTIFY
    draft = context.user_data.get("draft_request") or {}
    if draft.get("kind") not in escalations.KINDS:
        context.user_data.pop("draft_request", None)
        return await menu.show_menu(update, context)
    if draft.get("shown_fee") != _fee(context, club, draft["kind"]):
        # What it costs changed since it was shown (the club's plan was updated meanwhile):
        # shown again to confirm, nothing created. A draft saved before fees were kept with it
        # is shown again too, without saying it changed.
        changed = "shown_fee" in draft
        if draft["kind"] == "email_update" and draft.get("field") in FIELDS.values():
            if draft.get("new_email"):
                return await _show_email_confirm(update, context, club, changed=changed)
        elif draft["kind"] == "password_reset":
            return await _show_reset_confirm(update, context, club, changed=changed)
    context.user_data.pop("draft_request", None)
    services = context.services
    user = update.effective_user
    opened = await escalations.request_intervention(
        services,
        club,
        chat_id=update.effective_chat.id,
        user_id=user.id,
        requester=user.full_name,
        lang=lang_of(update, context),
        kind=draft["kind"],
        email_field=draft.get("field"),
        new_email=draft.get("new_email"),
    )
    escalation = opened.escalation
    if opened.created:
        await escalations.post_card(services, context.bot, escalation)
    invoice = opened.invoice
    buttons = [[("to_menu", "acct:menu")]]
    if escalation.fee == "due" and invoice is not None and invoice.is_open:
        buttons.insert(0, [("pay_fee", f"pay:{invoice.id}", {"amount": invoice.ttc_cents})])
    if not opened.created:
        await reply(
            update,
            context,
            "account/request_exists",
            buttons=buttons,
            id=escalation.id,
            kind=escalation.kind,
            status=escalation.status,
            fee=escalation.fee,
            # Only the chat that asked is told each step (bot/escalations.tell_club).
            own=escalation.chat_id == update.effective_chat.id,
        )
        return MENU
    await reply(
        update,
        context,
        "account/request_opened",
        buttons=buttons,
        id=escalation.id,
        kind=escalation.kind,
        fee=escalation.fee,
        invoice=invoice.number if invoice else None,
        amount=invoice.ttc_cents if invoice else None,
    )
    return MENU


async def on_menu_button(update: Update, context: BotContext) -> str:
    return await menu.show_menu(update, context)


async def back_to_menu(update: Update, context: BotContext) -> str:
    """ "Back" from password help or the choice of address: the menu."""
    context.user_data.pop("draft_request", None)
    return await menu.show_menu(update, context)


async def back_to_password(update: Update, context: BotContext) -> str:
    """ "Back" from the manual reset's confirmation: password help again."""
    context.user_data.pop("draft_request", None)
    return await on_password(update, context)


async def back_to_which(update: Update, context: BotContext) -> str:
    """ "Back" from typing the new address: which address to change."""
    context.user_data.pop("draft_request", None)
    return await on_emails(update, context)


async def back_to_new_email(update: Update, context: BotContext) -> str:
    """ "Back" from the change's confirmation: type the new address again."""
    club = await _club(update, context)
    if club is None:
        return IDENTIFY
    field = (context.user_data.get("draft_request") or {}).get("field")
    if field not in FIELDS.values():
        return await on_emails(update, context)
    return await ask_new_email(update, context, club, field)


BACK = r"^back$"

# "Back" is one step back: help or choice → menu, confirmation → the step before it.
STATES = {
    MENU: [
        CallbackQueryHandler(on_password, pattern=r"^menu:password$"),
        CallbackQueryHandler(on_emails, pattern=r"^menu:emails$"),
        CallbackQueryHandler(on_menu_button, pattern=r"^acct:menu$"),
    ],
    PASSWORD: [
        CallbackQueryHandler(on_manual_reset, pattern=r"^pw:manual$"),
        CallbackQueryHandler(back_to_menu, pattern=BACK),
    ],
    RESET_CONFIRM: [
        CallbackQueryHandler(on_confirm, pattern=r"^req:confirm$"),
        CallbackQueryHandler(back_to_password, pattern=BACK),
    ],
    EMAIL_WHICH: [
        CallbackQueryHandler(on_email_field, pattern=r"^email:(structure|contact)$"),
        CallbackQueryHandler(back_to_menu, pattern=BACK),
    ],
    EMAIL_NEW: [
        MessageHandler(TEXT, on_new_email),
        CallbackQueryHandler(back_to_which, pattern=BACK),
    ],
    EMAIL_CONFIRM: [
        CallbackQueryHandler(on_confirm, pattern=r"^req:confirm$"),
        CallbackQueryHandler(back_to_new_email, pattern=BACK),
    ],
}
