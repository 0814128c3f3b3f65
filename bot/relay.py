"""Talk to staff (SPEC §3.7): club messages copied into the staff group with the club named, staff
replies copied back, routed by stored pairs of message ids — never by `forward_from`, which is
empty when the person hides forwards in Telegram's privacy settings."""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import Bot, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot import contacts, notify, staff_topics
from bot.services import Services
from bot.staff_topics import StaffPlace
from bot.telegram_limits import fits_caption, fits_text, split_html
from storage import audit
from storage import clubs as club_rows
from storage import escalations as escalation_rows
from storage import relay as rows
from storage.relay import RelayTarget, Talk

log = logging.getLogger(__name__)

STAFF_LANG = "fr"


@dataclass(frozen=True)
class Speaker:
    """Who writes from the club side, as the staff group sees them."""

    chat_id: int
    user_id: int
    name: str
    username: str | None
    lang: str


class RelayUnavailable(Exception):
    """No staff group is configured (OFBOT_STAFF_CHAT_ID)."""


def _staff_chat(services: Services) -> int:
    if not services.settings.staff_chat_id:
        raise RelayUnavailable
    return services.settings.staff_chat_id


def _close_button(services: Services, talk_id: int) -> InlineKeyboardMarkup:
    return notify.keyboard(services, STAFF_LANG, [[("talk_close", f"talk:close:{talk_id}")]])


def reply_button(services: Services, lang: str) -> InlineKeyboardMarkup:
    """Under a staff answer in the club chat: answer back without finding the menu."""
    return notify.keyboard(services, lang, [[("talk_reply", "talk:reply")]])


async def start_talk(
    services: Services, bot: Bot, speaker: Speaker, club_id: int
) -> tuple[Talk, bool]:
    """The verified contact's conversation with staff; the staff group learns when one opens."""
    _staff_chat(services)
    before = await rows.open_talk_of_chat(services.db, speaker.chat_id)
    talk, opened = await rows.open_talk(
        services.db,
        chat_id=speaker.chat_id,
        user_id=speaker.user_id,
        club_id=club_id,
        verified=True,
        lang=speaker.lang,
    )
    if opened:
        await _post_header(services, bot, talk, _header_text(services, talk, speaker))
        await _sync_topics(services, bot, club_id, before)
    return talk, opened


async def _sync_topics(services: Services, bot: Bot, club_id: int | None, closed: Talk | None):
    """The topic names after a conversation opened, and the one it replaced closed (the chat's
    conversation with another club, or its help request before it verified)."""
    await staff_topics.sync_name(services, bot, club_id)
    if closed is not None and closed.club_id != club_id:
        await staff_topics.sync_name(services, bot, closed.club_id)


async def start_help_talk(
    services: Services, bot: Bot, speaker: Speaker, club_id: int | None
) -> Talk:
    """A locked-out person asks for help with verification: staff can answer them in this chat."""
    _staff_chat(services)
    before = await rows.open_talk_of_chat(services.db, speaker.chat_id)
    talk, opened = await rows.open_talk(
        services.db,
        chat_id=speaker.chat_id,
        user_id=speaker.user_id,
        club_id=club_id,
        verified=False,
        lang=speaker.lang,
    )
    await _post_header(services, bot, talk, _header_text(services, talk, speaker))
    if opened:
        await _sync_topics(services, bot, club_id, before)
    return talk


def _header_text(
    services: Services, talk: Talk, speaker: Speaker
) -> Callable[[bool], Awaitable[str]]:
    """The staff group's opening message of a talk, `text(in_topic)`: a verified contact's, or
    a locked-out person's request for help with verification."""

    async def text(in_topic: bool) -> str:
        club = await club_rows.get(services.db, talk.club_id) if talk.club_id else None
        if talk.verified and club is not None:
            plan = services.catalogue.plans.get(club.plan) if services.catalogue else None
            return services.texts.render(
                STAFF_LANG,
                "staff/talk_opened",
                id=talk.id,
                club=club.name,
                subdomain=club.subdomain,
                plan=plan.label(STAFF_LANG) if plan else club.plan,
                user=speaker.name,
                username=speaker.username,
                in_topic=in_topic,
            )
        return services.texts.render(
            STAFF_LANG,
            "staff/verification_help",
            club=club.name if club else "?",
            subdomain=club.subdomain if club else "?",
            user=speaker.name,
            username=speaker.username,
            chat_id=speaker.chat_id,
        )

    return text


