"""`/forget` (SPEC §3.3): erase or pseudonymise everything that identifies the person behind a
chat, keep what the law requires without them, and remove their words from the staff group.

docs/SECURITY.md lists what goes, what stays (invoices: 10 years, French commercial code
L123-22 and tax code) and what Telegram does not let a bot remove."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from telegram import Bot
from telegram.error import BadRequest, Forbidden, TelegramError

from bot import escalations, staff_topics
from bot.services import Services
from storage import audit, chats, contacts
from storage import escalations as escalation_rows
from storage import invoices as invoice_rows
from storage import outbox as outbox_rows
from storage import relay as relay_rows
from storage import reminders as reminder_rows
from storage import verification as verification_rows

log = logging.getLogger(__name__)

STAFF_LANG = "fr"


@dataclass
class Forgotten:
    """What one `/forget` did: `clubs` it was a contact of, relayed `messages`, `talks` and
    `requests` detached, staff-group copies `deleted` or `redacted`, and those `left` there
    (Telegram refused both: listed in docs/SECURITY.md)."""

    clubs: list[int] = field(default_factory=list)
    messages: int = 0
    talks: int = 0
    requests: int = 0
    deleted: int = 0
    redacted: int = 0
    left: int = 0


async def forget_person(services: Services, bot: Bot | None, chat_id: int) -> Forgotten:
    """Everything in one transaction (a crash leaves all or nothing), then the staff group's
    copies: deleted (Telegram lets a bot delete a message for 48 hours), else edited to say they
    were removed (a bot may edit its own messages at any time), else counted as left."""
    # The conversation /forget closes: its club's topic name counts it no more (sync below).
    talk = await relay_rows.open_talk_of_chat(services.db, chat_id)
    async with services.db.transaction() as conn:
        removed = await contacts.delete_for_chat(conn, chat_id)
        await verification_rows.forget_chat(conn, chat_id, services.clock.timestamp())
        await outbox_rows.forget_chat(conn, chat_id)  # mail not sent yet: address and code
        escalation_ids = await escalation_rows.ids_of_chat(conn, chat_id)
        copies = await relay_rows.staff_copies_of_chat(conn, chat_id)
        relayed = await relay_rows.forget_chat(conn, chat_id)
        requests = await escalation_rows.forget_chat(conn, chat_id)
        await invoice_rows.forget_issuer(conn, chat_id)
        await reminder_rows.forget_chat(conn, chat_id)
        await contacts.forget_revocations(conn, chat_id)
        await chats.forget_notices(conn, chat_id)
        await audit.forget_chat(conn, chat_id)
        for link in removed:
            await audit.record(
                conn,
                actor="chat:forgotten",
                action="contact.forgotten",
                club_id=link.club_id,
                before={"email_kind": link.email_kind},
            )
        if relayed["messages"] or relayed["talks"] or requests:
            await audit.record(
                conn,
                actor="chat:forgotten",
                action="relay.forgotten",
                before={**relayed, "requests": requests},
            )
    done = Forgotten(
        clubs=[link.club_id for link in removed],
        messages=relayed["messages"],
        talks=relayed["talks"],
        requests=requests,
    )
    if bot is not None:
        await _remove_staff_copies(services, bot, copies, done)
        for escalation_id in escalation_ids:  # the cards named the person
            await escalations.refresh_card(services, bot, escalation_id)
        if talk is not None and talk.club_id is not None:
            await staff_topics.sync_name(services, bot, talk.club_id)
    return done


async def _remove_staff_copies(
    services: Services, bot: Bot, copies: list[tuple[int, int, str]], done: Forgotten
) -> None:
    notice = services.texts.render(STAFF_LANG, "staff/forgotten_message")
    for staff_chat_id, message_id, _kind in copies:
        try:
            await bot.delete_message(staff_chat_id, message_id)
            done.deleted += 1
            continue
        except (BadRequest, Forbidden):
            pass  # older than 48 hours, or no right to: edit it instead
        except TelegramError as exc:
            log.warning("a forgotten chat's message in the staff group not deleted: %s", exc)
        try:
            await bot.edit_message_text(notice, chat_id=staff_chat_id, message_id=message_id)
            done.redacted += 1
            continue
        except TelegramError:
            pass
        try:  # a photo or document: its caption carried the header
            await bot.edit_message_caption(
                chat_id=staff_chat_id, message_id=message_id, caption=notice
            )
            done.redacted += 1
        except TelegramError as exc:
            log.warning("a forgotten chat's message left in the staff group: %s", exc)
            done.left += 1
