"""Shared by the benchmarks: the machine description, medians, CPU clocks of this process and of
a child process (from /proc, psutil is not installed), and realistic user/chat data."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine() -> str:
    import telegram

    model = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, "
        f"python-telegram-bot {telegram.__version__}, load average {load[0]:.1f} "
        "(machine shared with other engineers' test runs)"
    )


def median(values) -> float:
    return statistics.median(list(values))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    # After the ")" the fields start at #3 (state): utime is #14, stime #15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def proc_rss_peak_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, in MB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def user_data(i: int) -> dict:
    """What a club contact's user_data holds mid-renewal: ~300 bytes of JSON."""
    return {
        "lang": "fr" if i % 3 else "en",
        "club_id": 1 + i % 10_000,
        "pending_club": 1 + i % 10_000,
        "pending_kind": "structure",
        "draft_renewal": {
            "plan": "business",
            "resources": 4 + i % 20,
            "minimum": 4,
            "period_start": "2026-09-01",
            "period_end": "2027-08-31",
            "quote": {"base": 39000, "per_resource": 4800, "ht": 96600, "vat": 19320},
        },
        "last_menu_message": 1000 + i,
        "display_name": f"Membre n°{i} de l'aéroclub",
    }


def chat_data(i: int) -> dict:
    """A few hundred bytes per chat: recent message ids and a flag or two."""
    return {
        "recent_messages": list(range(1000 + i, 1020 + i)),
        "keyboard_message": 1019 + i,
        "notice": "Votre devis est prêt : vérifiez les lignes avant de confirmer.",
    }


def python() -> str:
    return sys.executable
