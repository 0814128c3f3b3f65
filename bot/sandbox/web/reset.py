"""Resetting the sandbox from its page: the bot back to the sample data with a fresh database and
clock, the mailbox emptied; the stand-ins keep running."""

from __future__ import annotations

from pathlib import Path

from bot.sandbox.web.page import _mailbox


async def reset_sandbox(sandbox) -> None:
    """Back to the sample data: stop the bot, delete its database, seed it again, start a fresh
    bot (its clock back to today) and empty the mailbox. The stand-ins keep running."""
    from bot.clock import Clock
    from bot.runtime import Runtime
    from bot.sandbox.run import align_clocks, seed

    settings = sandbox.settings
    await sandbox.runtime.stop()
    db = Path(settings.db)
    for suffix in ("", "-wal", "-shm", "-journal"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    await seed(settings)
    runtime = Runtime(settings, clock=Clock(settings.tz))
    await runtime.start()
    runtime.services.checkout_return_url = getattr(sandbox, "checkout_return_url", None)
    sandbox.runtime = runtime
    align_clocks(sandbox)
    if getattr(sandbox, "stripe", None) is not None:
        sandbox.stripe.webhook_url = runtime.http.url + "/stripe/webhook"
    _mailbox(sandbox).clear()
