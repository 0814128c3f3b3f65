"""Case 5 of issue 12: the HTTP server against plain HTTP from anyone: bodies capped while they
stream in, a deadline for a request's head, a cap on connections, a real webhook secret, and the
Telegram webhook closed while the bot polls."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot import http as http_module
from bot.http import POLLING_CONFLICT
from bot.settings import SettingsError, load_settings
from tests.conftest import CLUB_USER_FR, Chat

WAIT = 5.0  # how long a test waits for an answer that should come at once (not a measure)


async def _raw(url: str, head: bytes, body: bytes = b"") -> tuple[bytes, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(200), WAIT)
    except BaseException:
        writer.close()
        raise
    return answer, writer


async def test_a_huge_stripe_body_is_refused_before_it_is_read(bot):
    url = bot.runtime.http.url
    head = (
        b"POST /stripe/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Stripe-Signature: t=1,v1=00\r\nContent-Length: 209715200\r\n\r\n"
    )
    answer, writer = await _raw(url, head, b"{" * 1024)  # 200 MiB announced, 1 KiB sent
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer
    # Without a length (chunked): refused once past the cap, not at the end.
    head = (
        b"POST /stripe/webhook HTTP/1.1\r\nHost: x\r\nStripe-Signature: t=1,v1=00\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (32 * 1024, b"x" * 32 * 1024)
    answer, writer = await _raw(url, head, chunk * 4)  # 128 KiB of an endless body
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer


async def test_a_request_head_that_never_ends_is_cut_off(bot, monkeypatch):
    monkeypatch.setattr(http_module, "HEADER_TIMEOUT", 0.3)
    host, port = bot.runtime.http.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and nothing more
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), WAIT) == b""  # closed by the server
    writer.close()


async def test_half_open_connections_are_capped_and_telegram_still_answered(
    bot, telegram, monkeypatch
):
    monkeypatch.setattr(http_module, "MAX_CONNECTIONS", 20)
    host, port = bot.runtime.http.url.removeprefix("http://").split(":")
    held = []
    for _ in range(60):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /stripe/webhook HTTP/1.1\r\nHost: x\r\n")
        held.append((reader, writer))
    await asyncio.sleep(0.2)  # let the server accept them all
    server = bot.runtime.http.server
    assert len(server.server_state.connections) <= 20
    # The bot keeps talking to Telegram.
    replies = await Chat(telegram, bot, CLUB_USER_FR).say("/start")
    assert "adresse de la plateforme" in replies[-1]["text"]
    for _, writer in held:
        writer.close()


async def test_the_telegram_webhook_takes_no_update_while_the_bot_polls(bot, telegram):
    """Served while polling (SPEC §6) and checked as in webhook mode, but an accepted call is a
    409 Conflict: a forged update with a high update_id must not move the getUpdates offset
    past updates not fetched yet."""
    url = bot.runtime.http.url + "/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": bot.services.settings.telegram_secret_token}
    forged = {
        "update_id": 10**12,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": CLUB_USER_FR, "type": "private"},
            "text": "/start",
        },
    }
    offset = bot.runtime.app.ledger.offset()
    async with httpx.AsyncClient() as client:
        refused = await client.post(url, json=forged)
        conflict = await client.post(url, json=forged, headers=headers)
    assert refused.status_code == 403
    assert conflict.status_code == 409
    assert conflict.json() == {"ok": False, "error": POLLING_CONFLICT}
    assert bot.runtime.app.ledger.offset() == offset
    replies = await Chat(telegram, bot, CLUB_USER_FR).say("/start")
    assert "adresse de la plateforme" in replies[-1]["text"]


@pytest.mark.parametrize("secret", ["x", "short-secret", "a" * 31])
def test_a_weak_webhook_secret_stops_start_up(tmp_path, secret):
    with pytest.raises(SettingsError) as error:
        load_settings({"OFBOT_TELEGRAM_SECRET_TOKEN": secret}, env_file=tmp_path / "none")
    assert error.value.name == "OFBOT_TELEGRAM_SECRET_TOKEN"
    env = {
        "PATH": "",
        "HOME": str(tmp_path),
        "OFBOT_DB": str(tmp_path / "x.db"),
        "OFBOT_TELEGRAM_TOKEN": "123456:" + "A" * 35,
        "OFBOT_TELEGRAM_SECRET_TOKEN": secret,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "OFBOT_TELEGRAM_SECRET_TOKEN" in result.stderr
