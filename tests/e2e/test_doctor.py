"""`ofbot doctor` (SPEC §6) against the sandbox stand-ins over loopback, each failure injected:
one line per check, the failing check an `error` with what to do, exit status 1 on any error."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
import subprocess
import sys

import httpx
import pytest
from stripe import HTTPXClient, StripeClient

from bot.backups import list_backups, run_scheduled_backup
from bot.doctor import ERROR, OK, WARNING, Doctor, report
from bot.payments.stripe_api import STRIPE_API_VERSION
from bot.settings import DEFAULT_CATALOGUE
from tests.conftest import (
    ROOT,
    STAFF_CHAT,
    bot_environment,
    free_port,
    replace_settings,
    seed_database,
)

PUBLIC_URL = "https://bot.openflyers.example"
EVENTS = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
]


SMTP_LOGIN = ("ofbot", "relay-password-8d1f")


@pytest.fixture
async def relay():
    """A relay as a real one is set up: STARTTLS required (its CA trusted through
    `relay.client_tls`), AUTH required with one login."""
    from bot.sandbox.smtp import start_smtp

    secure = await start_smtp(require_starttls=True, credentials=SMTP_LOGIN)
    yield secure
    secure.stop()


@pytest.fixture
async def ready(settings, telegram, smtp, stripe, relay, tmp_path):
    """Settings for which every check is ok: the secure relay, a real (non-sample) catalogue, a
    migrated database with clubs and a backup, the Stripe endpoint with the events the bot needs."""
    catalogue = tmp_path / "catalogue.toml"
    catalogue.write_text(
        DEFAULT_CATALOGUE.read_text(encoding="utf-8").replace("sample = true", "sample = false"),
        encoding="utf-8",
    )
    settings = replace_settings(
        settings,
        public_url=PUBLIC_URL,
        catalogue=catalogue,
        backup_dir=tmp_path / "backups",
        smtp_port=relay.port,
        smtp_user=SMTP_LOGIN[0],
        smtp_password=SMTP_LOGIN[1],
    )
    await seed_database(settings)
    run_scheduled_backup(settings.db, settings.backup_dir, 3, dt.datetime.now(dt.UTC))
    stripe.add_webhook_endpoint(f"{PUBLIC_URL}/stripe/webhook", EVENTS)
    return settings


async def run(settings, relay=None, **options) -> dict[str, list]:
    checks = await Doctor(settings, smtp_tls=relay.client_tls if relay else None, **options).run()
    by_name: dict[str, list] = {}
    for check in checks:
        by_name.setdefault(check.name, []).append(check)
    return by_name


def status_of(found: dict, name: str) -> str:
    return found[name][0].status


async def test_everything_ok_against_the_sandbox(ready, relay):
    checks = await Doctor(ready, smtp_tls=relay.client_tls).run()
    text, code = report(checks)
    assert code == 0, text
    assert all(c.status == OK for c in checks if c.name != "stripe key"), text
    # The sandbox's key is a test key: a warning, not an error.
    assert [c.status for c in checks if c.name == "stripe key"] == [WARNING]
    names = {c.name for c in checks}
    assert {
        "telegram token",
        "privacy mode",
        "staff group",
        "staff members",
        "webhook",
        "stripe key",
        "stripe endpoint",
        "smtp",
        "catalogue",
        "database",
        "club records",
        "backups",
        "disk (database)",
        "disk (backups)",
    } <= names
    assert all("\n" not in c.line() for c in checks)


async def test_a_token_telegram_refuses(ready):
    found = await run(
        replace_settings(ready, telegram_token="654321:WRONG-token_abcdefghijklmnopq")
    )
    assert status_of(found, "telegram token") == ERROR
    assert "@BotFather" in found["telegram token"][0].fix
    assert status_of(found, "staff group") == ERROR  # cannot be checked without a token
    assert "654321:WRONG" not in found["telegram token"][0].line()


async def test_a_bot_api_that_cannot_be_reached(ready):
    found = await run(replace_settings(ready, telegram_api_url=f"http://127.0.0.1:{free_port()}"))
    assert status_of(found, "telegram token") == ERROR
    assert "cannot be reached" in found["telegram token"][0].message


async def test_a_staff_group_the_bot_is_not_in(ready):
    found = await run(replace_settings(ready, staff_chat_id=-1009999999999))
    assert status_of(found, "staff group") == ERROR
    assert "add the bot to the staff group" in found["staff group"][0].fix


@pytest.mark.parametrize(
    ("status", "rights", "expected"),
    [
        ("kicked", {}, "bot was kicked from the supergroup chat"),
        ("left", {}, "bot is not a member of the supergroup chat"),
        ("restricted", {"can_send_messages": False}, "cannot post there"),
    ],
)
async def test_a_bot_removed_from_or_muted_in_the_staff_group(
    ready, telegram, status, rights, expected
):
    telegram.set_bot_member(STAFF_CHAT, status, **rights)
    found = await run(ready)
    assert status_of(found, "staff group") == ERROR
    assert expected in found["staff group"][0].message


async def test_a_forum_staff_group_needs_the_right_to_manage_topics(ready, telegram):
    telegram.add_group(STAFF_CHAT, "OpenFlyers staff", members=[9001, 9002], forum=True)
    found = await run(ready)
    assert status_of(found, "staff topics") == WARNING
    assert "Manage topics" in found["staff topics"][0].fix
    telegram.set_bot_member(STAFF_CHAT, "administrator", can_manage_topics=True)
    found = await run(ready)
    assert status_of(found, "staff topics") == OK
    assert (
        status_of(found, "staff group") == OK and "administrator" in found["staff group"][0].message
    )


async def test_privacy_mode_off_is_a_warning(ready, telegram):
    if not hasattr(telegram, "set_privacy_mode"):
        pytest.skip("the sandbox Bot API has no privacy mode switch yet")
    telegram.set_privacy_mode(False)
    found = await run(ready)
    assert (
        status_of(found, "privacy mode") == WARNING
        and "/setprivacy" in found["privacy mode"][0].fix
    )


async def test_a_staff_chat_id_that_is_a_private_chat(ready):
    found = await run(replace_settings(ready, staff_chat_id=9001))
    assert (
        status_of(found, "staff group") == ERROR
        and "not a group" in found["staff group"][0].message
    )


async def test_a_staff_member_outside_the_group(ready, telegram):
    telegram.add_user(9003, "Chloé")
    found = await run(replace_settings(ready, staff_user_ids=frozenset({9001, 9002, 9003})))
    assert status_of(found, "staff members") == WARNING
    assert "9003" in found["staff members"][0].message


async def test_a_webhook_left_set_while_the_bot_polls(ready, telegram):
    # Telegram resolves the webhook's host: the stand-in routes the public origin to loopback.
    telegram.route_webhook(PUBLIC_URL, f"http://127.0.0.1:{free_port()}")
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{ready.telegram_api_url}/bot{ready.telegram_token}/setWebhook",
            json={"url": f"{PUBLIC_URL}/telegram/webhook", "secret_token": "s3cret"},
        )
        assert answer.json()["ok"], answer.text
    found = await run(ready)
    assert status_of(found, "webhook") == WARNING
    assert "this bot polls" in found["webhook"][0].message
    found = await run(ready, webhook=True)  # the mode the operator says the bot runs in
    assert status_of(found, "webhook") == OK


async def test_webhook_mode_without_a_webhook_or_with_delivery_errors(ready, telegram):
    found = await run(ready, webhook=True)
    assert status_of(found, "webhook") == WARNING and "not set yet" in found["webhook"][0].message
    found = await run(replace_settings(ready, public_url=None), webhook=True)
    assert status_of(found, "webhook") == ERROR

    # Telegram could not deliver to the URL: its last error is reported.
    dead = "https://dead.openflyers.example"
    telegram.route_webhook(dead, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    async with httpx.AsyncClient() as client:
        await client.post(
            f"{ready.telegram_api_url}/bot{ready.telegram_token}/setWebhook",
            json={"url": f"{dead}/telegram/webhook"},
        )
    telegram.add_user(1009, "Zoé")
    await telegram.send_text(1009, "/start")
    async with asyncio.timeout(15):
        while True:
            found = await run(replace_settings(ready, public_url=dead), webhook=True)
            if "webhook delivery" in found:
                break
            await asyncio.sleep(0.2)
    assert status_of(found, "webhook delivery") == ERROR


async def test_a_stripe_key_stripe_refuses(ready):
    found = await run(replace_settings(ready, stripe_secret_key="sk_test_not_the_right_one"))
    assert (
        status_of(found, "stripe key") == ERROR
        and "refuses the key" in found["stripe key"][0].message
    )


async def test_no_stripe_endpoint_for_the_public_url(ready):
    found = await run(replace_settings(ready, public_url="https://elsewhere.example"))
    assert status_of(found, "stripe endpoint") == ERROR
    assert "no endpoint registered for https://elsewhere.example/stripe/webhook" in (
        found["stripe endpoint"][0].message
    )


async def test_a_stripe_endpoint_missing_events(ready, stripe):
    url = "https://other.example/stripe/webhook"
    stripe.add_webhook_endpoint(url, EVENTS[:2])
    found = await run(replace_settings(ready, public_url="https://other.example"))
    assert status_of(found, "stripe endpoint") == ERROR
    message = found["stripe endpoint"][0].message
    assert "checkout.session.async_payment_failed" in message and "expired" in message


async def test_an_endpoint_rendering_events_in_another_api_version(ready, stripe):
    """Stripe renders events in the endpoint's `api_version` (Stripe API reference, Webhook
    Endpoints): one other than the version the bot reads is an error."""
    [endpoint] = stripe.webhook_endpoints.values()
    endpoint["api_version"] = "2025-03-31.basil"
    found = await run(ready)
    assert status_of(found, "stripe events version") == ERROR
    line = found["stripe events version"][0]
    assert "2025-03-31.basil" in line.message and STRIPE_API_VERSION in line.fix


async def test_an_account_default_version_other_than_the_bots_is_reported(ready, stripe):
    """No version on the endpoint: events follow the account's default, seen on its events."""
    stripe.api_version = "2025-03-31.basil"  # the account's default (Dashboard › Developers)
    client = StripeClient(
        ready.stripe_secret_key,
        base_addresses={"api": stripe.base_url},
        http_client=HTTPXClient(),
        max_network_retries=0,
    )
    session = await client.v1.checkout.sessions.create_async(
        {
            "mode": "payment",
            "success_url": "https://club.example/ok",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "eur",
                        "unit_amount": 1000,
                        "product_data": {"name": "x"},
                    },
                }
            ],
        }
    )
    await client.v1.checkout.sessions.expire_async(session.id)  # an event
    found = await run(ready)
    assert status_of(found, "stripe events version") == WARNING
    assert "2025-03-31.basil" in found["stripe events version"][0].message


