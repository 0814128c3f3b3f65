"""Keeps benchmarks honest about the network: a bot under measurement may talk to loopback only.

Two checks: every address the bot is configured with (`OFBOT_*_URL`, `OFBOT_*_HOST`) names a
loopback host, and while it runs, the remote end of each of its sockets (from /proc/<pid>/fd and
/proc/<pid>/net/{tcp,tcp6,udp,udp6}) is sampled every few milliseconds and must be loopback."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
from urllib.parse import urlsplit

NET_TABLES = ("tcp", "tcp6", "udp", "udp6")


class LeftLoopback(AssertionError):
    """The bot was configured with, or opened a connection to, an address off loopback."""


def is_loopback_host(host: str) -> bool:
    """Whether `host` (a name or an address) can only mean this machine."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_environment(env: dict[str, str]) -> None:
    """Every `OFBOT_*_URL` / `OFBOT_*_HOST` names loopback; the ones the bot defaults to a public
    host when unset (Telegram, Stripe) must be set. Raises LeftLoopback."""
    for required in ("OFBOT_TELEGRAM_API_URL", "OFBOT_STRIPE_API_URL", "OFBOT_SMTP_HOST"):
        if required not in env:
            raise LeftLoopback(f"{required} is unset: the bot would use its public default")
    for name, value in env.items():
        if not name.startswith("OFBOT_"):
            continue
        if name.endswith("_URL"):
            host = urlsplit(value).hostname or ""
        elif name.endswith("_HOST"):
            host = value
        else:
            continue
        if not is_loopback_host(host):
            raise LeftLoopback(f"{name}={value} is not a loopback address")


def _address(hex_address: str) -> tuple[str, int]:
    """An address of /proc/net/tcp* ("0100007F:1F90", or 32 hex digits for IPv6) and its port."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # The kernel prints each 32-bit word in host byte order (little-endian here).
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(words) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, words), int(port, 16)


def parse_net_table(text: str) -> dict[int, tuple[str, int]]:
    """Socket inode → remote (address, port) for the rows of one /proc/net/{tcp,udp}[6] table."""
    remote = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        remote[int(fields[9])] = _address(fields[2])
    return remote


def is_loopback_peer(address: str, port: int) -> bool:
    """A socket's remote end is acceptable: loopback, or none (listening, not connected)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or (ip.is_unspecified and port == 0)


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def foreign_peers(pid: int) -> list[tuple[str, int]]:
    """The remote ends of `pid`'s sockets that are not loopback (empty when all is well)."""
    inodes = socket_inodes(pid)
    found = []
    for table in NET_TABLES:
        try:
            with open(f"/proc/{pid}/net/{table}", encoding="ascii") as handle:
                rows = parse_net_table(handle.read())
        except FileNotFoundError:
            continue
        found += [peer for inode, peer in rows.items() if inode in inodes]
    return [peer for peer in found if not is_loopback_peer(*peer)]


class LoopbackWatch:
    """Samples a child's sockets every `interval` s while it runs; `check()` raises LeftLoopback
    if any sample saw a remote end off loopback."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.samples = 0
        self.sockets_seen = 0
        self.foreign: set[tuple[str, int]] = set()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                self.sockets_seen = max(self.sockets_seen, len(socket_inodes(self.pid)))
                self.foreign.update(foreign_peers(self.pid))
            except (FileNotFoundError, ProcessLookupError):
                return  # the process is gone
            self.samples += 1
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def check(self) -> None:
        if self.foreign:
            peers = ", ".join(f"{a}:{p}" for a, p in sorted(self.foreign))
            raise LeftLoopback(f"process {self.pid} connected off loopback: {peers}")
