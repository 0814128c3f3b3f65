"""The update inbox defers the delete of a handled update to the next poll's transaction (one
commit per update saved) and never past SqliteInbox.REMOVE_BATCH waiting rows."""

from __future__ import annotations

from bot.updates import HANDLED_KEPT
from storage.db import open_database
from storage.inbox import SqliteInbox


async def _ids(inbox: SqliteInbox) -> list[int]:
    return [raw["update_id"] for raw in await inbox.pending()]


async def test_a_later_remove_lands_with_the_next_add(tmp_path):
    db = await open_database(tmp_path / "a.db")
    inbox = SqliteInbox(db)
    await inbox.add([(1, {"update_id": 1}), (2, {"update_id": 2})])
    await inbox.remove(1, later=True)
    assert await _ids(inbox) == [1, 2]  # not yet: it waits for the next transaction
    await inbox.add([(3, {"update_id": 3})])
    assert await _ids(inbox) == [2, 3]
    await inbox.remove(2)  # at once (an update without a chat)
    assert await _ids(inbox) == [3]
    await db.close()


async def test_later_removes_never_wait_past_a_batch_and_a_stop_flushes_them(tmp_path):
    # A crash loses at most REMOVE_BATCH - 1 deletes; the chat's saved handled ids, longer than
    # that, recognise every one of them at the next start.
    assert SqliteInbox.REMOVE_BATCH < HANDLED_KEPT
    db = await open_database(tmp_path / "a.db")
    inbox = SqliteInbox(db)
    await inbox.add([(i, {"update_id": i}) for i in range(1, 12)])
    for i in range(1, SqliteInbox.REMOVE_BATCH):
        await inbox.remove(i, later=True)
    assert len(await _ids(inbox)) == 11
    await inbox.remove(SqliteInbox.REMOVE_BATCH, later=True)
    assert await _ids(inbox) == list(range(SqliteInbox.REMOVE_BATCH + 1, 12))
    await inbox.remove(11, later=True)
    await inbox.flush()
    assert await _ids(inbox) == list(range(SqliteInbox.REMOVE_BATCH + 1, 11))
    await db.close()
