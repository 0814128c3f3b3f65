"""The staff group's forum topics: which topic (message_thread_id) stands for which club, in which
staff chat, the name it was last given (so a rename happens only when the state changes), and
whether staff closed it (so the bot reopens it on the club's next event)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database


@dataclass(frozen=True)
class StaffTopic:
    staff_chat_id: int
    club_id: int
    thread_id: int
    name: str
    closed: bool = False


async def get(db: Database, staff_chat_id: int, club_id: int) -> StaffTopic | None:
    row = await db.fetchone(
        "SELECT staff_chat_id, club_id, thread_id, name, closed FROM staff_topics"
        " WHERE staff_chat_id = ? AND club_id = ?",
        (staff_chat_id, club_id),
    )
    return StaffTopic(*row[:4], bool(row[4])) if row else None


async def club_of(db: Database, staff_chat_id: int, thread_id: int) -> int | None:
    """The club whose topic this is, if any."""
    return await db.fetchval(
        "SELECT club_id FROM staff_topics WHERE staff_chat_id = ? AND thread_id = ?",
        (staff_chat_id, thread_id),
    )


async def save(db: Database, topic: StaffTopic) -> None:
    """Store the club's topic, replacing a deleted or closed one."""
    async with db.transaction() as conn:
        await conn.execute(
            "DELETE FROM staff_topics WHERE staff_chat_id = ? AND thread_id = ?",
            (topic.staff_chat_id, topic.thread_id),
        )
        await conn.execute(
            "INSERT INTO staff_topics (staff_chat_id, club_id, thread_id, name) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (staff_chat_id, club_id) DO UPDATE SET thread_id = excluded.thread_id,"
            " name = excluded.name, closed = 0,"
            " created_at = strftime('%Y-%m-%dT%H:%M:%SZ','now')",
            (topic.staff_chat_id, topic.club_id, topic.thread_id, topic.name),
        )


async def rename(db: Database, staff_chat_id: int, club_id: int, name: str) -> None:
    await db.execute(
        "UPDATE staff_topics SET name = ? WHERE staff_chat_id = ? AND club_id = ?",
        (name, staff_chat_id, club_id),
    )


async def set_closed(db: Database, staff_chat_id: int, thread_id: int, closed: bool) -> int | None:
    """Record that a topic was closed or reopened; the club it stands for (None: not a club's)."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE staff_topics SET closed = ? WHERE staff_chat_id = ? AND thread_id = ?"
            " RETURNING club_id",
            (int(closed), staff_chat_id, thread_id),
        )
        row = await cursor.fetchone()
    return None if row is None else row[0]


async def forget(db: Database, staff_chat_id: int, club_id: int, thread_id: int) -> None:
    """The topic is gone (deleted, or the group is no longer a forum), or cannot be reopened."""
    await db.execute(
        "DELETE FROM staff_topics WHERE staff_chat_id = ? AND club_id = ? AND thread_id = ?",
        (staff_chat_id, club_id, thread_id),
    )
