"""`ofbot doctor [--webhook]` (SPEC §6): prints one line per check of bot/doctor/ and exits 1
when any check is an error."""

from __future__ import annotations


async def doctor(settings, args) -> int:
    """`--webhook`: the bot runs with `ofbot run --webhook` (the webhook must be set)."""
    from bot.doctor import Doctor, report

    text, status = report(await Doctor(settings, webhook=args.webhook).run())
    print(text)
    return status
