"""Renewal reminders without Telegram: which milestone is due on a day, who gets it, and the send
loop's exactly-once bookkeeping against a fake bot that fails the way Telegram does."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import httpx
import pytest
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from bot import reminders
from bot.clock import Clock
from bot.commands.reminders import ProgressBar
from bot.mail import Mailer
from bot.reminders import SendPolicy, milestone_due, run_reminders, select_due
from bot.runtime import load_catalogue
from bot.services import Services
from bot.settings import Settings
from bot.texts import Texts
from storage import clubs as club_rows
from storage import contacts
from storage import invoices as invoice_rows
from storage import reminders as reminder_rows
from storage.db import open_database

END = dt.date(2026, 12, 31)
FAST = SendPolicy(rate=10_000, chat_interval=0, backoff=0)
STAFF = -100777


def day(days_before_end: int) -> dt.date:
    """The --today date that is `days_before_end` days before END."""
    return END - dt.timedelta(days=days_before_end)


# -- milestones ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_left", "expected"),
    [
        (31, None),
        (30, 30),
        (16, 30),  # the 30-day reminder stays due (for a catch-up) until the 15-day one
        (15, 15),
        (8, 15),
        (7, 7),
        (2, 7),
        (1, 1),
        (0, 0),
        (-6, 0),
        (-7, -7),
        (-13, -7),
        (-14, None),  # long lapsed: no reminder at all
    ],
)
def test_the_due_milestone_is_the_latest_reached(days_left, expected):
    assert milestone_due(END, day(days_left)) == expected


def test_the_due_window_covers_exactly_the_dates_with_a_milestone():
    today = dt.date(2026, 11, 26)
    first, last = reminders.due_window(today)
    assert milestone_due(first, today) is not None
    assert milestone_due(first - dt.timedelta(days=1), today) is None
    assert milestone_due(last, today) == 30
    assert milestone_due(last + dt.timedelta(days=1), today) is None


# -- fixtures --------------------------------------------------------------------------------


class FakeBot:
    """Records sends; `failures[chat_id]` is a list of exceptions raised by the next sends.
    `calls` lists the club chats tried (the staff group's summary is in `sent` only)."""

    rate_limiter = None

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.calls: list[int] = []
        self.failures: dict[int, list[Exception]] = {}

    async def send_message(self, chat_id, text, **kwargs):
        if chat_id != STAFF:
            self.calls.append(chat_id)
        pending = self.failures.get(chat_id)
        if pending:
            raise pending.pop(0)
        self.sent.append({"chat_id": chat_id, "text": text, **kwargs})
        return dataclasses.make_dataclass("M", ["message_id"])(len(self.sent))

    async def get_chat(self, chat_id):
        # The staff group is not a forum here: failures stay in the summary only.
        return dataclasses.make_dataclass("C", ["id", "is_forum"])(chat_id, False)

    def to(self, chat_id: int) -> list[dict]:
        return [m for m in self.sent if m["chat_id"] == chat_id]


@pytest.fixture
async def services(tmp_path):
    settings = Settings(db=tmp_path / "r.sqlite3", staff_chat_id=STAFF)
    db = await open_database(settings.db)
    yield Services(
        settings=settings,
        db=db,
        texts=Texts(),
        clock=Clock(settings.tz),
        mailer=Mailer(settings),
        catalogue=load_catalogue(settings),
    )
    await db.close()


async def add_club(services, subdomain: str, ends: dt.date = END, plan: str = "business") -> int:
    async with services.db.transaction() as conn:
        await club_rows.upsert_many(
            conn,
            [
                {
                    "subdomain": subdomain,
                    "name": f"Aéroclub {subdomain}",
                    "structure_email": f"bureau@{subdomain}.example.fr",
                    "contact_email": f"chef@{subdomain}.example.fr",
                    "plan": plan,
                    "active_resources": 4,
                    "subscription_ends": ends.isoformat(),
                    "country": "FR",
                    "vat_number": None,
                    "language": "fr",
                }
            ],
        )
    return (await club_rows.get_by_subdomain(services.db, subdomain)).id


async def add_contact(services, club_id: int, chat_id: int, language: str = "fr") -> None:
    async with services.db.transaction() as conn:
        await contacts.upsert(
            conn,
            club_id=club_id,
            chat_id=chat_id,
            user_id=chat_id,
            display_name="Jeanne",
            language=language,
            email_kind="structure",
            verified_at="2026-01-01T00:00:00Z",
        )


async def run(services, bot, today, **kwargs):
    kwargs.setdefault("policy", FAST)
    kwargs.setdefault("trigger", "test")
    return await run_reminders(services, bot, today, **kwargs)


def staff_messages(bot: FakeBot) -> list[dict]:
    return bot.to(STAFF)


# -- selection -------------------------------------------------------------------------------


@pytest.mark.parametrize("milestone", reminders.MILESTONES)
async def test_each_milestone_is_selected_on_its_day(services, milestone):
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 501)
    selection = await select_due(services, day(milestone))
    assert [(d.key.milestone, d.key.chat_id, d.days_left) for d in selection.deliveries] == [
        (milestone, 501, milestone)
    ]
    assert selection.deliveries[0].key.period_end == END