async def _post_header(
    services: Services, bot: Bot, talk: Talk, text: Callable[[bool], Awaitable[str]]
) -> int | None:
    """The conversation's first message (with its Close button), in the club's topic when the
    group has topics (`text(in_topic)` says how to answer there). None when Telegram did not
    take it now: the talk is recorded, and the header goes out before the club's next message."""
    markup = _close_button(services, talk.id)

    async def send(place: StaffPlace):
        shown = await text(place.thread_id is not None)
        return await notify.send(
            bot, place.chat_id, shown, markup, message_thread_id=place.thread_id
        )

    try:
        message = await staff_topics.deliver(services, bot, talk.club_id, send)
    except TelegramError as exc:
        log.warning("talk %s: header not posted yet (%s), posted later", talk.id, exc)
        return None
    if message is None:
        return None
    await rows.set_header(services.db, talk.id, message.message_id)
    await rows.add_pair(
        services.db,
        staff_chat_id=message.chat_id,
        staff_message_id=message.message_id,
        club_chat_id=talk.chat_id,
        club_message_id=None,
        kind="header",
        talk_id=talk.id,
    )
    return message.message_id


def is_relayable(message: Message) -> bool:
    return bool(message.text or message.photo or message.document)


async def relay_to_staff(
    services: Services, bot: Bot, talk: Talk, message: Message, *, edited: bool = False
) -> int | None:
    """Copy a club message (text, photo, document) into the staff group (the club's topic when
    it has topics), the club named on it; returns the staff-side message id. Replies to a staff
    answer stay threaded under it.

    `edited`: the club edited a message relayed before (Telegram's `edited_message`); the new
    version goes once, marked as a correction, as a reply to the copy staff already have. An
    edit of a message that was never relayed is not passed on (None)."""
    _staff_chat(services)
    original = None
    if edited:
        original = await rows.staff_message_for(services.db, message.chat_id, message.message_id)
        if original is None:
            return None
    club = await club_rows.get(services.db, talk.club_id) if talk.club_id else None
    user = message.from_user
    if talk.header_message_id is None and talk.chat_id is not None and user is not None:
        # Telegram did not take the header when the talk opened: staff get it (and its Close
        # button) now, before the first message.
        speaker = Speaker(talk.chat_id, user.id, user.full_name, user.username, talk.lang)
        await _post_header(services, bot, talk, _header_text(services, talk, speaker))
    header = services.texts.render(
        STAFF_LANG,
        "staff/relayed",
        talk=talk.id,
        club=club.name if club else "?",
        subdomain=club.subdomain if club else "?",
        verified=talk.verified,
        user=user.full_name if user else "?",
        edited=edited,
    )
    answered = original  # the staff message this one replies to, if any
    if answered is None and message.reply_to_message is not None:
        answered = await rows.staff_message_for(
            services.db, message.chat_id, message.reply_to_message.message_id
        )
    reply_to = ReplyParameters(answered, allow_sending_without_reply=True) if answered else None

    async def send(place: StaffPlace) -> tuple[int, list[int]]:
        return place.chat_id, await _copy_to_staff(bot, place, header, message, reply_to)

    staff_chat, sent_ids = await staff_topics.deliver(services, bot, talk.club_id, send)
    for staff_message_id in sent_ids:
        await rows.add_pair(
            services.db,
            staff_chat_id=staff_chat,
            staff_message_id=staff_message_id,
            club_chat_id=message.chat_id,
            club_message_id=message.message_id,
            kind="club",
            talk_id=talk.id,
        )
    return sent_ids[-1]


