"""The staff group's forum topics: which topic (message_thread_id) stands for which club, in which
staff chat, and the name it was last given (so a rename happens only when the state changes)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database


@dataclass(frozen=True)
class StaffTopic:
    staff_chat_id: int
    club_id: int
    thread_id: int
    name: str


async def get(db: Database, staff_chat_id: int, club_id: int) -> StaffTopic | None:
    row = await db.fetchone(
        "SELECT staff_chat_id, club_id, thread_id, name FROM staff_topics"
        " WHERE staff_chat_id = ? AND club_id = ?",
        (staff_chat_id, club_id),
    )
    return StaffTopic(*row) if row else None


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
            " name = excluded.name, created_at = strftime('%Y-%m-%dT%H:%M:%SZ','now')",
            (topic.staff_chat_id, topic.club_id, topic.thread_id, topic.name),
        )


async def rename(db: Database, staff_chat_id: int, club_id: int, name: str) -> None:
    await db.execute(
        "UPDATE staff_topics SET name = ? WHERE staff_chat_id = ? AND club_id = ?",
        (name, staff_chat_id, club_id),
    )


async def forget(db: Database, staff_chat_id: int, club_id: int, thread_id: int) -> None:
    """The topic is gone (deleted, closed, or the group is no longer a forum)."""
    await db.execute(
        "DELETE FROM staff_topics WHERE staff_chat_id = ? AND club_id = ? AND thread_id = ?",
        (staff_chat_id, club_id, thread_id),
    )
