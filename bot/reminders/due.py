"""Which renewal reminders are due on a day (SPEC §5): the milestones before a subscription ends,
and the (club, milestone, chat) deliveries due and not handled yet, most urgent first."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter

from bot.services import Services
from storage import reminders as rows
from storage.reminders import Key

# Days before the end date; -7 is "lapsed a week ago".
MILESTONES = (30, 15, 7, 1, 0, -7)
# The lapsed reminder stays due for a week, as each earlier one stays due until the next.
LAST_MILESTONE_WINDOW = 7


def milestone_label(milestone: int) -> str:
    return f"J+{-milestone}" if milestone < 0 else f"J-{milestone}"


def milestone_due(ends: dt.date, today: dt.date) -> int | None:
    """The latest milestone whose date is on or before `today`, while it is still the latest: after
    days of downtime only that one is due, never a burst of stale ones. None when none is."""
    days_left = (ends - today).days
    if days_left > MILESTONES[0] or days_left <= MILESTONES[-1] - LAST_MILESTONE_WINDOW:
        return None
    return min(m for m in MILESTONES if m >= days_left)


def due_window(today: dt.date) -> tuple[dt.date, dt.date]:
    """First and last end dates for which some milestone is due on `today`."""
    first = today + dt.timedelta(days=MILESTONES[-1] - LAST_MILESTONE_WINDOW + 1)
    return first, today + dt.timedelta(days=MILESTONES[0])


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One reminder to send: its key and what the message says."""

    key: Key
    subdomain: str
    club_name: str
    plan: str
    resources: int
    language: str
    days_left: int


@dataclasses.dataclass
class Selection:
    deliveries: list[Delivery]
    clubs_due: int
    skipped: Counter  # reason → recipients not sent to


async def select_due(services: Services, today: dt.date) -> Selection:
    """Every (club, milestone, chat) due on `today` and not handled yet, most urgent first."""
    first, last = due_window(today)
    found = await rows.candidates(services.db, first, last)
    done = await rows.existing(services.db, first, last)
    handled_milestones: dict[tuple[int, dt.date, int], set[int]] = {}
    for key, status in done.items():
        if status != "failed":
            handled_milestones.setdefault((key.club_id, key.period_end, key.chat_id), set()).add(
                key.milestone
            )
    deliveries: list[Delivery] = []
    skipped: Counter = Counter()
    clubs: set[int] = set()
    for c in found:
        # A paid renewal moves subscription_ends a year on (record_payment), so the club's current
        # end date is the period: a renewed club falls out of the window by itself.
        milestone = milestone_due(c.subscription_ends, today)
        if milestone is None:
            continue
        if c.renewed:
            skipped["renewed"] += 1
            continue
        clubs.add(c.club_id)
        if c.chat_id is None:
            skipped["no_contact"] += 1
            continue
        if not c.active:
            skipped["inactive"] += 1
            continue
        if not c.reminders_on:
            skipped["reminders_off"] += 1
            continue
        handled = handled_milestones.get((c.club_id, c.subscription_ends, c.chat_id), set())
        if milestone in handled:
            skipped["already_handled"] += 1
            continue
        if any(m < milestone for m in handled):
            # The clock went back (--today in the past): a later milestone went out already.
            skipped["superseded"] += 1
            continue
        deliveries.append(
            Delivery(
                key=Key(c.club_id, c.subscription_ends, milestone, c.chat_id),
                subdomain=c.subdomain,
                club_name=c.name,
                plan=c.plan,
                resources=c.active_resources,
                language=c.language or "fr",
                days_left=(c.subscription_ends - today).days,
            )
        )
    return Selection(deliveries=deliveries, clubs_due=len(clubs), skipped=skipped)
