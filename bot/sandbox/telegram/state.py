"""What the fake Telegram holds in memory: chats, injected faults, and helpers on stored messages.

Stored messages carry private `_` keys (edit count, reply keyboard); `public` strips them."""

from __future__ import annotations

import asyncio
import copy
import dataclasses

from starlette.requests import Request


@dataclasses.dataclass
class _Chat:
    info: dict
    members: set[int]
    messages: dict[int, dict] = dataclasses.field(default_factory=dict)
    next_id: int = 1
    blocked: bool = False  # private chats: the user blocked the bot
    started: bool = True  # private chats: the user has opened the conversation


@dataclasses.dataclass
class _Fault:
    method: str | None
    kind: str
    remaining: int
    delay: float


def _public(message: dict) -> dict:
    """The Telegram JSON of a stored message: without the sandbox's own `_` keys."""
    return copy.deepcopy({k: v for k, v in message.items() if not k.startswith("_")})


def _contains(message: dict, needle: str | None) -> bool:
    return needle is None or needle in (message.get("text") or message.get("caption") or "")


async def _first(*awaitables) -> None:
    """Wait until the first of the awaitables finishes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _disconnected(request: Request) -> None:
    """Returns when the client went away (a long poll must not outlive its client)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
