"""The one way services send Telegram messages: to a chat or to the staff group, with keyboards,
and the classification of a failed send (refused for good, worth a retry, perhaps delivered).

Handlers answer through `handlers/common.py`; payments, reminders, escalations and the relay
send through here, so the rules for a blocked chat, flood control and retries live in one file."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot import staff_topics
from bot.ratelimit import Broadcast, TelegramRateLimiter
from bot.services import Services
from bot.telegram_limits import button_label, checked_callback_data, label_values
from storage import contacts

log = logging.getLogger(__name__)

STAFF_LANG = "fr"  # the staff group reads French

# (label template under button/, callback data) or (label template, callback data, values);
# a callback data starting with "url:" makes a URL button.
Button = tuple[str, str] | tuple[str, str, dict]


def keyboard(
    services: Services, lang: str, rows: Sequence[Sequence[Button]]
) -> InlineKeyboardMarkup:
    """Inline keyboard from rows of buttons whose labels are `messages/<lang>/button/<name>.j2`."""
    built = []
    for row in rows:
        buttons = []
        for button in row:
            name, data = button[0], button[1]
            values = button[2] if len(button) > 2 else {}
            label = services.texts.label(lang, f"button/{name}", label_values(values))
            label = button_label(label)
            if data.startswith("url:"):
                buttons.append(InlineKeyboardButton(label, url=data[4:]))
            else:
                buttons.append(
                    InlineKeyboardButton(label, callback_data=checked_callback_data(data))
                )
        built.append(buttons)
    return InlineKeyboardMarkup(built)


def broadcast_args(bot: Bot, max_retries: int | None = None) -> dict:
    """`rate_limit_args` marking a message sent unprompted to many chats (reminders, revocation
    notices) for the bot's limiter: `Broadcast()` for the bot's own (bot/ratelimit.py: paced by
    the overall 30/s too), the retries count for PTB's AIORateLimiter (`ofbot` commands), none
    for a Bot without a limiter."""
    limiter = getattr(bot, "rate_limiter", None)
    if isinstance(limiter, TelegramRateLimiter):
        return {"rate_limit_args": Broadcast() if max_retries is None else Broadcast(max_retries)}
    if limiter is not None and max_retries is not None:
        return {"rate_limit_args": max_retries}
    return {}


async def send(
    bot: Bot, chat_id: int, text: str, markup=None, *, broadcast: bool = False, **kwargs
) -> Message:
    """One HTML message; Telegram's errors are raised (telegram.error.*). `broadcast`: one of
    many sent unprompted (see `broadcast_args`)."""
    if broadcast:
        kwargs.update(broadcast_args(bot))
    return await bot.send_message(
        chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup, **kwargs
    )


async def edit(bot: Bot, chat_id: int, message_id: int, text: str, markup=None) -> None:
    """Edit a message in place; "message is not modified" (already up to date) is not an error."""
    with contextlib.suppress(BadRequest):
        await bot.edit_message_text(
            text,
            chat_id=chat_id,
            message_id=message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
        )


async def deliver(
    bot: Bot, services: Services, chat_id: int, text: str, markup=None, *, broadcast: bool = False
) -> str:
    """ "sent"; "failed" (refused for good: blocked, bad request); "later" (flood control past
    the rate limiter's retries, Bot API down or timing out: worth another try later).
    A chat that blocked the bot is marked inactive: stop writing to it rather than fail forever."""
    try:
        await send(bot, chat_id, text, markup, broadcast=broadcast)
    except Forbidden:
        await contacts.set_active(services.db, chat_id, False)
        return "failed"
    except (RetryAfter, NetworkError) as exc:
        log.warning("message to chat %s failed, to try again: %s", chat_id, exc)
        return "later"
    except TelegramError as exc:
        log.warning("message to chat %s failed: %s", chat_id, exc)
        return "failed"
    return "sent"


async def staff_name(services: Services, bot: Bot | None, actor: str | None) -> str | None:
    """The first name of the staff member an actor "staff:<id>" stands for (people read names,
    never actor ids), asked of the staff group (getChatMember); None when the actor is no staff
    member or Telegram cannot say (the texts then say "the team")."""
    if bot is None or not actor or not actor.startswith("staff:") or not actor[6:].isdigit():
        return None
    if not services.settings.staff_chat_id:
        return None
    try:
        member = await bot.get_chat_member(services.settings.staff_chat_id, int(actor[6:]))
    except TelegramError:
        return None
    return member.user.first_name


async def to_staff(
    services: Services, bot: Bot | None, text: str, markup=None, *, club_id: int | None = None
) -> str | None:
    """`deliver` to the staff group: to the club's topic when the group has topics and the
    message is about `club_id` (bot.staff_topics), else to the main stream (General). None when
    no bot is at hand or no staff group is set."""
    if bot is None or not services.settings.staff_chat_id:
        return None
    try:
        await staff_topics.deliver(
            services,
            bot,
            club_id,
            lambda place: send(bot, place.chat_id, text, markup, message_thread_id=place.thread_id),
        )
    except (RetryAfter, NetworkError) as exc:
        log.warning("message to the staff group failed, to try again: %s", exc)
        return "later"
    except TelegramError as exc:
        log.warning("message to the staff group failed: %s", exc)
        return "failed"
    return "sent"


# --- sends that retry (the reminders' loop) -------------------------------------------------


def surely_not_delivered(exc: NetworkError) -> bool:
    """True when Telegram cannot have carried the request out: it answered with an error (no
    transport exception behind it), or the connection was never made — refused, TLS failed, or
    no connection within the connect/pool timeout. A read timeout, a reset or a dropped
    connection after the request went out leaves it unknown.

    Matches the transport in use (bot/telegram_http.py: aiohttp, whose errors it wraps with
    `raise … from err`) and PTB's httpx default (`ofbot` tools built on PTB's own request)."""
    origin = exc.__cause__ or exc.__context__
    if origin is None:
        return True
    return isinstance(
        origin,
        aiohttp.ClientConnectorError
        | aiohttp.ConnectionTimeoutError
        | httpx.ConnectError
        | httpx.ConnectTimeout
        | httpx.PoolTimeout,
    )


def _seconds(value: int | float | dt.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


async def send_with_retries(
    bot,
    chat_id: int,
    text: str,
    markup,
    *,
    pace: Callable[[], Awaitable[None]],
    max_attempts: int,
    max_rate_waits: int,
    backoff: float,
    read_timeout: float,
) -> tuple[str, int | None, str | None, int]:
    """(status, message id, error, attempts); status is sent, blocked, failed or unknown (may
    have been delivered: never retried, Telegram has no idempotency key). `pace()` is awaited
    before each retry (the caller has taken the first slot). Raises InvalidToken."""
    attempts = 0
    rate_waits = 0
    extra = broadcast_args(bot, max_rate_waits)  # reminders: a broadcast
    while True:
        if attempts or rate_waits:
            await pace()
        attempts += 1
        try:
            message = await bot.send_message(
                chat_id=chat_id,
                text=text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                read_timeout=read_timeout,
                **extra,
            )
            return "sent", message.message_id, None, attempts
        except RetryAfter as exc:
            # The rate limiter already waited its retries out; keep waiting, a bounded number.
            attempts -= 1
            if rate_waits >= max_rate_waits:
                return "failed", None, f"429 Too Many Requests after {rate_waits} waits", attempts
            rate_waits += 1
            await asyncio.sleep(_seconds(exc.retry_after) + 0.1)
        except Forbidden as exc:
            return "blocked", None, exc.message, attempts
        except BadRequest as exc:
            return "failed", None, exc.message, attempts
        except InvalidToken:
            raise
        except NetworkError as exc:  # includes TimedOut
            if not surely_not_delivered(exc):
                kind = "timeout" if isinstance(exc, TimedOut) else "network error"
                return "unknown", None, f"{kind}, may have been delivered: {exc.message}", attempts
            if attempts >= max_attempts:
                return "failed", None, exc.message, attempts
            await asyncio.sleep(backoff * attempts)
        except TelegramError as exc:
            if attempts >= max_attempts:
                return "failed", None, exc.message, attempts
            await asyncio.sleep(backoff * attempts)
