"""What a reminders run did: counts per status and milestone, the problems, its one-line form,
and the summary posted to the staff group."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import Counter

from telegram.error import TelegramError

from bot import notify, staff_topics
from bot.reminders.due import MILESTONES, Delivery, milestone_label
from bot.services import Services
from storage import clubs as club_rows

log = logging.getLogger(__name__)

STATUSES = ("sent", "blocked", "failed", "unknown")
# Staff see this many problem lines; the rest are counted.
PROBLEMS_SHOWN = 20


@dataclasses.dataclass
class Problem:
    subdomain: str
    milestone: int
    chat_id: int
    status: str
    error: str

    def view(self) -> dict:
        """For the staff summary's template (statuses put in words there)."""
        return {**dataclasses.asdict(self), "milestone": milestone_label(self.milestone)}

    def line(self) -> str:
        return (
            f"{self.subdomain} {milestone_label(self.milestone)} chat {self.chat_id}: {self.error}"
        )


@dataclasses.dataclass
class Summary:
    """What a run did; `str()` is the one-line form (sandbox page, logs)."""

    today: dt.date
    dry_run: bool = False
    run_id: int | None = None
    clubs_due: int = 0
    due: int = 0
    counts: Counter = dataclasses.field(default_factory=Counter)  # status → n
    skipped: Counter = dataclasses.field(default_factory=Counter)  # reason → n
    by_milestone: dict[int, Counter] = dataclasses.field(default_factory=dict)
    problems: list[Problem] = dataclasses.field(default_factory=list)
    recovered: list[Problem] = dataclasses.field(default_factory=list)  # pending → unknown
    planned: list[Delivery] = dataclasses.field(default_factory=list)  # dry run
    complete: bool = True  # False when stopped before every delivery was tried

    @property
    def sent(self) -> int:
        return self.counts["sent"]

    @property
    def failed(self) -> int:
        return self.counts["failed"]

    @property
    def blocked(self) -> int:
        return self.counts["blocked"]

    @property
    def unknown(self) -> int:
        return self.counts["unknown"]

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def add(self, delivery: Delivery, status: str, error: str | None = None) -> None:
        self.counts[status] += 1
        self.by_milestone.setdefault(delivery.key.milestone, Counter())[status] += 1
        if status != "sent":
            self.problems.append(
                Problem(
                    delivery.subdomain,
                    delivery.key.milestone,
                    delivery.key.chat_id,
                    status,
                    error or status,
                )
            )

    def milestones(self) -> list[tuple[str, dict[str, int]]]:
        """(label, status → n) in calendar order, for the templates."""
        return [
            (milestone_label(m), dict(self.by_milestone[m]))
            for m in MILESTONES
            if m in self.by_milestone
        ]

    def worth_reporting(self) -> bool:
        return bool(self.due or self.recovered)

    def as_dict(self) -> dict:
        return {
            "today": self.today.isoformat(),
            "dry_run": self.dry_run,
            "clubs_due": self.clubs_due,
            "due": self.due,
            **{status: self.counts[status] for status in STATUSES},
            "skipped": dict(self.skipped),
            "by_milestone": {milestone_label(m): dict(c) for m, c in self.by_milestone.items()},
            "problems": [p.line() for p in self.problems],
            "recovered": [p.line() for p in self.recovered],
            "complete": self.complete,
        }

    def __str__(self) -> str:
        if self.dry_run:
            head = f"{self.today.isoformat()} dry run: {len(self.planned)} would be sent"
        else:
            head = (
                f"{self.today.isoformat()}: sent {self.sent}, skipped {self.skipped_total}, "
                f"failed {self.failed}, blocked {self.blocked}, unknown {self.unknown}"
            )
        parts = [head]
        if self.by_milestone:
            parts.append(
                ", ".join(
                    f"{label} {counts.get('sent', 0)}/{sum(counts.values())}"
                    for label, counts in self.milestones()
                )
            )
        if self.recovered:
            parts.append(f"{len(self.recovered)} left unsettled by an interrupted run")
        if not self.complete:
            parts.append("stopped early: the rest stays due")
        return " — ".join(parts)


async def report_to_staff(services: Services, bot, summary: Summary) -> None:
    """The run's summary in the staff group; a failure here is logged, never raised."""
    chat_id = services.settings.staff_chat_id
    if not chat_id:
        return
    problems = summary.problems + summary.recovered
    text = services.texts.render(
        "fr",
        "reminders/staff_summary",
        today=summary.today,
        sent=summary.sent,
        skipped=dict(summary.skipped),
        failed=summary.failed,
        blocked=summary.blocked,
        unknown=summary.unknown,
        recovered=len(summary.recovered),
        milestones=summary.milestones(),
        problems=[p.view() for p in problems[:PROBLEMS_SHOWN]],
        more=max(0, len(problems) - PROBLEMS_SHOWN),
    )
    try:
        await notify.send(bot, chat_id, text)
    except TelegramError:
        log.exception("could not post the reminders summary to the staff group")
    await _report_in_topics(services, bot, summary.today, problems[:PROBLEMS_SHOWN])


async def _report_in_topics(services: Services, bot, today: dt.date, problems: list) -> None:
    """In a forum staff group, each club's failures also go to the club's topic (the summary
    stays in General); a group without topics has them in the summary only."""
    by_club: dict[str, list[Problem]] = {}
    for problem in problems:
        by_club.setdefault(problem.subdomain, []).append(problem)
    if not by_club:
        return
    try:
        if not await staff_topics.is_forum(bot, services.settings.staff_chat_id):
            return
        for subdomain, lines in by_club.items():
            club = await club_rows.get_by_subdomain(services.db, subdomain)
            if club is None:
                continue
            text = services.texts.render(
                notify.STAFF_LANG,
                "reminders/staff_club_problems",
                today=today,
                problems=[p.view() for p in lines],
            )
            await notify.to_staff(services, bot, text, club_id=club.id)
    except TelegramError:
        log.exception("could not post the reminders' failures to the clubs' topics")
