"""The staff group follows Telegram when it is upgraded to a supergroup (its id changes; the old
id answers 400 with `migrate_to_chat_id`, and a service message announces it in both chats).

The new id is stored, used at once for every send, and reported in one log line naming
OFBOT_STAFF_CHAT_ID so the operator can update the setting."""

from __future__ import annotations

import dataclasses
import logging

from bot.services import Services
from storage import chats

log = logging.getLogger(__name__)


async def follow_migration(services: Services, old_chat_id: int, new_chat_id: int) -> None:
    """Record that `old_chat_id` is now `new_chat_id`; when it is the staff group, every later
    send goes to the new id (services.settings is replaced, the setting itself is the operator's)."""
    if old_chat_id == new_chat_id:
        return
    await chats.record_migration(services.db, old_chat_id, new_chat_id)
    if services.settings.staff_chat_id == old_chat_id:
        _use(services, old_chat_id, new_chat_id)


async def apply_stored_migrations(services: Services) -> None:
    """At start-up: a staff group that migrated before (recorded) is followed at once."""
    configured = services.settings.staff_chat_id
    if not configured:
        return
    current = await chats.current_id(services.db, configured)
    if current != configured:
        _use(services, configured, current)


def _use(services: Services, old_chat_id: int, new_chat_id: int) -> None:
    services.settings = dataclasses.replace(services.settings, staff_chat_id=new_chat_id)
    log.warning(
        "OFBOT_STAFF_CHAT_ID: the staff group %s is now the supergroup %s (upgraded by Telegram); "
        "the bot uses the new id, set OFBOT_STAFF_CHAT_ID=%s",
        old_chat_id,
        new_chat_id,
        new_chat_id,
    )
