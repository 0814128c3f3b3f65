"""Where a staff message goes (issue 18): in a forum staff group, the club's own topic, created on
the club's first event and stored; otherwise (no club, or a group without topics) the main stream.

A group turned into a forum moves to topics from its next event (`is_forum` is read while a club
has no topic); a deleted topic is made anew on the next event; a topic staff closed is reopened
on the club's next event (as support bots do: the club's history stays in one topic); the
topic's name shows the state of the club's open requests and is kept in step (`sync_name`).

Managing topics needs the bot to be an administrator with can_manage_topics (Bot API,
createForumTopic). Refused, the bot remembers it for REFUSAL_MEMORY seconds, or until its rights
change (a `my_chat_member` update): meanwhile club events go to the General topic at once, with
no getChat nor createForumTopic each time, and one warning."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from telegram import Bot, ChatMember
from telegram.error import BadRequest, ChatMigrated, TelegramError

from bot.keyed_locks import KeyedLocks
from bot.services import Services
from bot.texts import display_text
from storage import clubs as club_rows
from storage import escalations as escalation_rows
from storage import relay as relay_rows
from storage import staff_topics as rows
from storage.staff_topics import StaffTopic

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_NAME = 128  # Bot API: a topic name is 1-128 characters
# What Telegram answers when a stored topic cannot take messages any more (deleted, closed, or
# the group is no longer a forum); read lower-case, as python-telegram-bot reshapes the texts.
GONE = ("message thread not found", "topic_closed", "topic_deleted", "topic_id_invalid")
# What Telegram answers a bot that may not manage topics: TDLib's "not enough rights to create a
# topic" / "to edit the topic" / "to close or open the topic", or the server's CHAT_ADMIN_REQUIRED.
NO_RIGHTS = ("not enough rights", "chat_admin_required")
# How long a refusal to manage topics is trusted before asking Telegram again (seconds); a change
# of the bot's rights (my_chat_member) ends it at once.
REFUSAL_MEMORY = 3600
_REFUSED = "staff_topics.refused"  # services.extra: {staff chat id: refused until, Unix seconds}
# Open requests in the topic's name: waiting to be taken, being handled, a conversation open.
WAITING, TAKEN, TALKING = "🆕", "👤", "💬"

_locks = KeyedLocks()  # by (staff chat, club): one topic made or reopened at a time


@dataclass(frozen=True)
class StaffPlace:
    """A staff message's destination: the chat, and its topic (None: General or no topics)."""

    chat_id: int
    thread_id: int | None = None


def staff_chat_id(services: Services) -> int | None:
    """The staff group's chat id now (OFBOT_STAFF_CHAT_ID)."""
    return services.settings.staff_chat_id


def topic_gone(exc: TelegramError) -> bool:
    return isinstance(exc, BadRequest) and any(word in exc.message.lower() for word in GONE)


def lacks_rights(exc: TelegramError) -> bool:
    """Telegram refused a topic method because the bot may not manage topics."""
    return isinstance(exc, BadRequest) and any(word in exc.message.lower() for word in NO_RIGHTS)


def may_manage_topics(services: Services, chat_id: int) -> bool:
    """False while a refusal to manage topics in `chat_id` is remembered."""
    refused = services.extra.setdefault(_REFUSED, {})
    until = refused.get(chat_id)
    if until is None:
        return True
    if services.clock.timestamp() < until:
        return False
    del refused[chat_id]
    return True


def _remember_refusal(services: Services, chat_id: int, exc: TelegramError) -> None:
    """Telegram refused: trust it for REFUSAL_MEMORY seconds; say so once, with the fix."""
    if may_manage_topics(services, chat_id):
        log.warning(
            "the bot may not manage topics in the staff group %s (%s): club events go to the "
            "General topic; make the bot an administrator with the right “Manage topics” "
            "(asked again when its rights change, or in %d minutes)",
            chat_id,
            exc.message,
            REFUSAL_MEMORY // 60,
        )
    services.extra.setdefault(_REFUSED, {})[chat_id] = services.clock.timestamp() + REFUSAL_MEMORY