async def test_no_webhook_secret(ready):
    found = await run(replace_settings(ready, stripe_webhook_secret=None))
    assert status_of(found, "stripe webhook secret") == ERROR


async def test_an_smtp_relay_that_is_down(ready):
    found = await run(replace_settings(ready, smtp_port=free_port()))
    assert status_of(found, "smtp") == ERROR and "cannot connect" in found["smtp"][0].message


async def test_an_smtp_relay_refusing_the_login(ready, relay):
    found = await run(replace_settings(ready, smtp_password="wrong-password"), relay)
    assert status_of(found, "smtp") == ERROR and "refuses the login" in found["smtp"][0].message
    assert "wrong-password" not in found["smtp"][0].line()


async def test_an_smtp_relay_whose_certificate_is_not_trusted(ready):
    found = await run(ready)  # the system's CAs do not know the sandbox relay's
    assert status_of(found, "smtp") == ERROR and "STARTTLS" in found["smtp"][0].message


async def test_an_smtp_relay_without_tls(ready, smtp):
    found = await run(replace_settings(ready, smtp_port=smtp.port, smtp_user=None))
    assert status_of(found, "smtp") == WARNING and "in clear" in found["smtp"][0].message


async def test_the_sample_catalogue_and_a_broken_one(ready, tmp_path):
    found = await run(replace_settings(ready, catalogue=DEFAULT_CATALOGUE))
    assert status_of(found, "catalogue") == WARNING and "sample" in found["catalogue"][0].message
    broken = tmp_path / "broken.toml"
    broken.write_text("currency = ", encoding="utf-8")
    found = await run(replace_settings(ready, catalogue=broken))
    assert status_of(found, "catalogue") == ERROR


