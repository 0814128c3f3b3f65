"""The ledger of Telegram updates (bot/updates.py): the getUpdates offset confirms only settled
updates, a resend of one pending or settled is recognised, a webhook call can wait for its update."""

from __future__ import annotations

import asyncio

from bot.updates import CHAT_BACKLOG, UpdateLedger, chat_of, journal


async def test_offset_stays_at_the_oldest_update_not_settled():
    ledger = UpdateLedger()
    assert ledger.offset() is None  # nothing received: PTB's own offset applies
    assert all(ledger.receive(i) for i in (10, 11, 12))
    assert ledger.offset() == 10
    ledger.settle(11)
    ledger.settle(12)
    assert ledger.offset() == 10  # 10 is still being handled: Telegram keeps 10, 11 and 12
    ledger.settle(10)
    assert ledger.offset() == 13  # now all three are confirmed


async def test_a_resend_of_a_pending_or_settled_update_is_not_received_twice():
    ledger = UpdateLedger()
    ledger.receive(10)
    ledger.receive(11)
    ledger.settle(11)
    assert not ledger.receive(10)  # still being handled
    assert not ledger.receive(11)  # handled, but Telegram resends it while 10 holds the offset
    ledger.settle(10)
    assert ledger.receive(12)
    ledger.settle(12)
    assert ledger.offset() == 13


async def test_a_poll_sent_before_the_offset_moved_brings_nothing_back_twice():
    ledger = UpdateLedger()
    ledger.receive(5)
    ledger.receive(6)
    ledger.settle(6)
    ledger.settle(5)
    assert ledger.offset() == 7
    # A getUpdates sent with offset 5 while 5 was in hand answers after both were settled.
    assert not ledger.receive(5)
    assert not ledger.receive(6)
    assert ledger.receive(7)


async def test_settled_resolves_when_the_update_is_settled():
    ledger = UpdateLedger()
    assert ledger.settled(5).done()  # unknown: nothing to wait for
    ledger.receive(5)
    waiting = ledger.settled(5)
    assert not waiting.done()
    ledger.settle(5)
    await asyncio.wait_for(waiting, 1)
    ledger.settle(5)  # twice is harmless


async def test_wait_for_progress_returns_on_a_settle_or_after_its_timeout():
    ledger = UpdateLedger()
    ledger.receive(1)
    ledger.receive(2)
    assert ledger.holding
    since = ledger.generation
    waiter = asyncio.create_task(ledger.wait_for_progress(since, timeout=5))
    await asyncio.sleep(0)
    assert not waiter.done()
    ledger.settle(1)
    await asyncio.wait_for(waiter, 1)
    # A settle that happened before the wait began counts: no waiting at all.
    ledger.settle(2)
    at_once = asyncio.create_task(ledger.wait_for_progress(since + 1, timeout=60))
    await asyncio.sleep(0)
    assert at_once.done()
    assert not ledger.holding
    await ledger.wait_for_progress(ledger.generation, timeout=0.01)  # nothing settles: returns


class _Inbox:
    def __init__(self) -> None:
        self.rows: dict[int, dict] = {}

    async def add(self, updates):
        self.rows.update(dict(updates))

    async def remove(self, update_id):
        self.rows.pop(update_id, None)


async def test_the_offset_moves_past_a_flooding_chat_and_its_updates_are_kept():
    ledger = UpdateLedger()
    inbox = _Inbox()
    flood = [
        {"update_id": i, "message": {"chat": {"id": 1501}, "text": "/help"}} for i in range(1, 101)
    ]
    accepted = [u["update_id"] for u in flood if ledger.receive(u["update_id"], chat_of(u), u)]
    await journal(ledger, inbox)
    assert len(accepted) == CHAT_BACKLOG  # the rest shed
    assert sorted(inbox.rows) == accepted  # kept durably, Telegram may forget them
    assert ledger.offset() == 101  # the next poll reaches other chats' updates
    other = {"update_id": 101, "message": {"chat": {"id": 1001}, "text": "/start"}}
    assert ledger.receive(101, chat_of(other), other)
    await journal(ledger, inbox)
    assert ledger.offset() == 101 and 101 not in inbox.rows  # a normal chat: held as before


async def test_polling_journals_every_update_so_the_offset_moves_at_once():
    """Polling (`journal_all`): every update goes to the inbox before the next getUpdates, so the
    offset moves past it while it is still being handled and long polling stays long (issue 19:
    holding the offset cost ~1.2 getUpdates per update)."""
    ledger = UpdateLedger(journal_all=True)
    for i in (10, 11, 12):
        ledger.receive(i, ("chat", 100 + i), {"update_id": i})
    due = ledger.to_journal()
    assert [i for i, _ in due] == [10, 11, 12]  # one update per chat: all the same
    ledger.journaled([i for i, _ in due])
    assert ledger.offset() == 13 and not ledger.holding
    held = UpdateLedger()  # webhook mode, or before: one update per chat stays in hand
    held.receive(10, ("chat", 1), {"update_id": 10})
    assert held.to_journal() == [] and held.offset() == 10


async def test_a_batch_whose_journal_failed_comes_again_and_is_handled():
    """The inbox write of a poll failed (database locked): PTB drops the batch, so its updates
    must neither stay pending (never handled, holding their chat's backlog) nor be confirmed
    to Telegram by the next offset."""
    ledger = UpdateLedger(journal_all=True)
    assert ledger.receive(7, ("chat", 1), {"update_id": 7})
    ledger.settle(7)
    batch = [{"update_id": i, "message": {"chat": {"id": 1}, "text": "x"}} for i in (8, 9)]
    for raw in batch:
        assert ledger.receive(raw["update_id"], chat_of(raw), raw)
    for raw in batch:
        ledger.unreceive(raw["update_id"])
    assert ledger.offset() == 8  # not 10: Telegram keeps 8 and 9
    assert not ledger.holding and ledger.chat_backlog(("chat", 1)) == 0
    for raw in batch:  # the next poll brings them again: received anew
        assert ledger.receive(raw["update_id"], chat_of(raw), raw)
    assert not ledger.receive(7, ("chat", 1))  # settled before: still recognised


async def test_a_failed_inbox_write_keeps_the_deletes_waiting(tmp_path):
    import sqlite3

    from storage.db import open_database
    from storage.inbox import SqliteInbox

    db = await open_database(tmp_path / "a.db")
    inbox = SqliteInbox(db)
    await inbox.add([(1, {"update_id": 1})])
    await inbox.remove(1, later=True)
    await db.conn.execute("DROP TABLE update_inbox")  # the next write fails
    try:
        await inbox.add([(2, {"update_id": 2})])
    except sqlite3.OperationalError:
        pass
    else:
        raise AssertionError("the write should have failed")
    await db.conn.execute(
        "CREATE TABLE update_inbox (update_id INTEGER PRIMARY KEY, payload TEXT NOT NULL,"
        " received_at TEXT)"
    )
    await db.conn.execute("INSERT INTO update_inbox (update_id, payload) VALUES (1, '{}')")
    await inbox.flush()  # the delete of 1 was not lost with the failed transaction
    assert await inbox.pending() == []
    await db.close()
