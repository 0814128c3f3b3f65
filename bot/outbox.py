"""Sends the mail outbox in the background, so that a reply never waits for the mail relay.

A mail is recorded (storage/outbox.py) in the same transaction as the code it carries; this task
sends it right after over one of the Mailer's kept connections and marks it sent. Up to
bot.mail.POOL_SIZE mails go at once, each row claimed by its sender, so a relay slow on one mail
holds back no other. After a kill -9 the rows still waiting are sent at start-up. A code whose
mail cannot go out does not count and is dropped, and the person is told in a follow-up message."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.logs import mask_email
from bot.mail import POOL_SIZE, MailError
from bot.services import Services
from storage import outbox as rows

log = logging.getLogger(__name__)

TRIES = 3  # a relay that refuses or drops three times in a row is down: tell the person
RETRY_WAIT = (0.5, 2.0)  # seconds before the second and third tries
# Mails sent at once: one per connection of the Mailer's pool, so a claimed row never waits for
# a connection (a row waiting for one stays unclaimed, for the next free sender).
SENDERS = POOL_SIZE
BATCH = 50  # rows `send_waiting` claims at once


class MailOutbox:
    """One background task handing each waiting row to a sender of its own (at most SENDERS at
    once); `wake()` after a commit that added a row (cheap, never blocks)."""

    def __init__(self, services: Services, bot=None) -> None:
        self.services = services
        self.bot = bot  # for the follow-up when a mail cannot go out; None in tools and tests
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._senders: set[asyncio.Task] = set()  # one per row being sent
        # Rows may be waiting that no claim took: the last claim filled every free sender, none
        # was free, or a sender released its row. Otherwise a sender that is done has nothing to
        # wake the task for: every row there was is claimed, and a new one comes with wake().
        self._more = True  # at start: rows a previous run left
        self._claiming = False  # the task is between a wake-up and the senders it starts
        self.idle = asyncio.Event()  # set while nothing is waiting (tests wait on it)
        self.idle.set()

    def start(self) -> None:
        if self._task is None:
            self._wake.set()  # rows left by a previous run
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mail-outbox")

    def wake(self) -> None:
        self.idle.clear()
        self._wake.set()

    async def stop(self, grace: float = 5.0) -> None:
        """Let what is waiting go out (at most `grace` s; the rest goes at the next start), then
        QUIT every connection of the Mailer's pool."""
        if self._task is not None and not self.idle.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.idle.wait(), grace)
        task, self._task = self._task, None
        tasks = [task] if task is not None else []
        tasks += self._senders  # a sender cut short releases its row (_send_claimed)
        for each in tasks:
            each.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.services.mailer.close()

    async def _run(self) -> None:
        released = False
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._claiming = True  # a sender done meanwhile leaves setting `idle` to this task
            try:
                if not released:
                    # Claims a killed run left: only one bot runs on a database, they are ours.
                    await rows.release_all(self.services.db)
                    released = True
                free = SENDERS - len(self._senders)
                mails = await self._claim(free) if free > 0 else []
                self._more = len(mails) == free  # every free sender took a row: perhaps more
            except asyncio.CancelledError:
                raise
            except Exception:  # the database closing under us at shutdown, a bug: keep going
                log.exception("mail outbox: sending failed")
                self._more = True
                await asyncio.sleep(1)
                self._wake.set()
                continue
            finally:
                self._claiming = False
            for mail in mails:
                sender = asyncio.get_running_loop().create_task(
                    self._send_claimed(mail, in_background=True), name=f"mail-outbox-{mail.id}"
                )
                self._senders.add(sender)
                sender.add_done_callback(self._sender_done)
            if not mails and not self._senders and not self._wake.is_set():
                self.idle.set()

    def _sender_done(self, sender: asyncio.Task) -> None:
        self._senders.discard(sender)
        if self._more:
            self._wake.set()  # a sender is free: the next waiting row
        elif not self._senders and not self._claiming and not self._wake.is_set():
            # Every row there was is settled: no claim to find nothing (a write transaction).
            self.idle.set()

    async def _claim(self, limit: int) -> list[rows.OutgoingMail]:
        return await rows.claim(self.services.db, self.services.clock.timestamp(), limit)

    async def send_waiting(self) -> int:
        """Send what is waiting (one batch, at once as far as the Mailer's pool allows); returns
        how many rows were settled. For callers without the background task (tools, tests): rows
        another sender holds are left to it."""
        mails = await self._claim(BATCH)
        results = await asyncio.gather(
            *(self._send_claimed(mail) for mail in mails), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return len(mails)

    async def _send_claimed(self, mail: rows.OutgoingMail, *, in_background: bool = False) -> None:
        """Send one claimed row and settle it. A row not settled (the database failing, a bug,
        stop() cutting it short) is released for the next sender; the error is raised, or, in
        the background, logged and the row released a second later (not again at once, in a
        loop)."""
        settled = False
        try:
            await self._send_one(mail)
            settled = True
        except Exception:
            if not in_background:
                raise
            log.exception("mail outbox: sending failed")
            await asyncio.sleep(1)
        finally:
            if not settled:
                self._more = True  # waiting again, for the next free sender
                with contextlib.suppress(Exception):
                    await rows.release(self.services.db, mail.id)

    async def _send_one(self, mail: rows.OutgoingMail) -> None:
        services = self.services
        now = services.clock.timestamp()
        if mail.code_id is not None and not await rows.code_is_live(services.db, mail.code_id, now):
            # Used, replaced or expired while the bot was down: a stale code helps no one.
            async with services.db.transaction() as conn:
                await rows.mark_failed(conn, mail.id, services.clock.timestamp())
            return
        for attempt in range(TRIES):
            if attempt:
                await asyncio.sleep(RETRY_WAIT[min(attempt, len(RETRY_WAIT)) - 1])
            try:
                await services.mailer.send(
                    mail.recipient, mail.subject, mail.body, message_id=mail.message_id
                )
            except MailError as error:
                await rows.add_attempt(services.db, mail.id)
                if error.permanent:  # retrying cannot cure it
                    await self._give_up(mail, attempt + 1, refused=True)
                    return
                continue
            except Exception:
                # A bug, not the relay: still a try, so that a mail that cannot be sent ends
                # (and its code does not count) rather than being retried for ever.
                log.exception("mail outbox: sending raised")
                await rows.add_attempt(services.db, mail.id)
                continue
            now = services.clock.timestamp()
            async with services.db.transaction() as conn:
                await rows.mark_sent(conn, mail.id, now)
                if mail.code_id is not None:
                    await rows.mark_code_mailed(conn, mail.code_id, now)
            return
        await self._give_up(mail, TRIES)

    async def _give_up(self, mail: rows.OutgoingMail, tries: int, refused: bool = False) -> None:
        services = self.services
        log.warning(
            "mail to %s given up after %d %s%s",
            mask_email(mail.recipient),
            tries,
            "try" if tries == 1 else "tries",
            ": refused for good by the relay" if refused else "",
        )
        async with services.db.transaction() as conn:
            lang = await rows.mark_failed(conn, mail.id, services.clock.timestamp())
            if mail.code_id is not None:
                # The club must not lose one of its three hourly codes to our mail relay.
                await rows.drop_code(conn, mail.code_id, mail.attempt_id)
        if self.bot is None or mail.chat_id is None:
            return
        # No buttons of its own: a button is only taken when its message showed the chat's
        # current step (handlers/common.py: button_is_current), which this message, sent
        # outside any handler, cannot record. It points at the buttons just above.
        texts = services.texts
        with contextlib.suppress(TelegramError):
            await self.bot.send_message(
                chat_id=mail.chat_id,
                text=(
                    texts.render(lang or mail.lang, "verify/mail_refused")
                    if refused
                    else texts.render(
                        lang or mail.lang, "verify/mail_failed_later", address=mail.recipient
                    )
                ),
                parse_mode=ParseMode.HTML,
            )