def damage(path) -> None:
    with open(path, "r+b") as handle:  # overwrite pages past the header
        handle.seek(4096 * 2)
        handle.write(os.urandom(4096 * 3))


async def test_a_damaged_database(ready):
    damage(ready.db)
    found = await run(ready)
    assert status_of(found, "database") == ERROR
    assert "ofbot db restore" in found["database"][0].fix


async def test_pending_and_unknown_migrations(ready):
    conn = sqlite3.connect(ready.db)
    conn.execute(
        "DELETE FROM schema_migrations WHERE number = (SELECT max(number) FROM schema_migrations)"
    )
    conn.commit()
    found = await run(ready)
    assert (
        status_of(found, "database") == WARNING and "ofbot db migrate" in found["database"][0].fix
    )
    conn.execute("INSERT INTO schema_migrations (number, name) VALUES (999, '999_future.sql')")
    conn.commit()
    conn.close()
    found = await run(ready)
    assert status_of(found, "database") == ERROR and "newer ofbot" in found["database"][0].message


async def test_no_database_yet_and_no_clubs(ready, tmp_path):
    found = await run(replace_settings(ready, db=tmp_path / "none" / "ofbot.sqlite3"))
    assert status_of(found, "database") == WARNING
    from storage.db import open_database

    empty = tmp_path / "empty.sqlite3"
    await (await open_database(empty)).close()
    found = await run(replace_settings(ready, db=empty))
    assert status_of(found, "club records") == WARNING


