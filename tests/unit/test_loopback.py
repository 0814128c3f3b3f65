"""The benchmarks' loopback guard (bench/loopback.py): a bot configured with, or connected to,
an address off loopback fails the run (issue 19: the overhead benchmark called Stripe's host)."""

from __future__ import annotations

import asyncio
import os
import socket

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