async def test_no_reminder_between_milestones_once_the_milestone_was_sent(services):
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 501)
    bot = FakeBot()
    await run(services, bot, day(30))
    for days_left in range(29, 15, -1):
        assert (await select_due(services, day(days_left))).deliveries == []
    assert len(bot.to(501)) == 1


async def test_a_renewed_club_gets_none(services):
    """A paid renewal moves subscription_ends a year on: the period's milestones are far away."""
    club = await add_club(services, "renewed", ends=END + dt.timedelta(days=365))
    await add_contact(services, club, 502)
    for milestone in reminders.MILESTONES:
        assert (await select_due(services, day(milestone))).deliveries == []


async def test_a_club_with_a_paid_renewal_for_the_next_period_gets_none(services):
    """Even with the old end date still on the record (an import from a stale CSV export)."""
    paid = await add_club(services, "paid")
    await add_contact(services, paid, 530)
    unpaid = await add_club(services, "unpaid")
    await add_contact(services, unpaid, 531)
    async with services.db.transaction() as conn:
        for club_id, seq in ((paid, 1), (unpaid, 2)):
            invoice_id = await invoice_rows.insert(
                conn,
                year=2026,
                seq=seq,
                club_id=club_id,
                kind="renewal",
                plan="business",
                resources=4,
                renews_end=END,
                period_start=END + dt.timedelta(days=1),
                period_end=END + dt.timedelta(days=365),
                currency="EUR",
                ht_cents=10000,
                vat_rate_bp=2000,
                vat_cents=2000,
                ttc_cents=12000,
                vat_regime="fr",
                buyer={},
                payee={},
                escalation_id=None,
                subject=None,
                issued_at="2026-12-01T10:00:00+01:00",
                issued_by="test",
                lines=[],
            )
            if club_id == paid:
                await invoice_rows.mark_paid(conn, invoice_id, "2026-12-02T10:00:00+01:00")
    selection = await select_due(services, day(7))
    assert [d.subdomain for d in selection.deliveries] == ["unpaid"]  # open invoice: remind
    assert selection.skipped == {"renewed": 1}


async def test_reminders_off_and_inactive_chats_and_clubs_without_contact_are_skipped(services):
    off = await add_club(services, "off")
    await add_contact(services, off, 503)
    await contacts.set_reminders(services.db, off, 503, False)
    gone = await add_club(services, "gone")
    await add_contact(services, gone, 504)
    await contacts.set_active(services.db, 504, False)
    await add_club(services, "nobody")
    kept = await add_club(services, "kept")
    await add_contact(services, kept, 505)
    selection = await select_due(services, day(7))
    assert [d.key.chat_id for d in selection.deliveries] == [505]
    assert selection.skipped == {"reminders_off": 1, "inactive": 1, "no_contact": 1}
    assert selection.clubs_due == 4


async def test_every_contact_of_a_club_gets_its_own_in_its_language(services):
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 506, "fr")
    await add_contact(services, club, 507, "en")
    bot = FakeBot()
    summary = await run(services, bot, day(1))
    assert summary.sent == 2
    assert "demain" in bot.to(506)[0]["text"]
    assert "Formule : Business" in bot.to(506)[0]["text"]
    english = bot.to(507)[0]["text"]
    assert "tomorrow, 31 December 2026" in english and "Activated resources: 4" in english


