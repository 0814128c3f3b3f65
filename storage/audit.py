"""The audit trail: who did what, when, to which record, with before and after as JSON.

Rows are written inside the transaction of the change they describe, so neither exists alone."""

from __future__ import annotations

import json

from storage.db import Connection, Database


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


async def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    club_id: int | None = None,
    target: str | None = None,
    before: object = None,
    after: object = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit (actor, action, club_id, target, before_json, after_json)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (actor, action, club_id, target, _json(before), _json(after)),
    )


async def for_club(db: Database, club_id: int, limit: int = 50) -> list[dict]:
    rows = await db.fetchall(
        "SELECT * FROM audit WHERE club_id = ? ORDER BY id DESC LIMIT ?", (club_id, limit)
    )
    return [
        {
            "at": row["at"],
            "actor": row["actor"],
            "action": row["action"],
            "target": row["target"],
            "before": json.loads(row["before_json"]) if row["before_json"] else None,
            "after": json.loads(row["after_json"]) if row["after_json"] else None,
        }
        for row in rows
    ]


async def exists(db: Database, *, action: str, club_id: int | None, target: str | None) -> bool:
    """Whether the trail already holds this action on this record (a notice sent once)."""
    row = await db.fetchval(
        "SELECT 1 FROM audit WHERE action = ? AND club_id IS ? AND target IS ? LIMIT 1",
        (action, club_id, target),
    )
    return row is not None


async def latest(db: Database, action: str, target: str) -> dict | None:
    """The most recent entry of `action` on `target`: {"at", "actor", "after"}, or None."""
    row = await db.fetchone(
        "SELECT at, actor, after_json FROM audit WHERE action = ? AND target = ?"
        " ORDER BY id DESC LIMIT 1",
        (action, target),
    )
    if row is None:
        return None
    after = json.loads(row["after_json"]) if row["after_json"] else None
    return {"at": row["at"], "actor": row["actor"], "after": after}


# What an audit row's JSON may say about the person behind a chat.
PERSONAL_FIELDS = ("$.chat_id", "$.user_id", "$.requester", "$.new_email", "$.display_name")


async def forget_chat(conn: Connection, chat_id: int) -> None:
    """/forget: the audit keeps what happened and when, not who: the chat's own rows name
    'chat:forgotten', and the person's fields leave every row that mentions the chat."""
    me = f"chat:{chat_id}"
    paths = ", ".join(f"'{p}'" for p in PERSONAL_FIELDS)
    scrub = "CASE WHEN json_valid({col}) THEN json_remove({col}, " + paths + ") ELSE {col} END"
    await conn.execute(
        "UPDATE audit SET"
        f" after_json = {scrub.format(col='after_json')},"
        f" before_json = {scrub.format(col='before_json')}"
        " WHERE actor = ? OR target = ? OR instr(coalesce(after_json, ''), ?) > 0"
        " OR instr(coalesce(before_json, ''), ?) > 0",
        (me, me, str(chat_id), str(chat_id)),
    )
    await conn.execute("UPDATE audit SET actor = 'chat:forgotten' WHERE actor = ?", (me,))
    await conn.execute("UPDATE audit SET target = 'chat:forgotten' WHERE target = ?", (me,))
