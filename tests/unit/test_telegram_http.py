"""The Bot API transport on aiohttp (bot/telegram_http.py) against the sandbox Bot API over
loopback: answers, uploads, downloads, Telegram's errors and transport failures as PTB's errors."""

from __future__ import annotations

import asyncio
import socket

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from bot.telegram_http import AiohttpRequest
from tests.unit.test_sandbox_telegram import JEANNE, TOKEN, Sandbox, sandbox


@pytest.fixture
async def tg():
    async with sandbox() as s:
        yield s


def bot_on(tg: Sandbox, **options) -> Bot:
    return Bot(
        TOKEN,
        base_url=f"{tg.url}/bot",
        base_file_url=f"{tg.url}/file/bot",
        request=AiohttpRequest(**options),
    )


async def test_messages_keyboards_and_telegram_refusals(tg: Sandbox):
    async with bot_on(tg) as bot:
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Renouveler", callback_data="r:1")]])
        sent = await bot.send_message(
            JEANNE, "<b>Bonjour</b> &amp; bienvenue", "HTML", reply_markup=markup
        )
        assert sent.text == "Bonjour & bienvenue" and sent.entities[0].type == "bold"
        stored = tg.fake.last_bot_message(JEANNE)
        assert stored["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "r:1"
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(JEANNE, "<b>unclosed", "HTML")
        with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
            await bot.edit_message_text("x", JEANNE, 999_999)


async def test_binary_upload_and_download(tg: Sandbox):
    data = b"%PDF-1.4\r\n\x00\xff binary\r\n--boundary-looking line\r\n"
    async with bot_on(tg) as bot:
        sent = await bot.send_document(
            JEANNE, InputFile(data, filename="facture-été.pdf"), caption="Facture"
        )
        assert sent.document.file_name == "facture-été.pdf"
        assert tg.fake.document_bytes(tg.fake.last_bot_message(JEANNE)) == data
        got = await bot.get_file(sent.document.file_id)
        assert bytes(await got.download_as_bytearray()) == data


async def test_server_errors_rate_limits_and_timeouts(tg: Sandbox):
    async with bot_on(tg, read_timeout=0.2) as bot:
        tg.fake.inject_fault("sendMessage", "500", 1)
        with pytest.raises(NetworkError, match=r"(?i)internal server error"):
            await bot.send_message(JEANNE, "x")
        tg.fake.inject_fault("sendMessage", "429", 1)
        with pytest.raises(RetryAfter):
            await bot.send_message(JEANNE, "x")
        tg.fake.inject_fault("sendMessage", "timeout", 1, delay=0.6)
        with pytest.raises(TimedOut):
            await bot.send_message(JEANNE, "slow")
        await tg.fake.wait_for_bot_message(JEANNE, contains="slow")  # carried out late, once
        await bot.send_message(JEANNE, "works again")
        texts = [m["text"] for m in tg.fake.messages(JEANNE)]
        assert texts == ["slow", "works again"]


async def test_nothing_listening_is_a_network_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=AiohttpRequest())
    with pytest.raises(NetworkError) as caught:
        async with bot:  # initialize() asks getMe
            pass
    assert not isinstance(caught.value, TimedOut)
    assert "ClientConnectorError" in str(caught.value)


async def test_one_pooled_connection_serves_concurrent_requests_in_turn(tg: Sandbox):
    async with bot_on(tg, pool_size=1) as bot:  # 5: the sandbox's burst for one chat
        await asyncio.gather(*(bot.send_message(JEANNE, f"m{n}") for n in range(5)))
    assert sorted(m["text"] for m in tg.fake.messages(JEANNE)) == [f"m{n}" for n in range(5)]


async def test_requests_need_initialize_and_stop_after_shutdown():
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/", "POST")
    await request.initialize()
    await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/", "POST")


async def test_a_kept_alive_connection_the_server_closed_is_retried_only_when_idempotent():
    # The server answers the first request on a connection, then closes that connection when
    # the next request arrives, unread (an idle timeout racing the client): that request never
    # reached it. getMe is sent again on a new connection; sendMessage is not (it may have
    # reached a real server): its caller records it and tries later.
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = 0
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            if answered:
                writer.close()  # closed without reading it: the request was never processed
                return
            seen.append(head.split(b" ")[1])
            body = b'{"ok":true,"result":{"id":1,"is_bot":true,"first_name":"B","username":"b"}}'
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: keep-alive\r\n\r\n"
                + body
            )
            await writer.drain()
            answered += 1

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    request = AiohttpRequest()
    await request.initialize()
    url = f"http://127.0.0.1:{port}/bot{TOKEN}"
    try:
        await request.do_request(f"{url}/getMe", "POST")
        status, _ = await request.do_request(f"{url}/getMe", "POST")  # retried on a new one
        assert status == 200 and len(seen) == 2
        with pytest.raises(NetworkError):
            await request.do_request(f"{url}/sendMessage", "POST")  # never sent twice
        assert len(seen) == 2
    finally:
        await request.shutdown()
        server.close()
        await server.wait_closed()
