"""The update inbox: Telegram updates received and not handled yet, kept so that Telegram's
offset can move past them (bot/updates.py: UpdateLedger); deleted once handled."""

from __future__ import annotations

import json

from storage.db import Connection, Database


class SqliteInbox:
    """`add` many in one transaction, `remove` one, `pending` all (oldest first).

    `remove(update_id, later=True)` defers the delete to the next `add` (the next poll's
    transaction) or until REMOVE_BATCH are waiting: one commit per update saved. A row left by a
    crash meanwhile is handled again at the next start only if its chat's saved handled ids
    (bot/updates.py: HANDLED_KEPT = 16 per chat, more than REMOVE_BATCH) do not show it handled,
    so `later` is only for updates of a chat."""

    REMOVE_BATCH = 8

    def __init__(self, db: Database) -> None:
        self.db = db
        self._removed: list[int] = []

    async def add(self, updates: list[tuple[int, dict]]) -> None:
        removed = list(self._removed)
        async with self.db.transaction() as conn:
            await _delete(conn, removed)
            await conn.executemany(
                "INSERT INTO update_inbox (update_id, payload) VALUES (?, ?)"
                " ON CONFLICT (update_id) DO NOTHING",
                [(update_id, json.dumps(raw)) for update_id, raw in updates],
            )
        # Only once committed: a failed transaction (database locked, disk full) keeps them
        # waiting for the next one instead of leaving their rows for a replay.
        self._forget_removed(removed)

    async def remove(self, update_id: int, *, later: bool = False) -> None:
        self._removed.append(update_id)
        if not later or len(self._removed) >= self.REMOVE_BATCH:
            await self.flush()

    async def flush(self) -> None:
        """Delete the rows of the updates removed `later` (at a stop, or when enough wait).
        Raises what SQLite raises; the ids then still wait."""
        removed = list(self._removed)
        if removed:
            async with self.db.transaction() as conn:
                await _delete(conn, removed)
            self._forget_removed(removed)

    def _forget_removed(self, done: list[int]) -> None:
        done_set = set(done)
        self._removed = [i for i in self._removed if i not in done_set]

    async def pending(self) -> list[dict]:
        rows = await self.db.fetchall("SELECT payload FROM update_inbox ORDER BY update_id")
        return [json.loads(row[0]) for row in rows]


async def _delete(conn: Connection, update_ids: list[int]) -> None:
    if update_ids:
        await conn.executemany(
            "DELETE FROM update_inbox WHERE update_id = ?", [(i,) for i in update_ids]
        )
