"""`ofbot run` as a real process: resumes a conversation after `kill -9`, stops cleanly on
SIGTERM, serves /healthz and refuses Telegram webhook calls without the secret token."""

from __future__ import annotations

import asyncio
import threading

import httpx

from tests.conftest import CLUB_USER_FR, read_code, sample_club

MERMOZ = sample_club("mermoz")


async def _say(telegram, text: str, contains: str, timeout: float = 15.0) -> dict:
    last = max((m["message_id"] for m in telegram.messages(CLUB_USER_FR)), default=0)
    await telegram.send_text(CLUB_USER_FR, text)
    return await telegram.wait_for_bot_message(
        CLUB_USER_FR, after=last, contains=contains, timeout=timeout
    )


async def test_conversation_resumes_after_kill_9(bot_process, telegram, smtp):
    await bot_process.start()
    await _say(telegram, "/start", "l’adresse de la plateforme")
    await _say(telegram, "mermoz", MERMOZ["name"])
    await _say(telegram, MERMOZ["structure_email"], "6 chiffres")
    code = await read_code(smtp, MERMOZ["structure_email"])
    for _ in range(100):  # the mail goes out after the reply: its log line follows the relay's
        if "mail sent to b•••@m•••.fr" in bot_process.log_path.read_text():
            break
        await asyncio.sleep(0.05)
    log = bot_process.log_path.read_text()
    assert "mail sent to b•••@m•••.fr" in log
    await bot_process.kill()

    await bot_process.start()
    await _say(telegram, code, "vérifié")  # the code step was remembered
    log += bot_process.log_path.read_text()
    for secret in (MERMOZ["structure_email"], bot_process.settings.telegram_token, code):
        assert secret not in log


async def test_the_code_step_answers_while_the_mail_hangs_and_kill_9_loses_no_mail(
    bot_process, telegram, smtp
):
    """The reply never waits for the mail relay: with the relay hanging on the code's mail, the
    person is told at once that a code is on its way. The mail waits in the outbox (written with
    the code, in one transaction): killed with -9 while the relay hangs, the bot sends it after
    the restart, once, and the code works; the update is not handled a second time."""
    await bot_process.start()
    await _say(telegram, "/start", "l’adresse de la plateforme")
    await _say(telegram, "mermoz", MERMOZ["name"])
    inside = threading.Event()
    original = smtp.mailbox.handle_DATA

    async def hang(server, session, envelope):
        inside.set()
        await asyncio.sleep(60)

    smtp.mailbox.handle_DATA = hang
    await _say(telegram, MERMOZ["structure_email"], "6 chiffres")  # answered, mail still hanging
    assert await asyncio.to_thread(inside.wait, 15)
    assert smtp.mailbox.messages_to(MERMOZ["structure_email"]) == []
    await bot_process.kill()
    smtp.mailbox.handle_DATA = original

    await bot_process.start()
    code = await read_code(smtp, MERMOZ["structure_email"])
    await _say(telegram, code, "vérifié")
    sent = [m for m in telegram.bot_messages(CLUB_USER_FR) if "6 chiffres" in (m["text"] or "")]
    assert len(sent) == 1 and len(smtp.mailbox.messages_to(MERMOZ["structure_email"])) == 1


async def test_an_update_confirmed_to_telegram_survives_kill_9_before_its_answer(
    bot_process, telegram
):
    """Polling confirms updates as soon as they are stored (long polling stays long): killed
    with -9 while its answer hangs at the Bot API, the update is no longer held by Telegram, and
    the bot handles it from its inbox after the restart, once."""
    await bot_process.start()
    await _say(telegram, "/start", "l’adresse de la plateforme")
    sends = telegram.calls.get("sendmessage", 0)
    telegram.inject_fault("sendMessage", "timeout", delay=60)
    await telegram.send_text(CLUB_USER_FR, "mermoz")
    for _ in range(300):
        if telegram.calls.get("sendmessage", 0) > sends:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the bot never answered")
    token = bot_process.settings.telegram_token
    async with httpx.AsyncClient() as client:
        for _ in range(100):  # the next poll confirms it
            info = (await client.get(f"{telegram.url}/bot{token}/getWebhookInfo")).json()
            if info["result"]["pending_update_count"] == 0:
                break
            await asyncio.sleep(0.05)
    assert info["result"]["pending_update_count"] == 0
    await bot_process.kill()

    await bot_process.start()
    await telegram.wait_for_bot_message(CLUB_USER_FR, contains=MERMOZ["name"], timeout=15)
    await _say(telegram, MERMOZ["structure_email"], "6 chiffres")  # the step moved on


async def test_sigterm_stops_cleanly_and_health_answers(bot_process, telegram):
    await bot_process.start()
    await _say(telegram, "/start", "l’adresse de la plateforme")
    async with httpx.AsyncClient() as client:
        health = await client.get(bot_process.url + "/healthz")
        assert health.json()["status"] == "ok"
        # Polling: the webhook endpoint checks a call as in webhook mode (secret token, body),
        # then answers 409 Conflict: the update is not taken (a forged high update_id would move
        # the getUpdates offset past updates not fetched yet).
        url = bot_process.url + "/telegram/webhook"
        secret = {"X-Telegram-Bot-Api-Secret-Token": bot_process.settings.telegram_secret_token}
        forged = {
            "update_id": 10**12,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 1, "type": "private"},
                "text": "/start",
            },
        }
        missing = await client.post(url, json={"update_id": 1})
        wrong = await client.post(
            url, json={"update_id": 1}, headers={"X-Telegram-Bot-Api-Secret-Token": "x" * 40}
        )
        bad = await client.post(url, content=b"[1]", headers=secret)
        large = await client.post(url, content=b" " * (1024 * 1024 + 1), headers=secret)
        conflict = await client.post(url, json=forged, headers=secret)
        assert missing.status_code == wrong.status_code == 403
        assert bad.status_code == 400 and large.status_code == 413
        assert conflict.status_code == 409
        assert "long polling" in conflict.json()["error"] and conflict.json()["ok"] is False
    # The forged update was not taken: the offset did not jump, the next message is answered.
    await _say(telegram, "mermoz", MERMOZ["name"])
    assert await bot_process.terminate() == 0
    log = bot_process.log_path.read_text()
    assert "Traceback" not in log
    assert bot_process.settings.telegram_token not in log
    # Every update handled was confirmed to Telegram on the way out: none comes back.
    token = bot_process.settings.telegram_token
    async with httpx.AsyncClient() as client:
        info = (await client.get(f"{telegram.url}/bot{token}/getWebhookInfo")).json()
    assert info["result"]["pending_update_count"] == 0


async def test_webhook_mode_receives_updates_with_the_secret_token(bot_process, telegram):
    from tests.conftest import replace_settings

    # Telegram calls HTTPS on 443/80/88/8443 only: a TLS proxy in front forwards to the bot.
    public = "https://ofbot.example.org:8443"
    telegram.route_webhook(public, f"http://127.0.0.1:{bot_process.settings.http_port}")
    bot_process.settings = replace_settings(bot_process.settings, public_url=public)
    await bot_process.start("--webhook")
    await _say(telegram, "/start", "l’adresse de la plateforme")
    await _say(telegram, "mermoz", MERMOZ["name"])
    async with httpx.AsyncClient() as client:
        wrong = await client.post(
            bot_process.url + "/telegram/webhook",
            json={"update_id": 99, "message": {}},
            headers={"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"},
        )
    assert wrong.status_code == 403
