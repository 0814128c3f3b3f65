"""Serving a `FakeTelegram` on loopback: `start_fake_telegram` and its running server.

Its `stop()` closes the fake first (long polls, event streams, webhooks), so it cannot hang."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from bot.sandbox.serve import RunningServer, start_server
from bot.sandbox.telegram.fake import FakeTelegram


class FakeTelegramServer(RunningServer):
    """The running server of a FakeTelegram: `stop()` closes the fake first so it cannot hang."""

    def __init__(self, fake: FakeTelegram, running: RunningServer) -> None:
        super().__init__(running.server, running.task, running.host, running.port)
        self.fake = fake

    async def stop(self) -> None:
        await self.fake.close()
        await super().stop()


async def start_fake_telegram(
    *, host: str = "127.0.0.1", port: int = 0, **kwargs: Any
) -> tuple[FakeTelegram, RunningServer]:
    """A FakeTelegram served on a loopback port; `kwargs` go to its constructor."""
    fake = FakeTelegram(**kwargs)
    running = await start_server(fake.app, host, port)
    _no_delay(running)
    fake.url = running.url
    return fake, FakeTelegramServer(fake, running)


def _no_delay(running: RunningServer) -> None:
    """Without TCP_NODELAY each small answer waits ~40 ms for a delayed ACK (Nagle). asyncio only
    sets it on sockets created with proto=IPPROTO_TCP; accepted sockets inherit the listener's."""
    for server in getattr(running.server, "servers", []):
        for sock in server.sockets:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
