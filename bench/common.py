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


def load() -> str:
    """The machine's load as measured now: load averages over 1/5/15 min and the cores."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} cores"


def machine() -> str:
    import telegram

    model = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    from bench import loopback

    jail = (
        "network jail on"
        if loopback.JAIL is not None
        else "no network jail (loopback sampled only)"
    )
    return (
        f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, "
        f"python-telegram-bot {telegram.__version__}; {jail}; {load()}"
    )


def with_jail_target(checks: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """`checks`, and for a benchmark that tried the network jail the target "loopback-only
    traffic checked by the network jail": missed when it runs without the jail (sampling
    sockets sees a connection only while it is open) or the jail read a packet sent off
    loopback. The jail's packets are read here once more: one read after the last bot's check
    (sent as it stopped, or by the stand-ins in this process afterwards) misses it too. The
    benchmarks write these into their --json, so bench/README.md shows the target as well."""
    from bench import loopback

    if not loopback.TRIED:
        return list(checks)
    jail = loopback.JAIL
    leaks = sorted(set(jail.leaks)) if jail is not None else []
    seen = ", ".join(f"{proto} {address}:{port}" for proto, address, port in leaks)
    return [
        *checks,
        (
            "loopback-only traffic checked by the network jail"
            + (f": packets sent off loopback: {seen}" if leaks else ""),
            jail is not None and not leaks,
        ),
    ]


def verdict(checks: list[tuple[str, bool]]) -> int:
    """Print each target (and the network jail's, `with_jail_target`) as met or MISSED; the exit
    status: 0 when all are met, else 1."""
    checks = with_jail_target(checks)
    print()
    for name, met in checks:
        print(f"target {'met   ' if met else 'MISSED'}: {name}")
    print(f"at the end: {load()}")
    return 0 if all(met for _, met in checks) else 1


def median(values) -> float:
    return statistics.median(list(values))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def proc_cpu_seconds(pid: int) -> float:
    """CPU time of a live process, all its threads, in seconds: the sum of each thread's
    `/proc/<pid>/task/<tid>/schedstat` run time (nanoseconds; /proc/<pid>/stat counts in clock
    ticks of 10 ms, too coarse for a run of a few dozen updates). A thread that ended no longer
    counts; the bots' threads live as long as they do."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as handle:
                total += int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def proc_threads_cpu(pid: int) -> dict[str, tuple[float, float]]:
    """User and system CPU seconds of each live thread of `pid`, from /proc/<pid>/task/*/stat:
    {"main" | "thread <tid>": (user, system)}. Threads that ended are not listed."""
    out: dict[str, tuple[float, float]] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = "main" if int(tid) == pid else f"thread {tid}"
        out[name] = (int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS)
    return out


def threads_cpu_delta(before: dict, after: dict) -> dict[str, tuple[float, float]]:
    """`after - before` per thread (a thread born in between counts from zero), busiest first."""
    delta = {
        name: (u - before.get(name, (0.0, 0.0))[0], s - before.get(name, (0.0, 0.0))[1])
        for name, (u, s) in after.items()
    }
    return dict(sorted(delta.items(), key=lambda kv: -(kv[1][0] + kv[1][1])))


def proc_rss_peak_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, in MB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def user_data(i: int) -> dict:
    """More than a club contact's user_data holds after a renewal flow (~1 KB of JSON, where
    the bot writes 150-200 bytes after one flow): the draft with its quoted terms, and what
    handlers/common.py remembers of the messages it showed — the state under each of the last
    keyboards (one flow leaves 3: answers edited in place keep their message) and the version
    of each message edited in place (1)."""
    state = {
        "club_id": 1 + i % 10_000,
        "draft_renewal": {"plan": "business", "resources": 4 + i % 20, "minimum": 4},
    }
    data = {
        "lang": "fr" if i % 3 else "en",
        "club_id": 1 + i % 10_000,
        "pending_club": 1 + i % 10_000,
        "pending_kind": "structure",
        # As handlers/club/renew_steps.py keeps it (DRAFT, with invoices.quote_terms).
        "draft_renewal": {
            "club_id": 1 + i % 10_000,
            "plan": "business",
            "count": 4 + i % 20,
            "quoted": {
                "renews_end": "2026-12-31",
                "start": "2027-01-01",
                "end": "2027-12-31",
                "plan": "business",
                "resources": 4 + i % 20,
                "ht": 60000,
                "vat": 12000,
                "ttc": 72000,
                "regime": "fr",
            },
        },
        "last_menu_message": 1000 + i,
        "display_name": f"Membre n°{i} de l'aéroclub",
    }
    data["shown_keyboards"] = {str(1000 + i + k): dict(state) for k in range(3)}
    data["edited_in_place"] = {str(1003 + i): f"{i:016x}"}
    return data


def chat_data(i: int) -> dict:
    """What the bot stores per chat: the keys of its last 16 handled updates, as
    `bot.updates.handled_key` writes them (a message's "<update id>:message:<message id>", a
    press's "<update id>:callback:<query id>", Telegram's query ids being ~19 digits), and the
    message whose keyboard was removed (the payment instructions kept when "I have sent it" is
    pressed)."""
    from bot.updates import HANDLED, HANDLED_KEPT

    first = 700_000_000 + 40 * i
    keys = []
    for k in range(HANDLED_KEPT):
        if k % 2:
            query = (i * 1_000_003 + k) * 10_000_000_019 % 10**19
            keys.append(f"{first + k}:callback:{query}")
        else:
            keys.append(f"{first + k}:message:{1000 + k}")
    return {HANDLED: keys, "markup_removed": [1004 + i]}


def python() -> str:
    return sys.executable
