"""The update inbox: Telegram updates received and not handled yet, kept so that Telegram's
offset can move past them (bot/updates.py: UpdateLedger); deleted once handled."""

from __future__ import annotations

import json

from storage.db import Database


class SqliteInbox:
    """`add` many in one transaction, `remove` one, `pending` all (oldest first)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, updates: list[tuple[int, dict]]) -> None:
        async with self.db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO update_inbox (update_id, payload) VALUES (?, ?)"
                " ON CONFLICT (update_id) DO NOTHING",
                [(update_id, json.dumps(raw)) for update_id, raw in updates],
            )

    async def remove(self, update_id: int) -> None:
        await self.db.execute("DELETE FROM update_inbox WHERE update_id = ?", (update_id,))

    async def pending(self) -> list[dict]:
        rows = await self.db.fetchall("SELECT payload FROM update_inbox ORDER BY update_id")
        return [json.loads(row[0]) for row in rows]
