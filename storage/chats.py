"""Chats Telegram moved: a group upgraded to a supergroup changes its id (`chat_migrations`); the
newest message another `ofbot` process sent in a private chat (`chat_notices`).

Only ids are kept; the staff group is followed from one to the next."""

from __future__ import annotations

from storage.db import Connection, Database


async def record_migration(db: Database, old_chat_id: int, new_chat_id: int) -> None:
    await db.execute(
        "INSERT INTO chat_migrations (old_chat_id, new_chat_id) VALUES (?, ?)"
        " ON CONFLICT (old_chat_id) DO UPDATE SET new_chat_id = excluded.new_chat_id",
        (old_chat_id, new_chat_id),
    )


async def current_id(db: Database, chat_id: int) -> int:
    """The id `chat_id` has now, following every recorded migration (a chain stops at a loop)."""
    seen = {chat_id}
    while True:
        new = await db.fetchval(
            "SELECT new_chat_id FROM chat_migrations WHERE old_chat_id = ?", (chat_id,)
        )
        if new is None or new in seen:
            return chat_id
        seen.add(new)
        chat_id = new


async def record_notice(db: Database, chat_id: int, message_id: int) -> None:
    """Remember `message_id` as the newest message sent in `chat_id` by a command (ids only grow
    within a chat: an older one never replaces a newer one)."""
    await db.execute(
        "INSERT INTO chat_notices (chat_id, message_id) VALUES (?, ?)"
        " ON CONFLICT (chat_id) DO UPDATE SET message_id = max(message_id, excluded.message_id)",
        (chat_id, message_id),
    )


async def last_notice(db: Database, chat_id: int) -> int | None:
    return await db.fetchval("SELECT message_id FROM chat_notices WHERE chat_id = ?", (chat_id,))


async def forget_notices(conn: Connection, chat_id: int) -> None:
    await conn.execute("DELETE FROM chat_notices WHERE chat_id = ?", (chat_id,))
