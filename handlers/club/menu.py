"""The verified contact's menu (SPEC §3.3): the club at a glance and one button per capability.

Entries whose flow is not built yet answer so honestly instead of pretending."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler

from bot.context import BotContext
from handlers.club.states import IDENTIFY, MENU
from handlers.common import lang_of, reply
from storage import clubs as club_rows
from storage import contacts


def plan_label(context: BotContext, plan_id: str, lang: str) -> str:
    catalogue = context.services.catalogue
    plan = catalogue.plans.get(plan_id) if catalogue else None
    return plan.labels.get(lang, plan_id) if plan else plan_id


async def show_menu(
    update: Update,
    context: BotContext,
    notice: str | None = None,
    notice_values: dict | None = None,
) -> str:
    """Render the menu for the chat's current club; back to identify if the link is gone.
    `notice` (a template, with `notice_values`) is said above the menu, in the same message."""
    services = context.services
    club_id = context.user_data.get("club_id")
    club = await club_rows.get(services.db, club_id) if club_id else None
    contact = await contacts.get(services.db, club_id, update.effective_chat.id) if club else None
    if contact is None:
        context.user_data.pop("club_id", None)
        await reply(update, context, "start/welcome")
        return IDENTIFY
    lang = lang_of(update, context)
    lead = services.texts.render(lang, notice, **(notice_values or {})) if notice else None
    reminders = "reminders_off" if contact.reminders_on else "reminders_on"
    await reply(
        update,
        context,
        "menu/menu",
        lead=lead,
        buttons=[
            [("renew", "menu:renew")],
            [("invoices", "menu:invoices"), ("password_help", "menu:password")],
            [("change_emails", "menu:emails"), ("talk_to_staff", "menu:talk")],
            [(reminders, "menu:reminders"), ("forget", "forget:ask")],
        ],
        club=club.name,
        subdomain=club.subdomain,
        plan=plan_label(context, club.plan, lang),
        ends=club.subscription_ends,
        lapsed=club.subscription_ends < services.clock.today(),
        resources=club.active_resources,
    )
    return MENU


async def not_available_yet(update: Update, context: BotContext) -> str:
    """A menu entry whose capability is not built yet."""
    return await show_menu(update, context, notice="menu/not_available_yet")


async def text_in_menu(update: Update, context: BotContext) -> str:
    """Text where the menu expects a button: say so and show the menu again right here, rather
    than point at buttons the person may have to scroll up to (or a message a crash delayed).
    (Another club's platform address is taken first: identify.on_text_at_menu.)"""
    return await show_menu(update, context, notice="menu/text_not_understood")


STATES = {
    MENU: [
        CallbackQueryHandler(not_available_yet, pattern=r"^menu:"),
    ],
}