def rights_changed(services: Services, chat_id: int, member: ChatMember) -> None:
    """The bot's place in a group changed (a `my_chat_member` update): a remembered refusal to
    manage topics there no longer holds; the next club event asks Telegram again."""
    if services.extra.setdefault(_REFUSED, {}).pop(chat_id, None) is not None:
        log.info(
            "the bot's rights in the staff group %s changed (%s): topics will be tried again",
            chat_id,
            member.status,
        )


async def note_topic_state(
    services: Services, chat_id: int, thread_id: int | None, *, closed: bool
) -> None:
    """Staff closed (or reopened) a topic in Telegram (`forum_topic_closed` / `_reopened`): a
    club's topic closed is reopened on the club's next event."""
    if thread_id is None:
        return
    club_id = await rows.set_closed(services.db, chat_id, thread_id, closed)
    if club_id is not None:
        state = "closed" if closed else "reopened"
        log.info("staff topic %s of club %s %s by staff", thread_id, club_id, state)


async def forum_status(bot: Bot, chat_id: int) -> tuple[int, bool]:
    """(the group's id now, whether it has topics). A group Telegram just upgraded to a
    supergroup answers with its new id (the bot's send path has recorded the migration)."""
    try:
        chat = await bot.get_chat(chat_id)
    except ChatMigrated as migrated:
        chat_id = migrated.new_chat_id
        chat = await bot.get_chat(chat_id)
    return chat_id, bool(chat.is_forum)


async def is_forum(bot: Bot, chat_id: int) -> bool:
    return (await forum_status(bot, chat_id))[1]


async def place_for(services: Services, bot: Bot, club_id: int | None) -> StaffPlace | None:
    """Where a message about `club_id` goes (None: no staff group configured)."""
    chat_id = staff_chat_id(services)
    if not chat_id:
        return None
    if club_id is None:
        return StaffPlace(chat_id)
    stored = await rows.get(services.db, chat_id, club_id)
    if stored is not None and not stored.closed:
        return StaffPlace(chat_id, stored.thread_id)
    if not may_manage_topics(services, chat_id):
        return StaffPlace(chat_id)  # refused lately: General, without asking Telegram again
    async with _locks.hold((chat_id, club_id)):  # two events of one club at once: one topic
        stored = await rows.get(services.db, chat_id, club_id)
        if stored is not None:
            return await _reopened(services, bot, stored)
        if not may_manage_topics(services, chat_id):
            return StaffPlace(chat_id)
        chat_id, forum = await forum_status(bot, chat_id)
        if not forum:
            return StaffPlace(chat_id)
        stored = await rows.get(services.db, chat_id, club_id)
        if stored is not None:  # the group had migrated and this chat has the club's topic
            return await _reopened(services, bot, stored)
        return StaffPlace(chat_id, await _create(services, bot, chat_id, club_id))


async def _reopened(services: Services, bot: Bot, stored: StaffTopic) -> StaffPlace:
    """The club's topic, reopened first when staff closed it. Not allowed to reopen it: General
    (the topic is kept, and reopened once the bot may). Gone: a new topic."""
    chat_id, club_id, thread_id = stored.staff_chat_id, stored.club_id, stored.thread_id
    if not stored.closed:
        return StaffPlace(chat_id, thread_id)
    if not may_manage_topics(services, chat_id):
        return StaffPlace(chat_id)
    try:
        await bot.reopen_forum_topic(chat_id, thread_id)
    except BadRequest as exc:
        if topic_gone(exc):
            log.info("staff topic %s of club %s is gone (%s): a new one", thread_id, club_id, exc)
            await rows.forget(services.db, chat_id, club_id, thread_id)
            return StaffPlace(chat_id, await _create(services, bot, chat_id, club_id))
        if lacks_rights(exc):
            _remember_refusal(services, chat_id, exc)
            return StaffPlace(chat_id)
        if "not_modified" not in exc.message.lower():  # TOPIC_NOT_MODIFIED: open already
            raise
    await rows.set_closed(services.db, chat_id, thread_id, False)
    log.info("staff topic %s of club %s reopened for a new event", thread_id, club_id)
    return StaffPlace(chat_id, thread_id)


