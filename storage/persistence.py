"""python-telegram-bot persistence on the bot's SQLite database (JSON rows, not a pickle file).

Each change is one small upsert of the row that changed, so the cost per update does not grow with
the number of stored conversations, and a `kill -9` loses nothing already handled."""

from __future__ import annotations

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

    async def get_user_data(self) -> dict[int, dict]:
        rows = await self.db.fetchall("SELECT user_id, data FROM ptb_user_data")
        return {row["user_id"]: json.loads(row["data"]) for row in rows}

    async def get_chat_data(self) -> dict[int, dict]:
        rows = await self.db.fetchall("SELECT chat_id, data FROM ptb_chat_data")
        return {row["chat_id"]: json.loads(row["data"]) for row in rows}

    async def get_bot_data(self) -> dict:
        return {}

    async def get_callback_data(self) -> CDCData | None:
        return None

    async def get_conversations(self, name: str) -> ConversationDict:
        rows = await self.db.fetchall(
            "SELECT key, state FROM ptb_conversations WHERE name = ?", (name,)
        )
        return {tuple(json.loads(row["key"])): json.loads(row["state"]) for row in rows}

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        if new_state is None:
            await self.db.execute(
                "DELETE FROM ptb_conversations WHERE name = ? AND key = ?", (name, _dump(key))
            )
        else:
            await self.db.execute(
                "INSERT INTO ptb_conversations (name, key, state) VALUES (?, ?, ?)"
                " ON CONFLICT (name, key) DO UPDATE SET state = excluded.state",
                (name, _dump(key), _dump(new_state)),
            )

    async def update_user_data(self, user_id: int, data: dict) -> None:
        await self.db.execute(
            "INSERT INTO ptb_user_data (user_id, data) VALUES (?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET data = excluded.data",
            (user_id, _dump(data)),
        )

    async def update_chat_data(self, chat_id: int, data: dict) -> None:
        await self.db.execute(
            "INSERT INTO ptb_chat_data (chat_id, data) VALUES (?, ?)"
            " ON CONFLICT (chat_id) DO UPDATE SET data = excluded.data",
            (chat_id, _dump(data)),
        )

    async def update_bot_data(self, data: dict) -> None:
        return None

    async def update_callback_data(self, data: CDCData) -> None:
        return None

    async def drop_chat_data(self, chat_id: int) -> None:
        await self.db.execute("DELETE FROM ptb_chat_data WHERE chat_id = ?", (chat_id,))

    async def drop_user_data(self, user_id: int) -> None:
        await self.db.execute("DELETE FROM ptb_user_data WHERE user_id = ?", (user_id,))

    async def drop_conversations_of(self, chat_id: int) -> None:
        """Forget every conversation state keyed by this chat (used by /forget)."""
        await self.db.execute(
            "DELETE FROM ptb_conversations WHERE json_extract(key, '$[0]') = ?", (chat_id,)
        )

    async def refresh_user_data(self, user_id: int, user_data: dict) -> None:
        return None

    async def refresh_chat_data(self, chat_id: int, chat_data: dict) -> None:
        return None

    async def refresh_bot_data(self, bot_data: dict) -> None:
        return None

    async def flush(self) -> None:
        return None
