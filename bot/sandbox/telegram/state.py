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
    # groups: the bot's ChatMember status and rights (set_bot_member), as getChatMember gives them
    bot_member: dict = dataclasses.field(default_factory=lambda: {"status": "member"})
    started: bool = True  # private chats: the user has opened the conversation
    topics: dict[int, _Topic] = dataclasses.field(default_factory=dict)  # forums: by thread id
    migrated_to: int | None = None  # basic groups upgraded to a supergroup: its id


@dataclasses.dataclass
class _Topic:
    """A forum topic; its thread id is the id of its creation service message."""

    thread_id: int
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None = None
    closed: bool = False

    def as_forum_topic(self) -> dict:
        """The Bot API's ForumTopic object."""
        topic = {"message_thread_id": self.thread_id, "name": self.name}
        topic["icon_color"] = self.icon_color
        if self.icon_custom_emoji_id:
            topic["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return topic

    def as_dict(self) -> dict:
        return {**self.as_forum_topic(), "is_closed": self.closed}


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
