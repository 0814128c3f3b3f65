"""bot/notify.py's classification of a failed send, over the transport the bot really uses
(bot/telegram_http.py on aiohttp) against a loopback server that fails in each way: refused,
reset, no connection before the timeout, no answer after the request went out, 5xx."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket

import pytest
from telegram import Bot

from bot import notify
from bot.telegram_http import AiohttpRequest

TOKEN = "123456:TEST-notify"


class FlakyApi:
    """A raw HTTP/1.1 server: getMe answers; sendMessage does `mode`."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sends = 0
        self.server: asyncio.Server | None = None
        self.port = 0
        self.hanging: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for writer in self.hanging:
            writer.close()
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                path = head.split(b" ")[1].decode()
                if path.endswith("/getMe"):
                    body = {
                        "ok": True,
                        "result": {"id": 1, "is_bot": True, "first_name": "b", "username": "b_bot"},
                    }
                    self.answer(writer, 200, body)
                    continue
                self.sends += 1
                if self.mode == "reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                    writer.transport.abort()
                    return
                if self.mode == "hang":
                    self.hanging.append(writer)
                    await asyncio.sleep(30)
                    return
                if self.mode == "5xx":
                    self.answer(
                        writer,
                        500,
                        {"ok": False, "error_code": 500, "description": "Internal Server Error"},
                    )
                    continue
                body = {
                    "ok": True,
                    "result": {
                        "message_id": 7,
                        "date": 0,
                        "chat": {"id": 5, "type": "private"},
                        "text": "x",
                    },
                }
                self.answer(writer, 200, body)
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    @staticmethod
    def answer(writer: asyncio.StreamWriter, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_bot(port: int, **timeouts) -> Bot:
    request = AiohttpRequest(
        pool_size=timeouts.pop("pool_size", 4),
        connect_timeout=timeouts.pop("connect_timeout", 2),
        read_timeout=timeouts.pop("read_timeout", 2),
        write_timeout=2,
        pool_timeout=timeouts.pop("pool_timeout", 2),
    )
    return Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)


async def send(bot: Bot) -> tuple[str, int | None, str | None, int]:
    async def pace() -> None:
        return None

    return await notify.send_with_retries(
        bot,
        5,
        "hello",
        None,
        pace=pace,
        max_attempts=3,
        max_rate_waits=1,
        backoff=0.01,
        read_timeout=0.5,
    )


async def test_a_refused_connection_never_reached_telegram_and_is_retried():
    bot = make_bot(free_port())
    await bot.request.initialize()
    try:
        status, _, _, attempts = await send(bot)
    finally:
        await bot.request.shutdown()
    assert (status, attempts) == ("failed", 3)  # was "unknown" after one try: never sent again


async def test_no_connection_within_the_pool_timeout_is_retried():
    api = FlakyApi("hang")
    await api.start()
    bot = make_bot(api.port, pool_size=1, pool_timeout=0.2, connect_timeout=0.2)
    await bot.request.initialize()
    try:
        busy = asyncio.create_task(bot.send_message(5, "holds the only connection", read_timeout=5))
        while not api.sends:
            await asyncio.sleep(0.01)
        status, _, _, attempts = await send(bot)
        busy.cancel()
        with contextlib.suppress(BaseException):
            await busy
    finally:
        await bot.request.shutdown()
        await api.stop()
    assert (status, attempts) == ("failed", 3)
    assert api.sends == 1  # only the first request ever reached the server


@pytest.mark.parametrize("mode", ["reset", "hang"])
async def test_a_reset_or_a_silence_after_sending_may_have_been_delivered(mode):
    api = FlakyApi(mode)
    await api.start()
    bot = make_bot(api.port)
    await bot.request.initialize()
    try:
        status, _, error, attempts = await send(bot)
    finally:
        await bot.request.shutdown()
        await api.stop()
    assert (status, attempts, api.sends) == ("unknown", 1, 1)  # never sent twice
    assert "may have been delivered" in error


async def test_a_5xx_answer_was_not_carried_out_and_is_retried():
    api = FlakyApi("5xx")
    await api.start()
    bot = make_bot(api.port)
    await bot.request.initialize()
    try:
        status, _, _, attempts = await send(bot)
    finally:
        await bot.request.shutdown()
        await api.stop()
    assert (status, attempts, api.sends) == ("failed", 3, 3)


async def test_a_send_that_goes_through():
    api = FlakyApi("ok")
    await api.start()
    bot = make_bot(api.port)
    await bot.request.initialize()
    try:
        assert await send(bot) == ("sent", 7, None, 1)
    finally:
        await bot.request.shutdown()
        await api.stop()
