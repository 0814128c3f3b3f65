"""The error handler: an unexpected failure gives the user a short apology in their language,
tells the staff group with the same reference, and logs the traceback."""

from __future__ import annotations

import logging
import re

from tests.conftest import STAFF_CHAT


async def test_failure_apologises_and_alerts_staff(chat_en, telegram, monkeypatch, caplog):
    import handlers.club.identify as identify

    async def broken(db, text):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(identify, "identify_club", broken)
    await chat_en.say("/start")
    with caplog.at_level(logging.ERROR):
        replies = await chat_en.say("mermoz")
    apology = replies[-1]["text"]
    assert apology.startswith("Sorry, something went wrong")
    reference = re.search(r"reference: ([0-9A-F]{8})", apology).group(1)
    alert = telegram.bot_messages(STAFF_CHAT)[-1]["text"]
    assert reference in alert and "RuntimeError" in alert
    assert "database on fire" not in alert  # details stay in the log
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)
    # The conversation is still usable afterwards.
    monkeypatch.undo()
    replies = await chat_en.say("mermoz")
    assert "Aéroclub Jean Mermoz" in replies[-1]["text"]
