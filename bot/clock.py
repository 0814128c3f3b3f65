"""The one source of "now" for services and jobs, in the configured time zone.

The sandbox moves it forward to show reminders; production never sets an offset."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo


class Clock:
    def __init__(self, tz: ZoneInfo, offset: dt.timedelta = dt.timedelta(0)) -> None:
        self.tz = tz
        self.offset = offset

    def timestamp(self) -> float:
        """Unix seconds, for rate-limit windows and expiries."""
        return time.time() + self.offset.total_seconds()

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.timestamp(), self.tz)

    def today(self) -> dt.date:
        return self.now().date()

    def advance(self, delta: dt.timedelta) -> None:
        self.offset += delta