async def _copy_to_staff(
    bot: Bot, place: StaffPlace, header: str, message: Message, reply_to: ReplyParameters | None
) -> list[int]:
    """The club's message in the staff place under its header line; the staff-side ids."""
    chat, thread = place.chat_id, place.thread_id
    if message.text and fits_text(f"{header}\n\n{message.text_html}"):
        sent = await bot.send_message(
            chat,
            f"{header}\n\n{message.text_html}",
            parse_mode=ParseMode.HTML,
            reply_parameters=reply_to,
            disable_web_page_preview=True,
            message_thread_id=thread,
        )
        return [sent.message_id]
    caption = message.caption_html or ""
    if not message.text and fits_caption(f"{header}\n\n{caption}"):
        copied = await bot.copy_message(
            chat,
            message.chat_id,
            message.message_id,
            caption=f"{header}\n\n{caption}".strip(),
            parse_mode=ParseMode.HTML,
            reply_parameters=reply_to,
            message_thread_id=thread,
        )
        return [copied.message_id]
    # Too long to carry the header: the header, then the message itself.
    sent = await bot.send_message(
        chat, header, parse_mode=ParseMode.HTML, reply_parameters=reply_to, message_thread_id=thread
    )
    copied = await _copy_within_limits(bot, chat, message, message_thread_id=thread)
    return [sent.message_id, copied.message_id]


async def topic_target(
    services: Services, chat_id: int, thread_id: int | None
) -> RelayTarget | None:
    """Plain writing in a club's topic answers the club's open conversation (the latest one)."""
    club_id = await staff_topics.club_of_topic(services, chat_id, thread_id)
    if club_id is None:
        return None
    talk = await rows.latest_open_talk_of_club(services.db, club_id)
    if talk is None:
        return None
    return RelayTarget(talk.chat_id, None, "topic", talk.id, None)


async def _copy_within_limits(
    bot: Bot,
    chat_id: int,
    message: Message,
    reply_markup: InlineKeyboardMarkup | None = None,
    reply_parameters: ReplyParameters | None = None,
    message_thread_id: int | None = None,
) -> Message:
    """copyMessage, which Telegram re-checks against the bot's caption limit (1024): a caption
    longer than that (Telegram Premium allows more) goes as a text message after the copy."""
    caption = message.caption_html or ""
    if message.text or fits_caption(caption):
        return await bot.copy_message(
            chat_id,
            message.chat_id,
            message.message_id,
            reply_markup=reply_markup,
            reply_parameters=reply_parameters,
            message_thread_id=message_thread_id,
        )
    copied = await bot.copy_message(
        chat_id,
        message.chat_id,
        message.message_id,
        caption="",
        reply_parameters=reply_parameters,
        message_thread_id=message_thread_id,
    )
    for piece in split_html(caption):
        last = await bot.send_message(
            chat_id,
            piece,
            parse_mode=ParseMode.HTML,
            reply_parameters=ReplyParameters(copied.message_id, allow_sending_without_reply=True),
            reply_markup=reply_markup,
        )
    return last


async def target_of(services: Services, chat_id: int, message_id: int) -> RelayTarget | None:
    """The club chat a staff-group message stands for, if any."""
    return await rows.target_of(services.db, chat_id, message_id)


async def relay_to_club(
    services: Services, bot: Bot, target: RelayTarget, message: Message
) -> int | None:
    """Copy a staff reply into the club chat, as a reply to the message it answers; None when
    the chat cannot be reached (it blocked the bot, or the message cannot be copied)."""
    lang = await _club_lang(services, target)
    reply_to = (
        ReplyParameters(target.club_message_id, allow_sending_without_reply=True)
        if target.club_message_id
        else None
    )
    try:
        copied = await _copy_to_club(
            bot,
            target.club_chat_id,
            message,
            _signature(services, message),
            reply_to,
            reply_button(services, lang),
        )
    except (Forbidden, BadRequest) as exc:
        log.warning("staff reply not delivered to a club chat: %s", exc)
        return None
    await rows.add_pair(
        services.db,
        staff_chat_id=message.chat_id,
        staff_message_id=message.message_id,
        club_chat_id=target.club_chat_id,
        club_message_id=copied.message_id,
        kind="staff",
        talk_id=target.talk_id,
        escalation_id=target.escalation_id,
    )
    return copied.message_id


def _signature(services: Services, message: Message) -> str | None:
    """OFBOT_STAFF_SIGNATURE on: the staff member's first name under the answer."""
    if not services.settings.staff_signature or message.from_user is None:
        return None
    return message.from_user.first_name