def test_the_reminder_says_plan_date_resources_and_has_the_renew_button(services):
    for lang, days, expected in (
        ("fr", 30, "se termine dans 30 jours, le 31 décembre 2026"),
        ("fr", 0, "se termine aujourd’hui"),
        ("fr", -7, "a expiré il y a 7 jours"),
        ("en", 15, "ends in 15 days, on 31 December 2026"),
        ("en", -1, "expired 1 day ago"),
    ):
        delivery = reminders.Delivery(
            key=reminder_rows.Key(1, END, 30, 1),
            subdomain="mermoz",
            club_name="Aéroclub <Mermoz>",
            plan="first_price",
            resources=3,
            language=lang,
            days_left=days,
        )
        text, markup = reminders.render_reminder(services, delivery)
        assert expected in text
        assert "Aéroclub &lt;Mermoz&gt;" in text
        assert "First Price" in text and "3" in text
        [[button]] = markup.inline_keyboard
        assert button.callback_data == f"renew:start:{delivery.key.club_id}"
        assert len(button.callback_data.encode()) <= 64


# -- exactly once ----------------------------------------------------------------------------


async def test_a_second_run_the_same_day_sends_nothing(services):
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 508)
    bot = FakeBot()
    first = await run(services, bot, day(15))
    second = await run(services, bot, day(15))
    assert (first.sent, second.sent) == (1, 0)
    assert second.skipped["already_handled"] == 1
    assert len(bot.to(508)) == 1
    assert await reminder_rows.count_sent_on(services.db, day(15)) == 1


async def test_catch_up_after_ten_days_sends_only_the_latest_due_milestone(services):
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 509)
    bot = FakeBot()
    await run(services, bot, day(16))  # the 30-day reminder, sent a day late
    summary = await run(services, bot, day(6))  # ten days down: the 15 and the 7 were missed
    assert [(k, dict(v)) for k, v in summary.by_milestone.items()] == [(7, {"sent": 1})]
    assert [r.key.milestone for r in await reminder_rows.rows(services.db)] == [30, 7]
    assert "dans 6 jours" in bot.to(509)[-1]["text"]  # the wording tells the true count


async def test_a_run_with_an_earlier_date_does_not_send_an_older_milestone(services):
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 510)
    bot = FakeBot()
    await run(services, bot, day(7))
    summary = await run(services, bot, day(15))
    assert summary.sent == 0 and summary.skipped["superseded"] == 1


async def test_a_new_period_starts_its_own_milestones(services):
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 511)
    bot = FakeBot()
    await run(services, bot, day(1))
    async with services.db.transaction() as conn:
        next_end = END + dt.timedelta(days=365)
        await club_rows.update_fields(conn, club, subscription_ends=next_end.isoformat())
    summary = await run(services, bot, next_end - dt.timedelta(days=1))
    assert summary.sent == 1
    assert {r.key.period_end for r in await reminder_rows.rows(services.db)} == {END, next_end}


async def test_a_pending_row_left_by_a_dead_run_becomes_unknown_and_is_not_resent(services):
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 512)
    run_id = await reminder_rows.start_run(services.db, day(7), "test")
    key = reminder_rows.Key(club, END, 7, 512)
    assert await reminder_rows.claim(
        services.db, key, run_id=run_id, run_date=day(7), language="fr"
    )
    bot = FakeBot()
    summary = await run(services, bot, day(7))
    assert summary.sent == 0 and len(summary.recovered) == 1
    assert bot.to(512) == []
    [row] = await reminder_rows.rows(services.db)
    assert row.status == "unknown"
    [report] = staff_messages(bot)
    # Issue 18: in words, not codes ("mermoz J-7 chat 512: …" before).
    assert "exécution interrompue" in report["text"]
    assert "<code>mermoz</code> J-7, conversation 512 : incertain" in report["text"]


async def test_the_primary_key_refuses_a_second_claim(services):
    club = await add_club(services, "mermoz")
    run_id = await reminder_rows.start_run(services.db, day(7), "test")
    key = reminder_rows.Key(club, END, 7, 513)
    claim = dict(run_id=run_id, run_date=day(7), language="fr")
    assert await reminder_rows.claim(services.db, key, **claim)
    assert not await reminder_rows.claim(services.db, key, **claim)
    await reminder_rows.finish(services.db, key, "failed", attempts=3, error="Bad Gateway")
    assert await reminder_rows.claim(services.db, key, **claim)  # a failed one is tried again
    await reminder_rows.finish(services.db, key, "sent", attempts=1, message_id=9)
    assert not await reminder_rows.claim(services.db, key, **claim)


