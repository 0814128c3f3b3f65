"""Case 9 of issue 12: every e-mail form is masked, and every log line of the process passes the
redactor, uvicorn's "Exception in ASGI application" tracebacks included."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.logs import redact

FORMS = [
    ("jean@exämple.fr", ["jean", "exämple"]),
    ("président@aéroclub.fr", ["président", "aéroclub"]),
    ('"jean dupont"@club.fr', ["jean dupont", "club.fr"]),
    ('"a\\"b"@club.fr', ['a\\"b', "club.fr"]),
    ("jean@[192.168.1.20]", ["jean", "192.168"]),
    ("admin@[IPv6:2001:db8::1]", ["admin", "2001:db8"]),
    ("zoë.martin@club.fr", ["zoë", "martin"]),
    ("chef.pilote+renouvellement@mermoz.example.fr", ["chef.pilote", "mermoz"]),
    ("JEAN@XN--EXMPLE-CUA.FR", ["JEAN", "XN--EXMPLE"]),
    ("https://x.example/?email=jean.dupont%40club.fr&a=1", ["jean.dupont", "club.fr"]),
]


@pytest.mark.parametrize(("address", "parts"), FORMS)
def test_every_address_form_is_masked(address, parts):
    for line in (address, f"mail to {address} failed", f"<{address}>", f"to: {address}."):
        out = redact(line, [])
        assert "•••" in out, out
        for part in parts:
            assert part not in out, out


def test_uvicorn_tracebacks_pass_the_redactor(tmp_path):
    """The bot's process: logging configured as `ofbot run` does, a server started as the bot's
    is, and an exception in a request handler that carries addresses."""
    script = textwrap.dedent(
        """
        import asyncio, httpx
        from starlette.applications import Starlette
        from starlette.routing import Route
        from bot.logs import configure_logging
        from bot.sandbox.serve import start_server

        configure_logging(["s3cr3t-token-value"])

        async def boom(request):
            raise ValueError("jean@exämple.fr président@aéroclub.fr s3cr3t-token-value")

        async def main():
            server = await start_server(Starlette(routes=[Route("/", boom)]))
            async with httpx.AsyncClient() as client:
                await client.get(server.url + "/")
            await server.stop()

        asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    output = result.stdout + result.stderr
    assert "ValueError" in output, output  # the traceback is logged…
    for raw in ("jean@", "exämple", "président", "aéroclub", "s3cr3t-token-value"):
        assert raw not in output, output  # …masked