async def _copy_to_club(
    bot: Bot,
    chat_id: int,
    message: Message,
    signature: str | None,
    reply_to: ReplyParameters | None,
    markup: InlineKeyboardMarkup,
):
    """The staff answer in the club chat: a copy, signed "— first name" when asked (a text too
    long to take the signature is copied unsigned rather than cut)."""
    if signature is not None:
        line = f"\n\n— {html.escape(signature)}"
        if message.text and fits_text(message.text_html + line):
            return await bot.send_message(
                chat_id,
                message.text_html + line,
                parse_mode=ParseMode.HTML,
                reply_parameters=reply_to,
                reply_markup=markup,
                disable_web_page_preview=True,
            )
        caption = (message.caption_html or "") + line
        if not message.text and fits_caption(caption):
            return await bot.copy_message(
                chat_id,
                message.chat_id,
                message.message_id,
                caption=caption.strip(),
                parse_mode=ParseMode.HTML,
                reply_parameters=reply_to,
                reply_markup=markup,
            )
    return await _copy_within_limits(
        bot, chat_id, message, reply_markup=markup, reply_parameters=reply_to
    )


async def relay_edit_to_club(services: Services, bot: Bot, message: Message) -> int | None:
    """A staff member edited an answer already copied to a club chat: the new version goes once,
    marked as a correction, as a reply to the copy the club has. None when the message was never
    copied to a club (staff talking among themselves) or the chat cannot be reached."""
    target = await rows.target_of(services.db, message.chat_id, message.message_id)
    if target is None or target.kind != "staff" or target.club_message_id is None:
        return None
    lang = await _club_lang(services, target)
    marker = services.texts.render(lang, "talk/staff_correction")
    reply_to = ReplyParameters(target.club_message_id, allow_sending_without_reply=True)
    markup = reply_button(services, lang)
    try:
        if message.text and fits_text(f"{marker}\n\n{message.text_html}"):
            sent = await bot.send_message(
                target.club_chat_id,
                f"{marker}\n\n{message.text_html}",
                parse_mode=ParseMode.HTML,
                reply_parameters=reply_to,
                reply_markup=markup,
                disable_web_page_preview=True,
            )
        elif not message.text and fits_caption(f"{marker}\n\n{message.caption_html or ''}"):
            sent = await bot.copy_message(
                target.club_chat_id,
                message.chat_id,
                message.message_id,
                caption=f"{marker}\n\n{message.caption_html or ''}".strip(),
                parse_mode=ParseMode.HTML,
                reply_parameters=reply_to,
                reply_markup=markup,
            )
        else:  # too long to carry the marker: the marker, then the message as it is now
            await bot.send_message(
                target.club_chat_id, marker, parse_mode=ParseMode.HTML, reply_parameters=reply_to
            )
            sent = await _copy_within_limits(bot, target.club_chat_id, message, reply_markup=markup)
    except (Forbidden, BadRequest) as exc:
        log.warning("staff correction not delivered to a club chat: %s", exc)
        return None
    return sent.message_id


async def _club_lang(services: Services, target: RelayTarget) -> str:
    """The club chat's language now; the conversation's or request's only when the chat's is
    not known any more."""
    stored = "fr"
    if target.talk_id:
        talk = await rows.get_talk(services.db, target.talk_id)
        if talk is not None:
            stored = talk.lang
    elif target.escalation_id:
        escalation = await escalation_rows.get(services.db, target.escalation_id)
        if escalation is not None:
            stored = escalation.lang
    return await contacts.chat_language(services, target.club_chat_id, stored)


async def current_talk(services: Services, chat_id: int) -> Talk | None:
    return await rows.open_talk_of_chat(services.db, chat_id)


async def close_talk(services: Services, talk_id: int, actor: str) -> Talk | None:
    """Close the conversation once; None when it was already closed (or never existed)."""
    async with services.db.transaction() as conn:
        if not await rows.close_talk(conn, talk_id, actor):
            return None
        talk = await rows.get_talk_in(conn, talk_id)
        await audit.record(
            conn,
            actor=actor,
            action="talk.close",
            club_id=talk.club_id,
            target=f"talk:{talk_id}",
            before={"status": "open"},
            after={"status": "closed"},
        )
    return talk


async def tell_club_closed(services: Services, bot: Bot, talk: Talk) -> None:
    if talk.chat_id is None:
        return
    lang = await contacts.chat_language(services, talk.chat_id, talk.lang)
    text = services.texts.render(lang, "talk/closed_by_staff")
    try:
        await notify.send(bot, talk.chat_id, text)
    except (Forbidden, BadRequest) as exc:
        log.warning("talk %s: club chat unreachable (%s)", talk.id, exc)
