"""How fast and how hard the reminders' send loop goes: the policy (Telegram's documented limits),
the pacer that hands out send slots, and the lock that keeps to one run at a time."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class SendPolicy:
    """How fast and how hard the send loop tries. Defaults suit Telegram's documented limits."""

    rate: float = 29.0  # messages/s overall: just under Telegram's ~30 so jitter never trips it
    chat_interval: float = 1.0  # seconds between two messages to one chat
    concurrency: int = 8  # sends in flight: enough for Telegram's round trip at `rate`
    max_attempts: int = 3  # errors Telegram answered (5xx) or connections never made
    max_rate_waits: int = 10  # 429s waited out here, beyond the rate limiter's own retries
    backoff: float = 1.0  # seconds, times the attempt number
    read_timeout: float = 20.0


class RunInProgress(Exception):
    """Another reminders run holds the lock (the 09:00 job, an operator, the sandbox)."""

    def __init__(self) -> None:
        super().__init__("another reminders run is in progress")


class Pacer:
    """Hands out send slots `1/rate` seconds apart, with no burst.

    Uses the event loop's monotonic time: pacing is about real seconds, not the business clock."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_slot = 0.0

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self.next_slot)
        self.next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class RunLock:
    """One run at a time per database, across processes: an exclusive `flock` on a file next to
    the database, released by the kernel when a process dies (kill -9 included)."""

    def __init__(self, db_path: Path) -> None:
        self.path = None if str(db_path) == ":memory:" else Path(f"{db_path}.reminders.lock")
        self.fd: int | None = None

    def acquire(self) -> None:
        if self.path is None:
            return
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunInProgress() from None
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
