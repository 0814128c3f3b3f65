"""Keeps benchmarks honest about the network: a bot under measurement may talk to loopback only.

Three checks: every address the bot is configured with (`OFBOT_*_URL`, `OFBOT_*_HOST`, any
`OFBOT_*` holding a URL) names a loopback host; the benchmark runs in a network jail where any
packet sent off loopback is caught (`enter_jail`, `NetworkJail`: short connections, DNS queries
and child processes included); and while the bot runs, the remote end of each of its sockets
(from /proc/<pid>/fd and /proc/<pid>/net/{tcp,tcp6,udp,udp6}) is sampled every few milliseconds
(the only check where the jail cannot be set up)."""

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
        if name.endswith("_URL") or "://" in value:  # OFBOT_CLUBS_SOURCE is a URL too
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


# --- the network jail: every way out but loopback leads to this process -----------------------

JAIL_ENV = "BENCH_NETWORK_JAILED"  # not OFBOT_: the bots' settings are checked by that prefix
TUN_NAME = "ofbleak0"
_TUNSETIFF = 0x400454CA
_IFF_TUN, _IFF_NO_PI = 0x0001, 0x1000


class NetworkJail:
    """The benchmark and every process it starts run in a network namespace of their own (`unshare
    --net`) whose only interfaces are loopback and a tun device this process holds open, the
    default route for IPv4 and IPv6. A packet any of them sends off loopback — a TCP SYN however
    short the connection, a UDP datagram, a DNS query to the resolver, from the bot or from a
    child of it (the PDF renderer) — is read here instead of reaching a network: `leaks` lists
    (protocol, destination, port). Only TCP and UDP count (the kernel's own ICMPv6 neighbour and
    multicast chatter on the device is not a process talking).

    Sampling sockets (LoopbackWatch) sees a connection only while it is open; this sees every
    packet. `enter_jail()` sets it up; without `unshare` (or the right to use it) the benchmark
    says so and keeps the sampling alone."""

    def __init__(self) -> None:
        import threading

        self.leaks: list[tuple[str, str, int]] = []
        self._fd = os.open("/dev/net/tun", os.O_RDWR)
        import fcntl
        import struct

        fcntl.ioctl(
            self._fd, _TUNSETIFF, struct.pack("16sH", TUN_NAME.encode(), _IFF_TUN | _IFF_NO_PI)
        )
        for command in (
            ["ip", "link", "set", "lo", "up"],
            ["ip", "link", "set", TUN_NAME, "up"],
            ["ip", "addr", "add", "10.254.254.1/32", "dev", TUN_NAME],
            ["ip", "route", "add", "default", "dev", TUN_NAME],
            ["ip", "-6", "addr", "add", "fd00:254::1/128", "dev", TUN_NAME, "nodad"],
            ["ip", "-6", "route", "add", "default", "dev", TUN_NAME],
        ):
            _run(command)
        threading.Thread(target=self._read, name="network-jail", daemon=True).start()
        # A resolver on loopback (systemd-resolved's 127.0.0.53, Docker's 127.0.0.11) takes a
        # lookup of a public name without a packet reaching the tun device: in the jail nothing
        # answers there, so the benchmark listens in its place and a query is a leak.
        for address in loopback_resolvers():
            listener = socket.socket(
                socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM
            )
            listener.bind((address, 53))
            threading.Thread(
                target=self._listen, args=(listener, address), name="jail-dns", daemon=True
            ).start()

    def _listen(self, listener: socket.socket, address: str) -> None:
        while True:
            try:
                listener.recvfrom(4096)
            except OSError:
                return
            self.leaks.append(("udp (DNS to the loopback resolver)", address, 53))

    def _read(self) -> None:
        while True:
            try:
                packet = os.read(self._fd, 65536)
            except OSError:
                return
            leak = describe_packet(packet)
            if leak is not None:
                self.leaks.append(leak)

    def check(self) -> None:
        if self.leaks:
            seen = ", ".join(f"{p} {a}:{port}" for p, a, port in sorted(set(self.leaks)))
            raise LeftLoopback(f"packets sent off loopback: {seen}")


def loopback_resolvers(path: str = "/etc/resolv.conf") -> list[str]:
    """The nameservers of `path` on a loopback address (127.0.0.0/8, ::1)."""
    import ipaddress

    found = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    try:
                        if ipaddress.ip_address(parts[1].split("%")[0]).is_loopback:
                            found.append(parts[1])
                    except ValueError:
                        continue
    except OSError:
        return []
    return found


def describe_packet(packet: bytes) -> tuple[str, str, int] | None:
    """(protocol, destination address, destination port) of an IPv4/IPv6 TCP or UDP packet as
    the tun device gives it (no packet information header); None for anything else."""
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4 and len(packet) >= 20:
        header = (packet[0] & 0x0F) * 4
        proto, dst = packet[9], socket.inet_ntop(socket.AF_INET, packet[16:20])
    elif version == 6 and len(packet) >= 40:
        header, proto = 40, packet[6]
        dst = socket.inet_ntop(socket.AF_INET6, packet[24:40])
    else:
        return None
    if proto not in (6, 17) or len(packet) < header + 4:
        return None
    port = int.from_bytes(packet[header + 2 : header + 4], "big")
    return ("tcp" if proto == 6 else "udp", dst, port)


def _run(command: list[str]) -> None:
    import subprocess

    subprocess.run(command, check=True, capture_output=True, timeout=10)


JAIL: NetworkJail | None = None
TRIED = False  # enter_jail() was called: a run without the jail cannot say traffic stayed local


def enter_jail() -> str:
    """Run the rest of this benchmark in the network jail: re-executes the command under
    `unshare --net` (root) or `unshare --net --map-root-user`, then sets the jail up in the new
    process. Returns a line saying which check is in force."""
    global JAIL, TRIED
    import shutil
    import sys

    TRIED = True

    if os.environ.get(JAIL_ENV) == "1":
        try:
            JAIL = NetworkJail()
        except (OSError, FileNotFoundError, ValueError) as exc:
            return f"network jail: not set up ({exc}); loopback checked by sampling sockets only"
        except Exception as exc:  # subprocess.CalledProcessError: `ip` refused
            return f"network jail: not set up ({exc}); loopback checked by sampling sockets only"
        return (
            "network jail: on (own network namespace, every route but loopback read by the "
            "benchmark: any TCP/UDP packet off loopback fails the run)"
        )
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("ip") is None:
        return "network jail: unshare/ip not found; loopback checked by sampling sockets only"
    args = [unshare, "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    probe = __import__("subprocess").run(
        [*args, "true"], capture_output=True, timeout=10, check=False
    )
    if probe.returncode != 0:
        return "network jail: unshare --net refused here; loopback checked by sampling sockets only"
    os.environ[JAIL_ENV] = "1"
    os.execv(unshare, [*args, sys.executable, *sys.orig_argv[1:]])
    raise AssertionError("unreachable")  # pragma: no cover


def check_jail() -> None:
    """Raises LeftLoopback when the jail (if set up) read a packet sent off loopback."""
    if JAIL is not None:
        JAIL.check()
