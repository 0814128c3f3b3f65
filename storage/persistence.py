"""python-telegram-bot persistence on the bot's SQLite database (JSON rows, not a pickle file).

Each change is one small upsert of the row that changed, so the cost per update does not grow with
the number of stored conversations, and a `kill -9` loses nothing already handled. The writes of
one `Application.update_persistence()` run share one transaction, and a row whose JSON did not
change since it was last read or written is not written again (bench/README.md has the figures)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from telegram.ext import BasePersistence, PersistenceInput
from telegram.ext._utils.types import CDCData, ConversationDict, ConversationKey

from storage.db import Database


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class SQLitePersistence(BasePersistence[dict, dict, dict]):
    """Stores user_data, chat_data and conversation states; bot_data holds live services only."""

    def __init__(self, db: Database, update_interval: float = 60) -> None:
        super().__init__(
            store_data=PersistenceInput(bot_data=False, callback_data=False),
            update_interval=update_interval,
        )
        self.db = db
        # (table, key) → (sql, params, stored JSON) waiting for the next commit.
        self._pending: dict[tuple, tuple[str, tuple, str | None]] = {}
        self._commit: asyncio.Future | None = None
        # (table, key) → the JSON this process last wrote, so unchanged data is not written again
        # (rows read at start-up are not remembered: their first write after it is not skipped).
        self._stored: dict[tuple, str] = {}

    async def _write(self, slot: tuple, sql: str, params: tuple, stored: str | None) -> None:
        """Queue one row change and wait until the transaction carrying it has committed.

        PTB gathers the writes of one update (conversation, user_data, chat_data) concurrently;
        the first schedules the commit, the others join it before it starts."""
        if stored is not None and self._stored.get(slot) == stored and slot not in self._pending:
            return
        self._pending[slot] = (sql, params, stored)
        if self._commit is None:
            self._commit = asyncio.ensure_future(self._commit_pending())
        await asyncio.shield(self._commit)

    async def _commit_pending(self) -> None:
        await asyncio.sleep(0)  # let the other writes of this run join
        batch, self._pending, self._commit = self._pending, {}, None
        async with self.db.transaction() as conn:
            for sql, params, _ in batch.values():
                await conn.execute(sql, params)
        for slot, (_, _, stored) in batch.items():
            if stored is None:
                self._stored.pop(slot, None)
            else:
                self._stored[slot] = stored

    async def _load(self, sql: str, params: tuple = ()) -> list:
        """All rows as one JSON array built by SQLite: one json.loads instead of one per row."""
        return json.loads(await self.db.fetchval(sql, params) or "[]")

    async def get_user_data(self) -> dict[int, dict]:
        rows = await self._load(
            "SELECT json_group_array(json_array(user_id, json(data))) FROM ptb_user_data"
        )
        return dict(rows)

    async def get_chat_data(self) -> dict[int, dict]:
        rows = await self._load(
            "SELECT json_group_array(json_array(chat_id, json(data))) FROM ptb_chat_data"
        )
        return dict(rows)

    async def get_bot_data(self) -> dict:
        return {}

    async def get_callback_data(self) -> CDCData | None:
        return None

    async def get_conversations(self, name: str) -> ConversationDict:
        rows = await self._load(
            "SELECT json_group_array(json_array(json(key), json(state)))"
            " FROM ptb_conversations WHERE name = ?",
            (name,),
        )
        return {tuple(key): state for key, state in rows}

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        dumped_key = _dump(key)
        slot = ("conversation", name, dumped_key)
        if new_state is None:
            sql = "DELETE FROM ptb_conversations WHERE name = ? AND key = ?"
            await self._write(slot, sql, (name, dumped_key), None)
        else:
            state = _dump(new_state)
            sql = (
                "INSERT INTO ptb_conversations (name, key, state) VALUES (?, ?, ?)"
                " ON CONFLICT (name, key) DO UPDATE SET state = excluded.state"
            )
            await self._write(slot, sql, (name, dumped_key, state), state)

    async def update_user_data(self, user_id: int, data: dict) -> None:
        if not data:
            # An empty mapping is what PTB gives an id it holds nothing for: no row at all, so a
            # person dropped by /forget is not written back as an empty row by a later update.
            await self.drop_user_data(user_id)
            return
        dumped = _dump(data)
        sql = (
            "INSERT INTO ptb_user_data (user_id, data) VALUES (?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET data = excluded.data"
        )
        await self._write(("user", user_id), sql, (user_id, dumped), dumped)

    async def update_chat_data(self, chat_id: int, data: dict) -> None:
        if not data:
            await self.drop_chat_data(chat_id)
            return
        dumped = _dump(data)
        sql = (
            "INSERT INTO ptb_chat_data (chat_id, data) VALUES (?, ?)"
            " ON CONFLICT (chat_id) DO UPDATE SET data = excluded.data"
        )
        await self._write(("chat", chat_id), sql, (chat_id, dumped), dumped)

    async def update_bot_data(self, data: dict) -> None:
        return None

    async def update_callback_data(self, data: CDCData) -> None:
        return None

    async def drop_chat_data(self, chat_id: int) -> None:
        sql = "DELETE FROM ptb_chat_data WHERE chat_id = ?"
        await self._write(("chat", chat_id), sql, (chat_id,), None)

    async def drop_user_data(self, user_id: int) -> None:
        sql = "DELETE FROM ptb_user_data WHERE user_id = ?"
        await self._write(("user", user_id), sql, (user_id,), None)

    async def refresh_user_data(self, user_id: int, user_data: dict) -> None:
        return None

    async def refresh_chat_data(self, chat_id: int, chat_data: dict) -> None:
        return None

    async def refresh_bot_data(self, bot_data: dict) -> None:
        return None

    async def flush(self) -> None:
        return None