async def test_only_one_run_at_a_time(services):
    lock = reminders.RunLock(services.db.path)
    lock.acquire()
    try:
        with pytest.raises(reminders.RunInProgress):
            await run(services, FakeBot(), day(7))
    finally:
        lock.release()
    await run(services, FakeBot(), day(7))


async def test_dry_run_lists_and_writes_nothing(services):
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 514)
    bot = FakeBot()
    summary = await run(services, bot, day(0), dry_run=True)
    assert [(d.subdomain, d.key.milestone, d.key.chat_id) for d in summary.planned] == [
        ("mermoz", 0, 514)
    ]
    assert bot.calls == []
    assert await reminder_rows.rows(services.db) == []
    assert await services.db.fetchval("SELECT count(*) FROM reminder_runs") == 0


async def test_a_stopped_run_claims_nothing_more_and_its_day_is_not_done(services):
    """The bot shutting down mid-campaign: the rest stays due for the start-up catch-up."""
    for i in range(5):
        club = await add_club(services, f"club{i}")
        await add_contact(services, club, 540 + i)
    bot = FakeBot()
    one_at_a_time = dataclasses.replace(FAST, concurrency=1)
    summary = await run(
        services, bot, day(7), stop=lambda: len(bot.calls) >= 2, policy=one_at_a_time
    )
    assert not summary.complete and summary.sent == 2
    assert summary.skipped["not_reached"] == 3
    assert len(await reminder_rows.rows(services.db)) == 2
    assert await reminder_rows.last_finished_run_date(services.db) is None
    rest = await run(services, bot, day(7))
    assert rest.complete and rest.sent == 3
    assert sorted(bot.calls) == [540, 541, 542, 543, 544]
    assert await reminder_rows.last_finished_run_date(services.db) == day(7)


# -- Telegram's answers ----------------------------------------------------------------------


async def test_a_blocked_chat_is_marked_inactive_and_never_retried(services):
    first = await add_club(services, "first")
    second = await add_club(services, "second")
    await add_contact(services, first, 515)
    await add_contact(services, second, 515)  # one chat, contact of two clubs
    bot = FakeBot()
    bot.failures[515] = [Forbidden("Forbidden: bot was blocked by the user")]
    summary = await run(services, bot, day(7))
    assert summary.blocked == 1 and summary.skipped["inactive"] == 1
    assert bot.calls == [515]  # the second club's reminder was not even tried
    assert not (await contacts.get(services.db, first, 515)).active
    later = await run(services, bot, day(1))
    assert later.due == 0 and later.skipped["inactive"] == 2
    assert bot.calls == [515]


async def test_429_waits_retry_after_and_retries(services):
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 516)
    bot = FakeBot()
    bot.failures[516] = [RetryAfter(0), RetryAfter(0), RetryAfter(0)]
    summary = await run(services, bot, day(7))
    assert summary.sent == 1 and len(bot.calls) == 4
    [row] = await reminder_rows.rows(services.db)
    assert (row.status, row.attempts) == ("sent", 1)


async def test_endless_429s_end_failed_after_a_bounded_number_of_waits(services):
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 517)
    bot = FakeBot()
    policy = dataclasses.replace(FAST, max_rate_waits=2)
    bot.failures[517] = [RetryAfter(0)] * 5
    summary = await run(services, bot, day(7), policy=policy)
    assert summary.failed == 1 and len(bot.calls) == 3


async def test_server_errors_are_retried_a_bounded_number_of_times_then_reported(services):
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 518)
    other = await add_club(services, "other")
    await add_contact(services, other, 519)
    bot = FakeBot()
    bot.failures[518] = [NetworkError("Internal Server Error (500)")] * 3
    bot.failures[519] = [NetworkError("Bad Gateway")]
    summary = await run(services, bot, day(7))
    assert (summary.sent, summary.failed) == (1, 1)
    assert bot.calls.count(518) == 3 and bot.calls.count(519) == 2
    [report] = staff_messages(bot)
    assert "Internal Server Error" in report["text"]
    failed = await reminder_rows.rows(services.db, status="failed")
    assert [(r.key.chat_id, r.attempts) for r in failed] == [(518, 3)]
    # The next run tries the failed one again: Telegram answered, so nothing was delivered.
    retry = await run(services, bot, day(6))
    assert retry.sent == 1 and len(bot.to(518)) == 1


