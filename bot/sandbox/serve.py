"""Run an ASGI app with uvicorn on a loopback port inside the current event loop.

Shared by the sandbox stand-ins and the tests: port 0 picks a free port, the bound URL is returned."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the process owner decides how to stop."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class RunningServer:
    """A uvicorn server started in this loop; `url` is its base address without trailing slash."""

    def __init__(self, server: uvicorn.Server, task: asyncio.Task, host: str, port: int) -> None:
        self.server = server
        self.task = task
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def start_server(
    app, host: str = "127.0.0.1", port: int = 0, **config: object
) -> RunningServer:
    """Bind first (so port 0 resolves), then serve `app` until `stop()`. `config`: more
    `uvicorn.Config` options (the bot's server passes its limits, bot/http.py: SERVER_LIMITS)."""
    # proto=IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted connections; with proto 0 small
    # replies wait for a delayed ACK (~40 ms each).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(int(config.get("backlog", 128)))
    sock.setblocking(False)
    bound_port = sock.getsockname()[1]
    # log_config=None: uvicorn keeps its hands off logging, so its lines (tracebacks included)
    # reach the root logger's redacting handler (bot/logs.py).
    options = {
        "log_level": "warning",
        "access_log": False,
        "lifespan": "off",
        "log_config": None,
        **config,
    }
    server = _QuietServer(uvicorn.Config(app, **options))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # re-raise the start-up error
        await asyncio.sleep(0.005)
    return RunningServer(server, task, host, bound_port)


@contextlib.asynccontextmanager
async def serving(app, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[RunningServer]:
    running = await start_server(app, host, port)
    try:
        yield running
    finally:
        await running.stop()