async def _create(services: Services, bot: Bot, chat_id: int, club_id: int) -> int | None:
    if not may_manage_topics(services, chat_id):
        return None
    name = await topic_name(services, club_id)
    try:
        topic = await bot.create_forum_topic(chat_id, name)
    except BadRequest as exc:  # not allowed to manage topics, or no longer a forum
        if lacks_rights(exc):
            _remember_refusal(services, chat_id, exc)
        else:
            log.warning("no topic for club %s in the staff group: %s", club_id, exc)
        return None
    await rows.save(services.db, StaffTopic(chat_id, club_id, topic.message_thread_id, name))
    log.info("staff topic %s created for club %s", topic.message_thread_id, club_id)
    return topic.message_thread_id


async def deliver(
    services: Services,
    bot: Bot,
    club_id: int | None,
    send: Callable[[StaffPlace], Awaitable[T]],
) -> T | None:
    """Call `send(place)` for the club's place; when its stored topic is closed (TOPIC_CLOSED:
    the bot may not post there), reopen it; when it is gone, forget it and make a new one (if the
    group is still a forum); then send once more. None: no staff group."""
    place = await place_for(services, bot, club_id)
    if place is None:
        return None
    try:
        return await send(place)
    except TelegramError as exc:
        if place.thread_id is None or club_id is None or not topic_gone(exc):
            raise
        if "topic_closed" in exc.message.lower():
            log.info("staff topic %s of club %s is closed: reopening it", place.thread_id, club_id)
            await rows.set_closed(services.db, place.chat_id, place.thread_id, True)
        else:
            log.info(
                "staff topic %s of club %s is gone (%s): a new one", place.thread_id, club_id, exc
            )
            await rows.forget(services.db, place.chat_id, club_id, place.thread_id)
    place = await place_for(services, bot, club_id)
    return await send(place)


async def send_text(services: Services, bot: Bot, club_id: int | None, text: str, **kwargs):
    """`sendMessage` to the club's topic (or the main stream); the Message, or None."""

    def send(place: StaffPlace):
        return bot.send_message(place.chat_id, text, message_thread_id=place.thread_id, **kwargs)

    return await deliver(services, bot, club_id, send)


async def topic_name(services: Services, club_id: int) -> str:
    """ "subdomain — club name", after the state of open requests: 🆕 waiting to be taken,
    👤 being handled, 💬 a conversation open (each with its count when more than one)."""
    club = await club_rows.get(services.db, club_id)
    base = f"{club.subdomain} — {display_text(club.name)}" if club else f"club {club_id}"
    live = await escalation_rows.live_for_club(services.db, club_id)
    talks = await relay_rows.count_open_talks_of_club(services.db, club_id)
    marks = []
    for icon, count in (
        (WAITING, sum(1 for e in live if e.status == "open")),
        (TAKEN, sum(1 for e in live if e.status == "taken")),
        (TALKING, talks),
    ):
        if count:
            marks.append(icon if count == 1 else f"{icon}{count}")
    name = f"{' '.join(marks)} {base}" if marks else base
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"


async def sync_name(services: Services, bot: Bot, club_id: int | None) -> None:
    """Rename the club's topic when the state of its requests changed; never raises (the
    name is a help; the next event brings it up to date)."""
    chat_id = staff_chat_id(services)
    if not chat_id or club_id is None or not may_manage_topics(services, chat_id):
        return
    try:
        stored = await rows.get(services.db, chat_id, club_id)
        if stored is None:
            return
        name = await topic_name(services, club_id)
        if name == stored.name:
            return
        try:
            await bot.edit_forum_topic(chat_id, stored.thread_id, name=name)
        except BadRequest as exc:
            if lacks_rights(exc):
                _remember_refusal(services, chat_id, exc)
                return
            if "not_modified" not in exc.message.lower():
                raise
        await rows.rename(services.db, chat_id, club_id, name)
    except TelegramError as exc:
        log.warning("staff topic of club %s not renamed: %s", club_id, exc)


async def club_of_topic(services: Services, chat_id: int, thread_id: int | None) -> int | None:
    """The club a staff-group topic belongs to (None: General, or not a club's topic)."""
    if thread_id is None:
        return None
    return await rows.club_of(services.db, chat_id, thread_id)
