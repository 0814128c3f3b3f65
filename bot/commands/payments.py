"""`ofbot payments reconcile`: one reconciliation run against Stripe from the command line, with
the receipts and staff lines sent when a Telegram token is set."""

from __future__ import annotations

from bot.services import Services


async def payments_reconcile(settings, args) -> int:
    """`ofbot payments reconcile`: one run, with receipts sent when a Telegram token is set."""
    from bot.catalogue import load_catalogue
    from bot.clock import Clock
    from bot.mail import Mailer
    from bot.payments import make_stripe_client, reconcile
    from bot.texts import Texts
    from storage.db import open_database

    settings.require("OFBOT_STRIPE_SECRET_KEY")
    catalogue = load_catalogue(settings.catalogue)
    db = await open_database(settings.db)
    client, http = make_stripe_client(settings)
    services = Services(
        settings=settings,
        db=db,
        texts=Texts(),
        clock=Clock(settings.tz),
        mailer=Mailer(settings),
        catalogue=catalogue,
        stripe=client,
    )
    bot = None
    if settings.telegram_token:
        from bot.notices import CommandBot, record_into

        api = settings.telegram_api_url
        bot = CommandBot(
            settings.telegram_token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot"
        )
        record_into(bot, db)  # the running bot learns a receipt came below its messages
    try:
        if bot is not None:
            async with bot:
                summary = await reconcile(services, bot)
        else:
            summary = await reconcile(services, None)
    finally:
        await http.close_async()
        await db.close()
    print(f"reconcile: {summary}")
    return 1 if summary.errors else 0
