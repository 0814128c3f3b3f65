"""Proving who writes: match a registered e-mail, send a one-time code there, check it back.

Limits (SPEC §3.2) are counted on an append-only log no user action empties (`/forget` included):
a code lasts 10 minutes and allows 5 tries; per club and hour at most 3 codes and 15 guesses;
5 wrong addresses per chat per hour, then a lock. So that a stranger who knows one registered
address cannot spend the club's whole budget, each address and each chat has a share of it (2
codes, 10 guesses): what one chat or one address used up leaves the rest to the other. Every code
mail also carries a one-tap link (`/start v_<token>`, 192 random bits) that verifies whichever chat
taps it, under no budget: codes a stranger had sent still reach the club's mailbox, and their
links let its real contacts in. docs/SECURITY.md gives the reasoning and what remains possible."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass

from bot.addresses import clean, same_email, typed_email
from bot.logs import mask_email
from bot.mail import new_message_id
from bot.services import Services
from storage import audit, contacts, outbox, verification
from storage.clubs import Club

log = logging.getLogger(__name__)

CODE_TTL = 600
CODE_TRIES = 5
CODES_PER_CLUB_PER_HOUR = 3
CODES_PER_ADDRESS_PER_HOUR = 2
CODES_PER_CHAT_PER_HOUR = 2
GUESSES_PER_CLUB_PER_HOUR = 15
GUESSES_PER_ADDRESS_PER_HOUR = 10
GUESSES_PER_CHAT_PER_HOUR = 10
MISSES_PER_CHAT_PER_HOUR = 5
HOUR = 3600
RECENT_CODE = 60
# Counted events older than this are purged: the longest window counted is an hour.
ATTEMPTS_KEPT = 86400


def hash_code(code: str, salt: str, key: bytes) -> str:
    """HMAC-SHA256 keyed by a secret kept out of the database (`Settings.code_key`), salted.

    A 6-digit code has 10⁶ values, so key stretching (PBKDF2) cannot protect a leaked table: it
    only slowed every verification by ~20 ms of CPU. Without the key, the hashes give nothing."""
    return hmac.new(key, bytes.fromhex(salt) + code.encode(), hashlib.sha256).hexdigest()


LINK_PREFIX = "v_"
# 24 random bytes → 32 URL-safe characters (192 bits); "v_" + 32 fits Telegram's 64-character
# start parameter of A-Z a-z 0-9 _ - (Bot API, "Deep linking").
LINK_BYTES = 24
_LINK_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


def hash_link(token: str, key: bytes) -> str:
    """HMAC-SHA256 of a link token, keyed by `Settings.code_key`: unsalted, so that a tapped
    token finds its row by an index; 192 random bits need no salt against precomputation."""
    return hmac.new(key, b"link:" + token.encode(), hashlib.sha256).hexdigest()


def code_link(bot_username: str, token: str) -> str:
    """The t.me deep link that opens the bot with `/start v_<token>`."""
    return f"https://t.me/{bot_username}?start={LINK_PREFIX}{token}"


def _at(timestamp: float, services: Services) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, services.clock.tz)


def chat_key(services: Services, chat_id: int) -> str:
    """The chat as the limits log stores it: a keyed hash (the key is out of the database), so
    the log counts a chat's attempts after `/forget` without naming the chat."""
    digest = hmac.new(services.settings.code_key, f"chat:{chat_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def _over(times: list[float], limit: int) -> float | None:
    """When a sliding-hour limit frees again (None while under it); `times` oldest first."""
    return times[-limit] + HOUR if len(times) >= limit else None


@dataclass(frozen=True)
class EmailCheck:
    """`kind` is set on a match; else `locked_until` when the chat is locked; else
    `not_an_address` for text not shaped like an address (no try used); else `hints`."""

    kind: str | None = None
    locked_until: dt.datetime | None = None
    hints: tuple[str, ...] = ()
    misses_left: int = 0
    not_an_address: bool = False


def looks_like_address(text: str) -> bool:
    """Shaped like an e-mail address (`x@y`, no spaces): only such text counts as a try at the
    verify step; "retour" or "je ne sais pas" gets help instead of using up the hourly tries."""
    local, at, domain = typed_email(text).rpartition("@")
    return bool(at and local and domain) and " " not in local + domain


async def _misses(conn_or_db, services: Services, chat_id: int) -> list[float]:
    since = services.clock.timestamp() - HOUR
    return await verification.attempts_since(
        conn_or_db, "miss", since, chat_key=chat_key(services, chat_id)
    )


async def lock_of_chat(services: Services, chat_id: int) -> dt.datetime | None:
    """When the chat's lock ends, if it is locked (5 wrong addresses within the hour)."""
    until = _over(await _misses(services.db, services, chat_id), MISSES_PER_CHAT_PER_HOUR)
    return _at(until, services) if until else None


async def claim_staff_help(services: Services, chat_id: int, club_id: int | None) -> str:
    """The locked-out person's "contact staff" button: `first` once per lock, `again` after,
    `not_locked` when the chat is not locked (a forged or stale press: nothing is posted)."""
    now = services.clock.timestamp()
    key = chat_key(services, chat_id)
    async with services.db.transaction() as conn:
        misses = await _misses(conn, services, chat_id)
        if _over(misses, MISSES_PER_CHAT_PER_HOUR) is None:
            return "not_locked"
        lock_started = misses[-MISSES_PER_CHAT_PER_HOUR]
        helped = await verification.attempts_since(conn, "help", lock_started - 1e-6, chat_key=key)
        if helped:
            return "again"
        await verification.add_attempt_record(
            conn, club_id=club_id, chat_key=key, kind="help", at=now
        )
    return "first"


async def check_email(services: Services, club: Club, chat_id: int, typed: str) -> EmailCheck:
    """Compare with both registered addresses; a miss counts toward the chat's hourly limit."""
    locked = await lock_of_chat(services, chat_id)
    if locked:
        return EmailCheck(locked_until=locked)
    if not looks_like_address(typed):
        return EmailCheck(not_an_address=True)
    address = typed_email(typed)
    if same_email(address, club.structure_email):
        return EmailCheck(kind="structure")
    if same_email(address, club.contact_email):
        return EmailCheck(kind="contact")
    now = services.clock.timestamp()
    async with services.db.transaction() as conn:
        await verification.add_attempt_record(
            conn, club_id=club.id, chat_key=chat_key(services, chat_id), kind="miss", at=now
        )
        misses = await _misses(conn, services, chat_id)
    log.info("wrong e-mail for club %s from chat %s", club.subdomain, chat_id)
    until = _over(misses, MISSES_PER_CHAT_PER_HOUR)
    if until:
        return EmailCheck(locked_until=_at(until, services))
    hints = tuple(dict.fromkeys(mask_email(a) for a in (club.structure_email, club.contact_email)))
    return EmailCheck(hints=hints, misses_left=MISSES_PER_CHAT_PER_HOUR - len(misses))


@dataclass(frozen=True)
class CodeSent:
    """`sent` is True when the code's mail is on its way (recorded in the outbox with the code,
    sent right after the reply; or the code mailed a moment ago stands); else `retry_at` and
    `limit` (which budget is spent: club, address or chat) or `mail_failed` (no background
    sender and the relay refused). With the background sender, a refused mail is reported to
    the person later and its code and attempt record withdrawn (bot.outbox)."""

    sent: bool
    retry_at: dt.datetime | None = None
    mail_failed: bool = False
    mail_refused: bool = False  # the relay refused this address for good: another one may work
    limit: str | None = None


async def _spent(
    conn, services: Services, kind: str, club_id: int, chat_id: int, email_kind: str, limits
) -> tuple[str, float] | None:
    """The first budget of `kind` (code or guess) that is spent: (club|chat|address, frees at).
    `limits` are the three budgets in that order."""
    since = services.clock.timestamp() - HOUR
    key = chat_key(services, chat_id)
    scopes = (
        ("club", {"club_id": club_id}),
        ("chat", {"club_id": club_id, "chat_key": key}),
        ("address", {"club_id": club_id, "email_kind": email_kind}),
    )
    for (name, where), limit in zip(scopes, limits, strict=True):
        until = _over(await verification.attempts_since(conn, kind, since, **where), limit)
        if until is not None:
            return name, until
    return None


async def send_code(
    services: Services, club: Club, chat_id: int, kind: str, lang: str, *, fresh: bool = False
) -> CodeSent:
    """Create a code and its mail in one transaction (with the limit check); the mail outbox
    sends it right after, so the reply never waits for the mail relay, and a kill -9 loses no
    mail (bot.outbox).

    Unless `fresh` (the "send a new code" button), an address typed again within a minute of a
    code mailed (or on its way) to it gets that code back: a double send by the person, or
    Telegram resending the update after a crash, must not mail a second code (and spend one of
    the club's three)."""
    now = services.clock.timestamp()
    code = f"{secrets.randbelow(1_000_000):06d}"
    salt = secrets.token_hex(16)
    code_hash = hash_code(code, salt, services.settings.code_key)
    token = secrets.token_urlsafe(LINK_BYTES)
    address = club.structure_email if kind == "structure" else club.contact_email
    texts = services.texts
    subject = texts.render(lang, "mail/code_subject", club=club.name)
    body = texts.render(
        lang,
        "mail/code_body",
        code=code,
        link=code_link(services.bot_username, token),
        club=club.name,
        subdomain=club.subdomain,
        minutes=CODE_TTL // 60,
    )
    async with services.db.transaction() as conn:
        if not fresh:
            live = await verification.current_code(conn, club.id, chat_id)
            if (
                live is not None
                and live["email_kind"] == kind
                and live["attempts"] == 0
                and now - live["created_at"] < RECENT_CODE
                and live["expires_at"] > now
                and (
                    live["mailed_at"] is not None or await outbox.waiting_for_code(conn, live["id"])
                )
            ):
                return CodeSent(True)
        spent = await _spent(
            conn,
            services,
            "code",
            club.id,
            chat_id,
            kind,
            (CODES_PER_CLUB_PER_HOUR, CODES_PER_CHAT_PER_HOUR, CODES_PER_ADDRESS_PER_HOUR),
        )
        if spent is not None:
            return CodeSent(False, retry_at=_at(spent[1], services), limit=spent[0])
        await verification.purge_attempts(conn, now - ATTEMPTS_KEPT)
        record_id = await verification.add_attempt_record(
            conn,
            club_id=club.id,
            chat_key=chat_key(services, chat_id),
            kind="code",
            email_kind=kind,
            at=now,
        )
        code_id = await verification.insert_code(
            conn,
            club_id=club.id,
            chat_id=chat_id,
            email_kind=kind,
            code_hash=code_hash,
            salt=salt,
            created_at=now,
            expires_at=now + CODE_TTL,
            link_hash=hash_link(token, services.settings.code_key),
        )
        await outbox.add(
            conn,
            code_id=code_id,
            attempt_id=record_id,
            chat_id=chat_id,
            lang=lang,
            recipient=address,
            subject=subject,
            body=body,
            message_id=new_message_id(services.settings.smtp_from),
            created_at=now,
        )
    if services.outbox is not None:
        services.outbox.wake()
        return CodeSent(True)
    # No background sender (a tool, a unit test): send it here, as the outbox would.
    from bot.outbox import MailOutbox

    await MailOutbox(services).send_waiting()
    if await outbox.code_is_live(services.db, code_id, now):
        return CodeSent(True)
    return CodeSent(False, mail_failed=True)


@dataclass(frozen=True)
class CodeCheck:
    """`status`: ok, wrong (with `tries_left`), expired, exhausted, missing, malformed, or
    too_many (a guess budget of the hour is spent: `retry_at`)."""

    status: str
    tries_left: int = 0
    retry_at: dt.datetime | None = None


def read_code(typed: str) -> str | None:
    digits = "".join(clean(typed).split()).replace("-", "")
    return digits if len(digits) == 6 and digits.isascii() and digits.isdigit() else None


async def check_code(
    services: Services,
    club: Club,
    *,
    chat_id: int,
    user_id: int,
    display_name: str | None,
    lang: str,
    typed: str,
) -> CodeCheck:
    """On success the chat becomes a verified contact of the club, in the same transaction."""
    code = read_code(typed)
    if code is None:
        return CodeCheck("malformed")
    now = services.clock.timestamp()
    async with services.db.transaction() as conn:
        row = await verification.current_code(conn, club.id, chat_id)
        if row is None:
            return CodeCheck("missing")
        if row["expires_at"] <= now:
            return CodeCheck("expired")
        if row["attempts"] >= CODE_TRIES:
            return CodeCheck("exhausted")
        spent = await _spent(
            conn,
            services,
            "guess",
            club.id,
            chat_id,
            row["email_kind"],
            (GUESSES_PER_CLUB_PER_HOUR, GUESSES_PER_CHAT_PER_HOUR, GUESSES_PER_ADDRESS_PER_HOUR),
        )
        if spent is not None:
            return CodeCheck("too_many", retry_at=_at(spent[1], services))
        # Every compared code counts, right or wrong, and whatever happens to the code later.
        await verification.add_attempt_record(
            conn,
            club_id=club.id,
            chat_key=chat_key(services, chat_id),
            kind="guess",
            email_kind=row["email_kind"],
            at=now,
        )
        typed_hash = hash_code(code, row["salt"], services.settings.code_key)
        if not hmac.compare_digest(typed_hash, row["code_hash"]):
            await verification.add_attempt(conn, row["id"])
            left = CODE_TRIES - row["attempts"] - 1
            return CodeCheck("wrong", tries_left=left) if left > 0 else CodeCheck("exhausted")
        await verification.mark_used(conn, row["id"], now)
        await _make_contact(
            conn, services, club.id, chat_id, user_id, display_name, lang, row["email_kind"]
        )
    return CodeCheck("ok")


async def _make_contact(
    conn,
    services: Services,
    club_id: int,
    chat_id: int,
    user_id: int,
    display_name: str | None,
    lang: str,
    email_kind: str,
    via: str | None = None,
) -> None:
    """The chat becomes a verified contact of the club, with its audit record."""
    await contacts.upsert(
        conn,
        club_id=club_id,
        chat_id=chat_id,
        user_id=user_id,
        display_name=display_name,
        language=lang,
        email_kind=email_kind,
        verified_at=services.clock.now().isoformat(timespec="seconds"),
    )
    after = {"email_kind": email_kind, "user_id": user_id}
    if via:
        after["via"] = via
    await audit.record(
        conn,
        actor=f"chat:{chat_id}",
        action="contact.verified",
        club_id=club_id,
        target=f"chat:{chat_id}",
        after=after,
    )


async def check_link(
    services: Services,
    payload: str,
    *,
    chat_id: int,
    user_id: int,
    display_name: str | None,
    lang: str,
) -> int | None:
    """`/start v_<token>` from any private chat: the id of the club the chat is now a verified
    contact of, or None for a malformed, unknown, expired or used link (one answer for all, so
    a tap tells nothing). The code and its link are spent. No guess budget applies (192 random
    bits cannot be guessed), but every tap is appended to the limits log for audit."""
    token = payload.removeprefix(LINK_PREFIX)
    now = services.clock.timestamp()
    key = chat_key(services, chat_id)
    async with services.db.transaction() as conn:
        row = None
        if payload.startswith(LINK_PREFIX) and _LINK_TOKEN.fullmatch(token):
            link_hash = hash_link(token, services.settings.code_key)
            row = await verification.live_link(conn, link_hash, now)
        await verification.add_attempt_record(
            conn,
            club_id=row["club_id"] if row else None,
            chat_key=key,
            kind="link",
            email_kind=row["email_kind"] if row else None,
            at=now,
        )
        if row is None or not await verification.use_link(conn, row["id"], now):
            log.info("invalid verification link from chat %s", chat_id)
            return None
        await _make_contact(
            conn,
            services,
            row["club_id"],
            chat_id,
            user_id,
            display_name,
            lang,
            row["email_kind"],
            via="link",
        )
    return row["club_id"]


async def has_live_code(services: Services, club: Club, chat_id: int) -> bool:
    """Whether this chat holds an unexpired, unused code for the club."""
    row = await verification.current_code(services.db.conn, club.id, chat_id)
    return row is not None and row["expires_at"] > services.clock.timestamp()


async def verified_club_id(services: Services, chat_id: int, preferred: int | None) -> int | None:
    """The club this chat speaks for: the preferred one if still verified, else the latest."""
    links = await contacts.for_chat(services.db, chat_id)
    ids = [link.club_id for link in links]
    if preferred in ids:
        return preferred
    return ids[0] if ids else None
