"""Running it for real (docs/OPERATIONS.md): structured logs from `ofbot run`, the systemd unit."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import CLUB_USER_FR, ROOT, read_code, replace_settings, sample_club

MERMOZ = sample_club("mermoz")


async def test_json_logs_from_a_running_bot_are_objects_and_redacted(bot_process, telegram, smtp):
    bot_process.settings = replace_settings(bot_process.settings, log_format="json")
    await bot_process.start()
    await telegram.send_text(CLUB_USER_FR, "/start")
    await telegram.wait_for_bot_message(CLUB_USER_FR, contains="adresse", timeout=15)
    await telegram.send_text(CLUB_USER_FR, "mermoz")
    await telegram.wait_for_bot_message(CLUB_USER_FR, contains=MERMOZ["name"], timeout=15)
    await telegram.send_text(CLUB_USER_FR, MERMOZ["structure_email"])
    code = await read_code(smtp, MERMOZ["structure_email"])
    assert await bot_process.terminate() == 0
    text = bot_process.log_path.read_text(encoding="utf-8")
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert any(e["message"] == "mail sent to b•••@m•••.fr" for e in entries)
    for secret in (MERMOZ["structure_email"], bot_process.settings.telegram_token, code):
        assert secret not in text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is absent")
def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    unit = ROOT / "deploy" / "ofbot.service"
    # verify resolves ExecStart's binary: point it at a stand-in in a copy of the unit.
    ofbot = tmp_path / "ofbot"
    ofbot.write_text("#!/bin/sh\nexit 0\n")
    ofbot.chmod(0o755)
    text = unit.read_text(encoding="utf-8").replace("/opt/ofbot/venv/bin/ofbot", str(ofbot))
    copy = tmp_path / "ofbot.service"
    copy.write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [
        line for line in (result.stdout + result.stderr).splitlines() if "ofbot.service" in line
    ]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
