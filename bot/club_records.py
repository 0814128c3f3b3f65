"""Club records kept current: OFBOT_CLUBS_SOURCE (a CSV file or an HTTPS URL) re-imported on a
schedule, and a club's "I deactivated resources" answered by reading the record again.

Every import goes through `bot.clubs.import_clubs`: the same validation, all-or-nothing, audit rows."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot import notify
from bot.clubs import ClubImportError, ImportReport, import_clubs, read_clubs_file
from storage import audit
from storage import clubs as club_rows
from storage.clubs import Club

log = logging.getLogger(__name__)

# Largest club file taken from the source or POST /admin/clubs: OpenFlyers' few thousand
# platforms make well under 1 MiB of CSV.
MAX_CLUBS_BYTES = 4 * 1024 * 1024
SYNC_EVERY = 3600  # seconds between two reads of OFBOT_CLUBS_SOURCE
SOURCE_TIMEOUT = 30.0  # seconds for one fetch of an https source


class SourceError(Exception):
    """OFBOT_CLUBS_SOURCE could not be read; str() says why."""


async def read_source(source: str) -> str | list:
    """The source's content: CSV text, or a decoded JSON list when an URL answers JSON."""
    if "://" not in source:
        path = Path(source)
        if not path.is_file():
            raise SourceError(f"{source}: no such file")
        if path.stat().st_size > MAX_CLUBS_BYTES:
            raise SourceError(f"{source}: larger than {MAX_CLUBS_BYTES} bytes")
        return read_clubs_file(path)
    try:
        async with (
            httpx.AsyncClient(timeout=SOURCE_TIMEOUT, follow_redirects=False) as client,
            client.stream("GET", source) as response,
        ):
            if response.status_code != 200:
                raise SourceError(f"the source answered HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_CLUBS_BYTES:
                    raise SourceError(f"the source sent more than {MAX_CLUBS_BYTES} bytes")
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    except httpx.HTTPError as exc:
        raise SourceError(f"the source could not be read: {type(exc).__name__}") from None
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise ClubImportError([(1, "the file is not UTF-8 text")]) from None
    if kind == "application/json":
        try:
            return json.loads(text)
        except ValueError:
            raise ClubImportError([(0, "the body is not valid JSON")]) from None
    return text


async def sync_clubs_source(services) -> ImportReport | None:
    """Import OFBOT_CLUBS_SOURCE now (None when unset). Raises SourceError or ClubImportError;
    either way nothing of it was imported."""
    source = services.settings.clubs_source
    if not source:
        return None
    metrics = services.metrics
    try:
        data = await read_source(source)
        report = await import_clubs(
            services.db, data, set(services.catalogue.plans), actor="source:OFBOT_CLUBS_SOURCE"
        )
    except (SourceError, ClubImportError) as exc:
        metrics.clubs_imports.labels(origin="source", outcome="refused").inc()
        problems = getattr(exc, "problems", None)
        detail = "; ".join(f"line {n}: {m}" for n, m in problems[:5]) if problems else str(exc)
        log.error("OFBOT_CLUBS_SOURCE not imported: %s", detail)
        raise
    metrics.clubs_imports.labels(origin="source", outcome="imported").inc()
    log.info(
        "OFBOT_CLUBS_SOURCE imported: %d created, %d updated, %d unchanged",
        report.created,
        report.updated,
        report.unchanged,
    )
    return report


async def clubs_source_job(context) -> None:
    """JobQueue callback (bot/runtime.py JOBS, every SYNC_EVERY seconds and a second after
    start-up): a refused file is logged and waits for the next run."""
    with contextlib.suppress(SourceError, ClubImportError):  # logged by sync_clubs_source
        await sync_clubs_source(context.application.bot_data["services"])


@dataclass(frozen=True)
class Recount:
    """What reading a club's record again found: `club` as it is now, whether the activated count
    changed, and whether staff were told (now or before) that the club asks for a refresh."""

    club: Club
    changed: bool
    staff_told: bool


async def recount_resources(services, club: Club, seen_active: int, bot) -> Recount:
    """A club told `seen_active` activated resources says it deactivated some: read the source
    again (when there is one) and the record. If the activated count has not changed, tell staff — once per club and record
    version — that the club asks for its record to be refreshed, and who can do it."""
    with contextlib.suppress(SourceError, ClubImportError):  # logged; the record answers
        await sync_clubs_source(services)
    fresh = await club_rows.get(services.db, club.id) or club
    if fresh.active_resources != seen_active:
        return Recount(fresh, changed=True, staff_told=False)
    version = fresh.synced_at.isoformat() if fresh.synced_at else "never"
    if await audit.exists(
        services.db, action="club.recount_asked", club_id=club.id, target=version
    ):
        return Recount(fresh, changed=False, staff_told=True)
    text = services.texts.render(
        notify.STAFF_LANG,
        "staff/recount_asked",
        club=fresh.name,
        subdomain=fresh.subdomain,
        active=fresh.active_resources,
        synced_at=fresh.synced_at.astimezone(services.settings.tz) if fresh.synced_at else None,
        source=bool(services.settings.clubs_source),
        admin=bool(services.settings.admin_token),
    )
    if await notify.to_staff(services, bot, text) != "sent":
        return Recount(fresh, changed=False, staff_told=False)
    async with services.db.transaction() as conn:
        await audit.record(
            conn,
            actor="club",
            action="club.recount_asked",
            club_id=club.id,
            target=version,
            before={"active_resources": fresh.active_resources},
        )
    return Recount(fresh, changed=False, staff_told=True)


def synced_local(club: Club, tz) -> dt.datetime | None:
    """When the record was last read from OpenFlyers, in the bot's time zone."""
    return club.synced_at.astimezone(tz) if club.synced_at else None