async def test_no_backup_dir_or_an_old_backup(ready):
    found = await run(replace_settings(ready, backup_dir=None))
    assert status_of(found, "backups") == WARNING and "OFBOT_BACKUP_DIR" in found["backups"][0].fix
    (newest,) = list_backups(ready.backup_dir)
    os.utime(newest, (0, 0))
    found = await run(ready)
    assert status_of(found, "backups") == WARNING and "days old" in found["backups"][0].message


async def test_low_disk_space(ready):
    found = await run(ready, disk_error_bytes=1 << 62)
    assert status_of(found, "disk (database)") == ERROR


def doctor_cli(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "doctor", *args],
        env=bot_environment(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_command_prints_one_line_per_check_and_its_exit_status(ready, smtp):
    # The command trusts the system's CAs only: the plain sandbox relay (a warning) stands in.
    ready = replace_settings(ready, smtp_port=smtp.port, smtp_user=None, smtp_password=None)
    done = await asyncio.to_thread(doctor_cli, ready)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1].endswith("0 error(s), 2 warning(s)"), done.stdout
    assert all(line.split()[0] in ("ok", "warning", "error") for line in lines[:-1])

    failing = replace_settings(ready, staff_chat_id=-1009999999999)
    done = await asyncio.to_thread(doctor_cli, failing)
    assert done.returncode == 1, done.stdout
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("error")]
    assert "staff group" in line and "→" in line
    for secret in (ready.telegram_token, ready.stripe_secret_key):
        assert secret not in done.stdout + done.stderr
    assert STAFF_CHAT  # the group of the sandbox is the one configured in `ready`
