"""The benchmarks' loopback guard (bench/loopback.py): a bot configured with, or connected to,
an address off loopback fails the run (issue 19: the overhead benchmark called Stripe's host)."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from bench.loopback import (
    LeftLoopback,
    LoopbackWatch,
    check_environment,
    foreign_peers,
    is_loopback_peer,
    parse_net_table,
)

LOOPBACK_ENV = {
    "OFBOT_TELEGRAM_API_URL": "http://127.0.0.1:8081",
    "OFBOT_STRIPE_API_URL": "http://127.0.0.1:12111",
    "OFBOT_SMTP_HOST": "127.0.0.1",
    "OFBOT_HTTP_HOST": "127.0.0.1",
}


def test_loopback_addresses_pass():
    check_environment(LOOPBACK_ENV)
    check_environment(dict(LOOPBACK_ENV, OFBOT_SMTP_HOST="localhost"))
    check_environment(dict(LOOPBACK_ENV, OFBOT_TELEGRAM_API_URL="http://[::1]:8081"))


@pytest.mark.parametrize(
    "change",
    [
        {"OFBOT_STRIPE_API_URL": "https://api.stripe.com"},
        {"OFBOT_TELEGRAM_API_URL": "https://api.telegram.org"},
        {"OFBOT_SMTP_HOST": "smtp.example.org"},
        {"OFBOT_PUBLIC_URL": "https://bot.example.org"},
        {"OFBOT_HTTP_HOST": "0.0.0.0"},
    ],
)
def test_an_address_off_loopback_is_refused(change):
    with pytest.raises(LeftLoopback):
        check_environment(dict(LOOPBACK_ENV, **change))


def test_a_public_default_left_in_place_is_refused():
    # The case of issue 19: a Stripe key set, no Stripe stand-in, the bot on api.stripe.com.
    env = {k: v for k, v in LOOPBACK_ENV.items() if k != "OFBOT_STRIPE_API_URL"}
    with pytest.raises(LeftLoopback, match="OFBOT_STRIPE_API_URL"):
        check_environment(env)


def test_the_kernel_tables_are_read_right():
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode\n"
        "   0: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0"
        "        0 111 1 0000000000000000 20 4 30 10 -1\n"
        "   1: 0100007F:D432 0A02000A:01BB 01 00000000:00000000 00:00000000 00000000     0"
        "        0 222 1 0000000000000000 20 4 30 10 -1\n"
        "   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0"
        "        0 333 1 0000000000000000 20 4 30 10 -1\n"
    )
    peers = parse_net_table(table)
    assert peers == {111: ("127.0.0.1", 54321), 222: ("10.0.2.10", 443), 333: ("0.0.0.0", 0)}
    assert is_loopback_peer(*peers[111]) and is_loopback_peer(*peers[333])
    assert not is_loopback_peer(*peers[222])
    assert is_loopback_peer("::ffff:127.0.0.1", 80) and not is_loopback_peer("2001:db8::1", 443)


async def test_a_process_talking_over_loopback_passes_the_watch():
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    try:
        watch = LoopbackWatch(os.getpid(), interval=0.005)
        await asyncio.sleep(0.05)
        await watch.stop()
        watch.check()
        assert watch.samples > 0 and watch.sockets_seen >= 2
        assert foreign_peers(os.getpid()) == []
    finally:
        client.close()
        server.close()
        await server.wait_closed()


def test_a_setting_that_holds_a_url_off_loopback_is_refused_whatever_its_name():
    from bench.loopback import LeftLoopback, check_environment

    env = {
        "OFBOT_TELEGRAM_API_URL": "http://127.0.0.1:1",
        "OFBOT_STRIPE_API_URL": "http://127.0.0.1:2",
        "OFBOT_SMTP_HOST": "127.0.0.1",
        "OFBOT_CLUBS_SOURCE": "https://clubs.example.org/clubs.csv",
    }
    with pytest.raises(LeftLoopback, match="OFBOT_CLUBS_SOURCE"):
        check_environment(env)


def test_the_jail_reads_tcp_and_udp_packets_and_ignores_the_kernels_chatter():
    import struct

    from bench.loopback import describe_packet

    syn = bytes([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 254, 254, 1, 8, 8, 8, 8])
    syn += struct.pack("!HH", 40000, 443) + bytes(16)
    assert describe_packet(syn) == ("tcp", "8.8.8.8", 443)
    udp6 = bytes([0x60, 0, 0, 0, 0, 8, 17, 64]) + bytes(16)
    udp6 += bytes.fromhex("20014860486000000000000000008888") + struct.pack("!HHHH", 5353, 53, 8, 0)
    assert describe_packet(udp6) == ("udp", "2001:4860:4860::8888", 53)
    icmp6 = bytes([0x60, 0, 0, 0, 0, 8, 58, 255]) + bytes(32) + bytes(8)
    assert describe_packet(icmp6) is None  # router solicitation, MLD: not a process talking
    assert describe_packet(b"") is None


LEAKS = """
import json, socket, subprocess, sys
from bench.loopback import NetworkJail
jail = NetworkJail()
def quietly(f):
    try:
        f()
    except OSError:
        pass
def short_tcp():
    s = socket.create_connection(("203.0.113.7", 443), timeout=0.2)
    s.close()
quietly(short_tcp)
quietly(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("198.51.100.9", 123)))
quietly(lambda: socket.getaddrinfo("api.stripe.com", 443))
child = "import socket\\ntry:\\n socket.create_connection(('192.0.2.44', 25), timeout=0.2)\\nexcept OSError:\\n pass"
subprocess.run([sys.executable, "-c", child], check=True)
import time; time.sleep(0.3)
print(json.dumps(sorted(set(jail.leaks))))
"""


def test_the_network_jail_catches_what_sampling_sockets_misses():
    """A short TCP connection, a UDP datagram on an unconnected socket, a DNS lookup and a child
    process's connection: each is a packet off loopback, read by the jail."""
    import json
    import shutil
    import subprocess
    import sys

    unshare = shutil.which("unshare")
    args = [unshare, "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    if unshare is None or subprocess.run([*args, "true"], capture_output=True).returncode:
        pytest.skip("no network namespace here (unshare --net refused)")
    if not os.path.exists("/dev/net/tun"):
        pytest.skip("no /dev/net/tun")
    done = subprocess.run(
        [*args, sys.executable, "-c", LEAKS],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "RES_OPTIONS": "timeout:1 attempts:1"},  # no answer ever comes
    )
    assert done.returncode == 0, done.stderr
    leaks = [tuple(x) for x in json.loads(done.stdout.strip().splitlines()[-1])]
    destinations = {(proto, address) for proto, address, _port in leaks}
    assert ("tcp", "203.0.113.7") in destinations
    assert ("udp", "198.51.100.9") in destinations
    assert ("tcp", "192.0.2.44") in destinations  # from a child process
    # A DNS query: a packet to the resolver, or, with a resolver on loopback (systemd's
    # 127.0.0.53), a datagram to the jail's listener in its place.
    assert any(proto.startswith("udp") and port == 53 for proto, _a, port in leaks)


def test_loopback_resolvers_are_read_from_resolv_conf(tmp_path):
    from bench.loopback import loopback_resolvers

    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# a comment\nnameserver 127.0.0.53\nnameserver 10.255.255.53\n"
        "nameserver ::1\nnameserver fe80::1%eth0\nsearch example.org\n",
        encoding="utf-8",
    )
    assert loopback_resolvers(str(conf)) == ["127.0.0.53", "::1"]
    assert loopback_resolvers(str(tmp_path / "missing")) == []
