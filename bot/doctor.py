"""`ofbot doctor` (SPEC §6): every real dependency checked with real calls before clubs write to
the bot — Telegram, the staff group, the webhook, Stripe, the SMTP relay, the catalogue, the database.

Each check gives one line: ok, warning or error, and what to do. Any error → exit status 1."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import sqlite3
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiosmtplib
import httpx
import stripe

from bot.payments.events import STRIPE_EVENTS as EVENT_TABLE
from bot.settings import DEFAULT_CATALOGUE, Settings

OK, WARNING, ERROR = "ok", "warning", "error"
TIMEOUT = 10.0  # seconds for one call to a service
# The Stripe events the bot acts on (its event table): the endpoint must send them all.
STRIPE_EVENTS = tuple(EVENT_TABLE)
# Free space under the database: below the first an error (SQLite cannot grow, backups fail),
# below the second a warning.
DISK_ERROR_BYTES = 100 * 1024 * 1024
DISK_WARNING_BYTES = 1024 * 1024 * 1024
PENDING_UPDATES_WARNING = 100  # updates Telegram holds: the bot is down or falling behind
WEBHOOK_ERROR_RECENT = 3600  # seconds: a webhook delivery error this recent is reported


@dataclass(frozen=True)
class Check:
    """One line of the report: `status` is ok, warning or error; `fix` says what to do."""

    name: str
    status: str
    message: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<7}  {self.name}: {self.message}"
        return f"{text} → {self.fix}" if self.fix else text


class TelegramAnswer(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class Doctor:
    """The checks, in the order printed. `webhook` says which mode the bot runs in (the same
    `--webhook` as `ofbot run`); the disk thresholds and the SMTP trust are for tests."""

    def __init__(
        self,
        settings: Settings,
        *,
        webhook: bool = False,
        disk_error_bytes: int = DISK_ERROR_BYTES,
        disk_warning_bytes: int = DISK_WARNING_BYTES,
        smtp_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        # The CAs the relay's certificate is checked against: the system's, as the Mailer's.
        self.smtp_tls = smtp_tls
        self.webhook = webhook
        self.disk_error_bytes = disk_error_bytes
        self.disk_warning_bytes = disk_warning_bytes
        self.me: dict | None = None

    async def run(self) -> list[Check]:
        checks: list[Check] = []
        async with httpx.AsyncClient(timeout=TIMEOUT) as self.http:
            steps: list[Callable[[], Awaitable[list[Check]]]] = [
                self.check_token,
                self.check_staff_group,
                self.check_webhook,
                self.check_stripe,
                self.check_smtp,
                self.check_catalogue,
                self.check_database,
                self.check_backups,
                self.check_disk,
            ]
            for step in steps:
                try:
                    checks.extend(await step())
                except Exception as exc:  # a check that breaks is reported, the others go on
                    name = step.__name__.removeprefix("check_").replace("_", " ")
                    checks.append(Check(name, ERROR, f"the check itself failed: {exc!r}"))
        return checks

    # -- Telegram --------------------------------------------------------------------------------

    async def _bot_api(self, method: str, **params) -> dict | list | bool:
        """One Bot API call; raises TelegramAnswer for `ok: false`, httpx.HTTPError when the API
        cannot be reached."""
        url = f"{self.settings.telegram_api_url}/bot{self.settings.telegram_token}/{method}"
        response = await self.http.post(url, json=params)
        try:
            body = response.json()
        except ValueError:
            raise TelegramAnswer(response.status_code, f"HTTP {response.status_code}") from None
        if not body.get("ok"):
            raise TelegramAnswer(
                body.get("error_code", response.status_code), body.get("description", "")
            )
        return body["result"]

    async def check_token(self) -> list[Check]:
        if not self.settings.telegram_token:
            return [
                Check(
                    "telegram token",
                    ERROR,
                    "OFBOT_TELEGRAM_TOKEN is not set",
                    "create a bot with @BotFather and set OFBOT_TELEGRAM_TOKEN",
                )
            ]
        try:
            self.me = await self._bot_api("getMe")
        except TelegramAnswer as exc:
            if exc.code in (401, 404):
                return [
                    Check(
                        "telegram token",
                        ERROR,
                        f"Telegram refuses the token ({exc.description})",
                        "copy the token again from @BotFather (/mybots → API Token)",
                    )
                ]
            return [Check("telegram token", ERROR, f"getMe failed: {exc.code} {exc.description}")]
        except httpx.HTTPError as exc:
            return [
                Check(
                    "telegram token",
                    ERROR,
                    f"the Bot API at {self.settings.telegram_api_url} cannot be reached ({type(exc).__name__})",
                    "check the network and OFBOT_TELEGRAM_API_URL",
                )
            ]
        me = self.me
        checks = [Check("telegram token", OK, f"@{me.get('username')} (id {me.get('id')})")]
        if me.get("can_read_all_group_messages"):
            checks.append(
                Check(
                    "privacy mode",
                    WARNING,
                    "off: the bot receives every message of the staff group, which it does not need",
                    "@BotFather → /setprivacy → Enable (the bot works with commands and replies to it)",
                )
            )
        else:
            checks.append(
                Check(
                    "privacy mode",
                    OK,
                    "on: in the staff group the bot sees commands and replies to its messages, which is all it needs",
                )
            )
        return checks

    async def check_staff_group(self) -> list[Check]:
        chat_id = self.settings.staff_chat_id
        if chat_id is None:
            return [
                Check(
                    "staff group",
                    ERROR,
                    "OFBOT_STAFF_CHAT_ID is not set",
                    "add the bot to the staff group and set its chat id",
                )
            ]
        if self.me is None:
            return [Check("staff group", ERROR, "not checked: the token does not work")]
        try:
            chat = await self._bot_api("getChat", chat_id=chat_id)
        except TelegramAnswer as exc:
            return [
                Check(
                    "staff group",
                    ERROR,
                    f"getChat({chat_id}): {exc.description}",
                    "add the bot to the staff group, and check OFBOT_STAFF_CHAT_ID "
                    "(a supergroup id starts with -100)",
                )
            ]
        kind = chat.get("type")
        if kind not in ("group", "supergroup"):
            return [
                Check(
                    "staff group",
                    ERROR,
                    f"chat {chat_id} is a {kind}, not a group",
                    "set OFBOT_STAFF_CHAT_ID to the staff group's id",
                )
            ]
        title = chat.get("title", "")
        checks = []
        try:
            member = await self._bot_api("getChatMember", chat_id=chat_id, user_id=self.me["id"])
        except TelegramAnswer as exc:
            return [
                Check(
                    "staff group",
                    ERROR,
                    f"getChatMember: {exc.description}",
                    "add the bot to the staff group",
                )
            ]
        status = member.get("status")
        if status in ("left", "kicked"):
            return [
                Check(
                    "staff group",
                    ERROR,
                    f"the bot is not a member of “{title}” ({status})",
                    "add the bot to the staff group again",
                )
            ]
        can_post = status in ("administrator", "creator") or (
            member.get("can_send_messages", True)
            if status == "restricted"
            else (chat.get("permissions") or {}).get("can_send_messages", True)
        )
        if not can_post:
            checks.append(
                Check(
                    "staff group",
                    ERROR,
                    f"the bot is in “{title}” but cannot post there",
                    "let members send messages, or make the bot an administrator",
                )
            )
        else:
            checks.append(
                Check("staff group", OK, f"“{title}” ({kind}): the bot is {status} and can post")
            )
        if chat.get("is_forum"):
            manage = status == "creator" or (
                status == "administrator" and member.get("can_manage_topics")
            )
            if manage:
                checks.append(
                    Check("staff topics", OK, "forum: the bot can create one topic per club")
                )
            else:
                checks.append(
                    Check(
                        "staff topics",
                        WARNING,
                        "forum, but the bot cannot manage topics: requests land in General",
                        "make the bot an administrator with the right “Manage topics”",
                    )
                )
        missing = []
        for user_id in sorted(self.settings.staff_user_ids):
            try:
                staff = await self._bot_api("getChatMember", chat_id=chat_id, user_id=user_id)
            except TelegramAnswer:
                missing.append(user_id)
                continue
            if staff.get("status") in ("left", "kicked"):
                missing.append(user_id)
        if not self.settings.staff_user_ids:
            checks.append(
                Check(
                    "staff members",
                    WARNING,
                    "OFBOT_STAFF_USER_IDS is empty: nobody can use the staff commands",
                    "set the staff members' Telegram user ids",
                )
            )
        elif missing:
            checks.append(
                Check(
                    "staff members",
                    WARNING,
                    f"not in the staff group: {', '.join(map(str, missing))}",
                    "add them to the group, or remove them from OFBOT_STAFF_USER_IDS",
                )
            )
        else:
            checks.append(
                Check(
                    "staff members",
                    OK,
                    f"{len(self.settings.staff_user_ids)} staff member(s), all in the group",
                )
            )
        return checks

    async def check_webhook(self) -> list[Check]:
        if self.me is None:
            return [Check("webhook", ERROR, "not checked: the token does not work")]
        info = await self._bot_api("getWebhookInfo")
        url = info.get("url") or ""
        pending = int(info.get("pending_update_count") or 0)
        checks = []
        s = self.settings
        if self.webhook:
            expected = f"{s.public_url}/telegram/webhook" if s.public_url else None
            if expected is None:
                checks.append(
                    Check(
                        "webhook",
                        ERROR,
                        "webhook mode needs OFBOT_PUBLIC_URL",
                        "set OFBOT_PUBLIC_URL to the https address of the reverse proxy",
                    )
                )
            elif not expected.startswith("https://"):
                checks.append(
                    Check(
                        "webhook",
                        ERROR,
                        f"{expected} is not https: Telegram refuses it",
                        "serve the bot behind a TLS reverse proxy (docs/OPERATIONS.md)",
                    )
                )
            elif not s.telegram_secret_token:
                checks.append(
                    Check(
                        "webhook",
                        ERROR,
                        "OFBOT_TELEGRAM_SECRET_TOKEN is not set",
                        "set a long random secret",
                    )
                )
            elif url == expected:
                checks.append(Check("webhook", OK, f"set to {url}, {pending} update(s) pending"))
            elif not url:
                checks.append(
                    Check(
                        "webhook",
                        WARNING,
                        f"not set yet ({pending} update(s) pending)",
                        "`ofbot run --webhook` sets it at start-up",
                    )
                )
            else:
                checks.append(
                    Check(
                        "webhook",
                        WARNING,
                        f"set to {url}, not {expected}",
                        "`ofbot run --webhook` sets it at start-up; check OFBOT_PUBLIC_URL",
                    )
                )
        elif url:
            checks.append(
                Check(
                    "webhook",
                    WARNING,
                    f"a webhook is set ({url}) but this bot polls: getUpdates is refused while it is",
                    "`ofbot run` removes it at start-up; or check with `ofbot doctor --webhook` if the bot runs with --webhook",
                )
            )
        else:
            checks.append(Check("webhook", OK, f"none (long polling), {pending} update(s) pending"))
        if pending > PENDING_UPDATES_WARNING:
            checks.append(
                Check(
                    "pending updates",
                    WARNING,
                    f"Telegram holds {pending} updates",
                    "the bot is down or behind: start it, and check its log",
                )
            )
        error_at = info.get("last_error_date")
        if url and error_at and time.time() - error_at < WEBHOOK_ERROR_RECENT:
            when = dt.datetime.fromtimestamp(error_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            checks.append(
                Check(
                    "webhook delivery",
                    ERROR,
                    f"Telegram's last delivery failed at {when}: {info.get('last_error_message')}",
                    "check the reverse proxy, the certificate and that the bot runs",
                )
            )
        return checks

    # -- Stripe ----------------------------------------------------------------------------------

    async def _stripe(self, call: str) -> dict:
        """One Stripe call with the official client (as the bot makes them); StripeAnswer for an
        error Stripe answered, httpx-free APIConnectionError when it cannot be reached."""
        s = self.settings
        http = stripe.HTTPXClient(timeout=TIMEOUT)
        client = stripe.StripeClient(
            s.stripe_secret_key, base_addresses={"api": s.stripe_api_url}, http_client=http
        )
        try:
            if call == "balance":
                result = await client.v1.balance.retrieve_async()
            else:
                result = await client.v1.webhook_endpoints.list_async({"limit": 100})
        except stripe.APIConnectionError:
            raise
        except stripe.StripeError as exc:
            raise StripeAnswer(exc.http_status or 0, exc.user_message or str(exc)) from None
        finally:
            await http.close_async()
        return result.to_dict()

    async def check_stripe(self) -> list[Check]:
        s = self.settings
        key = s.stripe_secret_key
        if not key:
            return [
                Check(
                    "stripe",
                    WARNING,
                    "OFBOT_STRIPE_SECRET_KEY is not set: no card payments",
                    "set the secret key from the Stripe dashboard (docs/PAYMENTS.md)",
                )
            ]
        mode = "live" if "_live_" in key else "test" if "_test_" in key else "unknown"
        try:
            balance = await self._stripe("balance")
        except StripeAnswer as exc:
            if exc.code == 401:
                return [
                    Check(
                        "stripe key",
                        ERROR,
                        f"Stripe refuses the key: {exc.message}",
                        "copy the secret key again from the Stripe dashboard",
                    )
                ]
            return [Check("stripe key", ERROR, f"GET /v1/balance: {exc.code} {exc.message}")]
        except stripe.APIConnectionError as exc:
            return [
                Check(
                    "stripe key",
                    ERROR,
                    f"Stripe at {s.stripe_api_url} cannot be reached ({type(exc).__name__})",
                )
            ]
        live = bool(balance.get("livemode"))
        checks = [
            Check(
                "stripe key",
                OK if live else WARNING,
                f"valid, {'live' if live else 'test'} mode ({mode} key)",
                "" if live else "test mode takes no real money: use the live key to go live",
            )
        ]
        if not s.stripe_webhook_secret:
            checks.append(
                Check(
                    "stripe webhook secret",
                    ERROR,
                    "OFBOT_STRIPE_WEBHOOK_SECRET is not set: every event is refused",
                    "copy the endpoint's signing secret (whsec_…)",
                )
            )
        if not s.public_url:
            checks.append(
                Check(
                    "stripe endpoint",
                    ERROR,
                    "OFBOT_PUBLIC_URL is not set: Stripe cannot reach the bot",
                    "set OFBOT_PUBLIC_URL and register <OFBOT_PUBLIC_URL>/stripe/webhook at Stripe",
                )
            )
            return checks
        expected = f"{s.public_url}/stripe/webhook"
        try:
            listed = await self._stripe("webhook_endpoints")
        except StripeAnswer as exc:
            checks.append(
                Check(
                    "stripe endpoint",
                    WARNING if exc.code == 403 else ERROR,
                    f"GET /v1/webhook_endpoints: {exc.code} {exc.message}",
                    "a restricted key needs “Webhook Endpoints: read”",
                )
            )
            return checks
        endpoints = [e for e in listed.get("data", []) if e.get("url") == expected]
        if not endpoints:
            checks.append(
                Check(
                    "stripe endpoint",
                    ERROR,
                    f"no endpoint registered for {expected}",
                    f"Stripe dashboard → Developers → Webhooks → add {expected} with {', '.join(STRIPE_EVENTS)}",
                )
            )
            return checks
        enabled = [e for e in endpoints if e.get("status") == "enabled"]
        if not enabled:
            checks.append(
                Check(
                    "stripe endpoint",
                    ERROR,
                    f"{expected} is registered but disabled",
                    "enable it in the Stripe dashboard",
                )
            )
            return checks
        endpoint = enabled[0]
        events = set(endpoint.get("enabled_events") or [])
        missing = [e for e in STRIPE_EVENTS if "*" not in events and e not in events]
        if missing:
            checks.append(
                Check(
                    "stripe endpoint",
                    ERROR,
                    f"{expected} does not send {', '.join(missing)}",
                    "add these events to the endpoint in the Stripe dashboard",
                )
            )
        elif bool(endpoint.get("livemode")) != live:
            checks.append(
                Check(
                    "stripe endpoint",
                    ERROR,
                    f"{expected} is a {'live' if endpoint.get('livemode') else 'test'}-mode endpoint, the key is not",
                    "register the endpoint in the key's mode",
                )
            )
        else:
            checks.append(
                Check(
                    "stripe endpoint",
                    OK,
                    f"{expected} enabled with the {len(STRIPE_EVENTS)} events the bot needs",
                )
            )
        return checks

    # -- SMTP ------------------------------------------------------------------------------------

    async def check_smtp(self) -> list[Check]:
        s = self.settings
        where = f"{s.smtp_host}:{s.smtp_port}"
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            use_tls=s.smtp_port == 465,
            start_tls=False,
            timeout=TIMEOUT,
            tls_context=self.smtp_tls or ssl.create_default_context(),
        )
        try:
            await smtp.connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            return [
                Check(
                    "smtp",
                    ERROR,
                    f"cannot connect to {where}: {type(exc).__name__}: {exc}",
                    "check OFBOT_SMTP_HOST and OFBOT_SMTP_PORT, and the firewall",
                )
            ]
        checks = []
        try:
            await smtp.ehlo()
            secure = s.smtp_port == 465
            if not secure and smtp.supports_extension("starttls"):
                try:
                    await smtp.starttls()
                    secure = True
                    await smtp.ehlo()  # extensions offered again after TLS (RFC 3207 §4.2)
                except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
                    return [
                        Check(
                            "smtp",
                            ERROR,
                            f"STARTTLS with {where} failed: {exc}",
                            "the relay's certificate must be valid for OFBOT_SMTP_HOST",
                        )
                    ]
            if s.smtp_user:
                if not smtp.supports_extension("auth"):
                    return [
                        Check(
                            "smtp",
                            ERROR,
                            f"{where} offers no AUTH but OFBOT_SMTP_USER is set",
                            "check the port (587 usually) or unset OFBOT_SMTP_USER",
                        )
                    ]
                try:
                    await smtp.login(s.smtp_user, s.smtp_password or "")
                except aiosmtplib.SMTPAuthenticationError as exc:
                    return [
                        Check(
                            "smtp",
                            ERROR,
                            f"{where} refuses the login of {s.smtp_user}: {exc.code} {exc.message}",
                            "check OFBOT_SMTP_USER and OFBOT_SMTP_PASSWORD",
                        )
                    ]
            auth = f", logged in as {s.smtp_user}" if s.smtp_user else ", no login"
            if secure:
                checks.append(Check("smtp", OK, f"{where}: TLS{auth}"))
            else:
                checks.append(
                    Check(
                        "smtp",
                        WARNING,
                        f"{where}: no TLS offered, codes travel in clear{auth}",
                        "use a relay with STARTTLS (port 587) or TLS (port 465)",
                    )
                )
        except (aiosmtplib.SMTPException, OSError) as exc:
            return [Check("smtp", ERROR, f"{where}: {type(exc).__name__}: {exc}")]
        finally:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()
        return checks

    # -- local: catalogue, database, disk --------------------------------------------------------

    async def check_catalogue(self) -> list[Check]:
        from bot.catalogue import CatalogueError, load_catalogue

        path = self.settings.catalogue
        try:
            catalogue = load_catalogue(path)
        except CatalogueError as exc:
            return [
                Check("catalogue", ERROR, str(exc), "fix the TOML file named in OFBOT_CATALOGUE")
            ]
        plans = ", ".join(catalogue.plans)
        if catalogue.sample or Path(path).resolve() == DEFAULT_CATALOGUE.resolve():
            return [
                Check(
                    "catalogue",
                    WARNING,
                    f"still the shipped sample prices ({plans})",
                    "write your catalogue (prices, payee, IBAN) and set OFBOT_CATALOGUE",
                )
            ]
        return [Check("catalogue", OK, f"{path}: {len(catalogue.plans)} plan(s) ({plans})")]

    async def check_database(self) -> list[Check]:
        return await asyncio.to_thread(self._database)

    def _database(self) -> list[Check]:
        from storage.db import migration_files

        path = self.settings.db
        if not Path(path).is_file():
            return [
                Check(
                    "database",
                    WARNING,
                    f"{path} does not exist yet",
                    "`ofbot db migrate`, then `ofbot clubs import FILE.csv`",
                )
            ]
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=TIMEOUT)
        except sqlite3.Error as exc:
            return [Check("database", ERROR, f"{path} cannot be opened: {exc}")]
        try:
            try:
                rows = conn.execute("PRAGMA integrity_check").fetchall()
            except sqlite3.DatabaseError as exc:
                return [
                    Check(
                        "database",
                        ERROR,
                        f"{path} is not a readable SQLite database: {exc}",
                        "restore the last backup: `ofbot db restore FILE`",
                    )
                ]
            if [tuple(r) for r in rows] != [("ok",)]:
                return [
                    Check(
                        "database",
                        ERROR,
                        f"integrity_check: {rows[0][0]}",
                        "stop the bot and restore the last backup: `ofbot db restore FILE`",
                    )
                ]
            try:
                applied = {r[0] for r in conn.execute("SELECT number FROM schema_migrations")}
                clubs = conn.execute("SELECT count(*) FROM clubs").fetchone()[0]
            except sqlite3.DatabaseError:
                return [
                    Check(
                        "database", WARNING, f"{path} has no ofbot schema yet", "`ofbot db migrate`"
                    )
                ]
        finally:
            conn.close()
        known = {number for number, _, _ in migration_files()}
        checks = []
        if applied - known:
            checks.append(
                Check(
                    "database",
                    ERROR,
                    f"migrations {sorted(applied - known)} come from a newer ofbot",
                    "install that version of ofbot again",
                )
            )
        elif known - applied:
            checks.append(
                Check(
                    "database",
                    WARNING,
                    f"integrity ok, {len(known - applied)} migration(s) not applied",
                    "`ofbot db migrate` (`ofbot run` also applies them at start-up)",
                )
            )
        else:
            checks.append(
                Check("database", OK, f"{path}: integrity ok, {len(known)} migrations applied")
            )
        if clubs == 0:
            checks.append(
                Check(
                    "club records",
                    WARNING,
                    "no club records",
                    "`ofbot clubs import FILE.csv`, or set OFBOT_CLUBS_SOURCE",
                )
            )
        else:
            checks.append(Check("club records", OK, f"{clubs} club(s)"))
        return checks

    async def check_backups(self) -> list[Check]:
        from bot.backups import list_backups

        folder = self.settings.backup_dir
        if folder is None:
            return [
                Check(
                    "backups",
                    WARNING,
                    "OFBOT_BACKUP_DIR is not set: no daily backup",
                    "set OFBOT_BACKUP_DIR (and copy it off-site: docs/OPERATIONS.md)",
                )
            ]
        folder = Path(folder)
        if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
            return [
                Check(
                    "backups",
                    ERROR,
                    f"{folder} is not writable by this user",
                    "give the bot's user write access to OFBOT_BACKUP_DIR",
                )
            ]
        found = list_backups(folder)
        if not found:
            return [
                Check(
                    "backups",
                    WARNING,
                    f"no backup in {folder} yet",
                    "the running bot makes one at start-up and every day at 03:30",
                )
            ]
        age = time.time() - found[-1].stat().st_mtime
        if age > 2 * 24 * 3600:
            return [
                Check(
                    "backups",
                    WARNING,
                    f"the newest backup, {found[-1].name}, is {age / 86400:.0f} days old",
                    "is the bot running? check its log for “daily backup failed”",
                )
            ]
        return [Check("backups", OK, f"{len(found)} in {folder}, the newest {found[-1].name}")]

    async def check_disk(self) -> list[Check]:
        places = {"database": Path(self.settings.db).resolve().parent}
        if self.settings.backup_dir is not None:
            places["backups"] = Path(self.settings.backup_dir).resolve()
        checks = []
        for what, folder in places.items():
            existing = folder
            while not existing.exists() and existing != existing.parent:
                existing = existing.parent
            free = shutil.disk_usage(existing).free
            text = f"{free / 1024**3:.1f} GiB free under {folder}"
            if free < self.disk_error_bytes:
                checks.append(
                    Check(
                        f"disk ({what})",
                        ERROR,
                        text,
                        "free space, or move OFBOT_DB/OFBOT_BACKUP_DIR",
                    )
                )
            elif free < self.disk_warning_bytes:
                checks.append(Check(f"disk ({what})", WARNING, text, "free some space soon"))
            else:
                checks.append(Check(f"disk ({what})", OK, text))
        return checks


class StripeAnswer(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def report(checks: list[Check]) -> tuple[str, int]:
    """The printed report and the exit status (1 when any check is an error)."""
    lines = [check.line() for check in checks]
    errors = sum(check.status == ERROR for check in checks)
    warnings = sum(check.status == WARNING for check in checks)
    lines.append(f"{len(checks)} checks: {errors} error(s), {warnings} warning(s)")
    return "\n".join(lines), 1 if errors else 0
