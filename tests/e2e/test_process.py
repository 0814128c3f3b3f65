"""`ofbot run` as a real process: resumes a conversation after `kill -9`, stops cleanly on
SIGTERM, serves /healthz and refuses Telegram webhook calls without the secret token."""

from __future__ import annotations

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
    await bot_process.kill()

    await bot_process.start()
    await _say(telegram, code, "vérifié")  # the code step was remembered
    log = bot_process.log_path.read_text()
    assert "mail sent to b•••@m•••.fr" in log
    for secret in (MERMOZ["structure_email"], bot_process.settings.telegram_token, code):
        assert secret not in log


async def test_sigterm_stops_cleanly_and_health_answers(bot_process, telegram):
    await bot_process.start()
    async with httpx.AsyncClient() as client:
        health = await client.get(bot_process.url + "/healthz")
        assert health.json()["status"] == "ok"
        refused = await client.post(bot_process.url + "/telegram/webhook", json={"update_id": 1})
        assert refused.status_code == 403
    assert await bot_process.terminate() == 0
    log = bot_process.log_path.read_text()
    assert "Traceback" not in log
    assert bot_process.settings.telegram_token not in log


async def test_webhook_mode_receives_updates_with_the_secret_token(bot_process, telegram):
    from tests.conftest import replace_settings

    bot_process.settings = replace_settings(
        bot_process.settings, public_url=f"http://127.0.0.1:{bot_process.settings.http_port}"
    )
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
