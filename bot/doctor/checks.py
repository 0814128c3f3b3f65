"""What every check of `ofbot doctor` gives: one line (ok, warning or error, and what to do), and
the limits the checks share (the timeout of one call to a service)."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARNING, ERROR = "ok", "warning", "error"
TIMEOUT = 10.0  # seconds for one call to a service


@dataclass(frozen=True)
class Check:
    """One line of the report: `status` is ok, warning or error; `fix` says what to do."""

    name: str
    status: str
    message: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<7}  {self.name}: {self.message}"
        return f"{text} → {self.fix}" if self.fix else text
