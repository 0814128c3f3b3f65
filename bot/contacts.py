"""Verified contacts as staff see and manage them: the masked list of /club, revocation by staff,
and telling a chat that it no longer speaks for its club (its address changed, or staff revoked).

The database revokes contacts whose verified address changes (migration 013); this module tells."""

from __future__ import annotations

import logging

from telegram import Bot

from bot import notify
from bot.services import Services
from storage import audit, contacts
from storage import clubs as club_rows
from storage import escalations as escalation_rows
from storage import outbox as outbox_rows
from storage import relay as relay_rows

log = logging.getLogger(__name__)


async def set_chat_language(services: Services, chat_id: int, lang: str) -> None:
    """/language: the chat's choice, also on what will later write to it (its contact links,
    open conversation, requests, untold revocation notices, the notice of a code mail not sent
    yet), in one transaction."""
    async with services.db.transaction() as conn:
        await contacts.set_language(conn, chat_id, lang)
        await relay_rows.set_language(conn, chat_id, lang)
        await escalation_rows.set_language(conn, chat_id, lang)
        await outbox_rows.set_language(conn, chat_id, lang)


async def chat_language(services: Services, chat_id: int | None, stored: str) -> str:
    """The language to write to `chat_id` in NOW, for a message sent later than the request it
    answers (a staff answer, a request's update, a notice): the chat's current language as its
    contact links hold it, else `stored` (the object's own, kept current by /language; the only
    one left once /forget removed the links)."""
    if chat_id is None:
        return stored
    return await contacts.language_of_chat(services.db, chat_id) or stored


def masked_name(name: str | None) -> str:
    """`Jeanne Dupont` → `J••• D•••`: enough for staff to recognise, not to read."""
    words = (name or "").split()
    return " ".join(f"{w[:1]}•••" for w in words[:3]) or "•••"


async def contact_lines(services: Services, club_id: int) -> list[dict]:
    """The club's verified contacts for /club: masked name, address kind, date, chat id (for the
    revoke button only, never shown)."""
    return [
        {
            "name": masked_name(c.display_name),
            "email_kind": c.email_kind,
            "verified_at": c.verified_at[:10],
            "active": c.active,
            "chat_id": c.chat_id,
        }
        for c in await contacts.for_club(services.db, club_id, active_only=False)
    ]


async def revoke_contact(services: Services, club_id: int, chat_id: int, actor: str) -> bool:
    """Staff revoke a contact; False when it was not (or no longer) a contact of the club."""
    async with services.db.transaction() as conn:
        removed = await contacts.revoke(conn, club_id, chat_id)
        if removed is None:
            return False
        await audit.record(
            conn,
            actor=actor,
            action="contact.revoked",
            club_id=club_id,
            target="contact",
            before={"email_kind": removed.email_kind},
        )
    return True


async def tell_revoked(services: Services, bot: Bot) -> int:
    """Tell each revoked chat, once, that it must verify again; returns how many were told.
    A chat Telegram refuses for good is not retried; one worth a retry waits for the next run."""
    told = 0
    for notice in await contacts.untold_revocations(services.db):
        club = await club_rows.get(services.db, notice.club_id)
        text = services.texts.render(
            await chat_language(services, notice.chat_id, notice.language),
            "contacts/revoked",
            club=club.name if club else "?",
            reason=notice.reason,
            email_kind=notice.email_kind,
        )
        outcome = await notify.deliver(bot, services, notice.chat_id, text, broadcast=True)
        if outcome == "later":
            break
        await contacts.mark_told(services.db, notice.id)
        told += outcome == "sent"
    return told


# Contacts revoked by an import or the admin endpoint (another process, or no bot at hand) are
# told by this job; those revoked through the bot are told at once.
NOTICE_INTERVAL = 60.0


async def revocation_notices_job(context) -> None:
    """The periodic job: tell the chats whose contact link was revoked since the last run."""
    told = await tell_revoked(context.application.bot_data["services"], context.bot)
    if told:
        log.info("%s revoked contact(s) told", told)
