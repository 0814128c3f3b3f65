"""Sending the due reminders: each rendered in its contact's language with a "renew" button,
claimed right before it goes and settled right after, one worker per chat, at Telegram's pace."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

from telegram import InlineKeyboardMarkup
from telegram.error import InvalidToken

from bot import notify
from bot.reminders.due import Delivery, milestone_label
from bot.reminders.pacing import Pacer, SendPolicy
from bot.reminders.summary import Summary
from bot.services import Services
from storage import contacts
from storage import reminders as rows

log = logging.getLogger(__name__)

# "Renew now": opens the renewal flow at the count step (handlers/club/renew) for the reminder's
# own club, whichever club the chat looked at last: `renew:start:<club id>`.
RENEW_CALLBACK = "renew:start"


def plan_label(services: Services, plan_id: str, lang: str) -> str:
    plan = services.catalogue.plans.get(plan_id) if services.catalogue else None
    return plan.label(lang) if plan else plan_id


def render_reminder(services: Services, delivery: Delivery) -> tuple[str, InlineKeyboardMarkup]:
    lang = delivery.language
    text = services.texts.render(
        lang,
        "reminders/reminder",
        club=delivery.club_name,
        plan=plan_label(services, delivery.plan, lang),
        ends=delivery.key.period_end,
        days=delivery.days_left,
        resources=delivery.resources,
    )
    data = f"{RENEW_CALLBACK}:{delivery.key.club_id}"
    return text, notify.keyboard(services, lang, [[("renew_now", data)]])


async def send_reminder(
    bot, chat_id: int, text: str, markup: InlineKeyboardMarkup, policy: SendPolicy, pacer: Pacer
) -> tuple[str, int | None, str | None, int]:
    """(status, message id, error, attempts). The caller has taken the first pace slot."""
    return await notify.send_with_retries(
        bot,
        chat_id,
        text,
        markup,
        pace=pacer.wait,
        max_attempts=policy.max_attempts,
        max_rate_waits=policy.max_rate_waits,
        backoff=policy.backoff,
        read_timeout=policy.read_timeout,
    )


async def deliver_all(
    services: Services,
    bot,
    deliveries: list[Delivery],
    *,
    run_id: int,
    today: dt.date,
    policy: SendPolicy,
    summary: Summary,
    progress: Callable[[int, int], None] | None,
    stop: Callable[[], bool] | None,
) -> bool:
    """One worker per chat at a time (so one chat's messages are `chat_interval` apart).
    True when every delivery was tried; False when `stop()` turned true first."""
    by_chat: dict[int, list[Delivery]] = {}
    for delivery in deliveries:
        by_chat.setdefault(delivery.key.chat_id, []).append(delivery)
    queue: asyncio.Queue[list[Delivery]] = asyncio.Queue()
    for group in by_chat.values():
        queue.put_nowait(group)
    pacer = Pacer(policy.rate)
    loop = asyncio.get_running_loop()
    done = 0
    total = len(deliveries)

    def advance() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    async def deliver(delivery: Delivery) -> str:
        text, markup = render_reminder(services, delivery)
        await pacer.wait()
        claimed = await rows.claim(
            services.db, delivery.key, run_id=run_id, run_date=today, language=delivery.language
        )
        if not claimed:
            summary.skipped["already_handled"] += 1
            return "skipped"
        try:
            status, message_id, error, attempts = await send_reminder(
                bot, delivery.key.chat_id, text, markup, policy, pacer
            )
        except InvalidToken:
            # Refused before anything was sent; the whole run stops (every send would fail).
            await rows.finish(services.db, delivery.key, "failed", attempts=1, error="bad token")
            raise
        await rows.finish(
            services.db,
            delivery.key,
            status,
            attempts=attempts,
            message_id=message_id,
            error=error,
        )
        if status == "blocked":
            await contacts.set_active(services.db, delivery.key.chat_id, False)
        if status != "sent":
            log.warning(
                "reminder %s %s to chat %s: %s %s",
                delivery.subdomain,
                milestone_label(delivery.key.milestone),
                delivery.key.chat_id,
                status,
                error,
            )
        summary.add(delivery, status, error)
        return status

    stopped = False

    async def worker() -> None:
        nonlocal stopped
        while not queue.empty():
            group = queue.get_nowait()
            last_sent: float | None = None
            for index, delivery in enumerate(group):
                if stop is not None and stop():
                    # Shutting down: claim nothing more; what is left stays due for the next run.
                    stopped = True
                    summary.skipped["not_reached"] += len(group) - index
                    break
                if last_sent is not None:
                    await asyncio.sleep(max(0.0, last_sent + policy.chat_interval - loop.time()))
                status = await deliver(delivery)
                advance()
                last_sent = loop.time()
                if status == "blocked":
                    # The chat blocked the bot: its other clubs' reminders would fail the same way.
                    summary.skipped["inactive"] += len(group) - index - 1
                    for _ in group[index + 1 :]:
                        advance()
                    break

    try:
        async with asyncio.TaskGroup() as tasks:
            for _ in range(min(policy.concurrency, len(by_chat))):
                tasks.create_task(worker())
    except ExceptionGroup as group:
        raise group.exceptions[0] from None
    while not queue.empty():
        summary.skipped["not_reached"] += len(queue.get_nowait())
    return not stopped