async def test_a_bad_request_is_not_retried(services):
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 520)
    bot = FakeBot()
    bot.failures[520] = [BadRequest("Chat not found")]
    summary = await run(services, bot, day(7))
    assert summary.failed == 1 and bot.calls == [520]


async def test_a_refused_token_stops_the_run_without_leaving_anything_pending(services):
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 524)
    bot = FakeBot()
    bot.failures[524] = [InvalidToken()]
    with pytest.raises(InvalidToken):
        await run(services, bot, day(7))
    [row] = await reminder_rows.rows(services.db)
    assert row.status == "failed"
    assert await reminder_rows.last_finished_run_date(services.db) is None
    assert (await run(services, bot, day(7))).sent == 1  # once the token is right


def _timeout(cause: Exception) -> TimedOut:
    try:
        try:
            raise cause
        except Exception as exc:
            raise TimedOut() from exc
    except TimedOut as timed_out:
        return timed_out


async def test_a_read_timeout_is_unknown_and_never_resent(services):
    """The request reached Telegram and may have been carried out: no second copy."""
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 521)
    bot = FakeBot()
    bot.failures[521] = [_timeout(httpx.ReadTimeout("slow"))]
    summary = await run(services, bot, day(7))
    assert summary.unknown == 1 and bot.calls == [521]
    again = await run(services, bot, day(6))
    assert again.due == 0 and bot.calls == [521]


async def test_a_connect_timeout_is_retried(services):
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 522)
    bot = FakeBot()
    bot.failures[522] = [_timeout(httpx.ConnectTimeout("no route"))]
    summary = await run(services, bot, day(7))
    assert summary.sent == 1 and bot.calls == [522, 522]


# -- reporting -------------------------------------------------------------------------------


async def test_the_staff_group_gets_the_summary_by_milestone(services):
    for name, milestone in (("a", 30), ("b", 30), ("c", 7), ("d", 0)):
        club = await add_club(services, name, ends=day(0) + dt.timedelta(days=milestone))
        await add_contact(services, club, 600 + ord(name))
    off = await add_club(services, "off", ends=day(0) + dt.timedelta(days=7))
    await add_contact(services, off, 700)
    await contacts.set_reminders(services.db, off, 700, False)
    bot = FakeBot()
    bot.failures[600 + ord("d")] = [Forbidden("Forbidden: bot was blocked by the user")]
    summary = await run(services, bot, day(0))
    assert (summary.sent, summary.blocked, summary.skipped_total) == (3, 1, 1)
    [report] = staff_messages(bot)
    text = report["text"]
    assert "Envoyés : 3" in text and "ignorés : 1" in text and "bloqués : 1" in text
    assert "J-30 : 2 envoyés" in text and "J-0 : 0 envoyé, 1 bloqué" in text
    assert str(summary).startswith(f"{day(0).isoformat()}: sent 3, skipped 1, failed 0")
    stored = await services.db.fetchval("SELECT summary_json FROM reminder_runs")
    assert json.loads(stored)["by_milestone"]["J-30"] == {"sent": 2}


async def test_nothing_due_posts_nothing_to_staff(services):
    await add_club(services, "far", ends=day(0) + dt.timedelta(days=100))
    bot = FakeBot()
    summary = await run(services, bot, day(0))
    assert summary.due == 0 and bot.calls == []


async def test_toggle_turns_a_contacts_reminders_off_and_on(services):
    club = await add_club(services, "mermoz")
    await add_contact(services, club, 523)
    assert await reminders.toggle_reminders(services, club, 523) is False
    assert not (await contacts.get(services.db, club, 523)).reminders_on
    assert await reminders.toggle_reminders(services, club, 523) is True
    assert await reminders.toggle_reminders(services, club, 999) is None


def test_the_progress_bar_draws_on_its_stream():
    import io

    stream = io.StringIO()
    bar = ProgressBar(stream, width=10)
    for done in range(1, 5):
        bar(done, 4)
    assert stream.getvalue().endswith("[██████████] 4/4 100%\n")
