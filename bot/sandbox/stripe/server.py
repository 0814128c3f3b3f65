"""Serving a `FakeStripe` on loopback: `start_fake_stripe` and its running server.

Its `stop()` closes the fake first (delivery worker, retries, expiry sweep), so it cannot hang."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from bot.sandbox.serve import RunningServer, start_server
from bot.sandbox.stripe.fake import FakeStripe


class FakeStripeServer(RunningServer):
    """The running server of a FakeStripe: `stop()` closes the fake first so it cannot hang."""

    def __init__(self, fake: FakeStripe, running: RunningServer) -> None:
        super().__init__(running.server, running.task, running.host, running.port)
        self.fake = fake

    async def stop(self) -> None:
        await self.fake.close()
        await super().stop()


async def start_fake_stripe(
    *, host: str = "127.0.0.1", port: int = 0, **kwargs: Any
) -> tuple[FakeStripe, RunningServer]:
    """A FakeStripe served on a loopback port, its `base_url` set; `kwargs` go to FakeStripe."""
    fake = FakeStripe(**kwargs)
    running = await start_server(fake.app, host, port)
    for server in getattr(running.server, "servers", []):
        for sock in server.sockets:
            # Without TCP_NODELAY each small answer waits for a delayed ACK.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if fake.base_url is None:
        fake.base_url = running.url
    fake._ensure_background()
    return fake, FakeStripeServer(fake, running)
