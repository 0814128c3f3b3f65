"""The `ofbot` command line as an operator uses it: migrate, import (all or nothing), show."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "bot" / "data" / "clubs.csv"


def ofbot(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFBOT_")}
    env["OFBOT_DB"] = str(tmp_path / "ofbot.sqlite3")
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_is_idempotent(tmp_path):
    first = ofbot(tmp_path, "db", "migrate")
    assert first.returncode == 0 and "001_core.sql" in first.stdout
    again = ofbot(tmp_path, "db", "migrate")
    assert again.returncode == 0 and "up to date" in again.stdout


def test_import_then_show(tmp_path):
    result = ofbot(tmp_path, "clubs", "import", str(SAMPLE))
    assert result.returncode == 0, result.stderr
    rows = len(SAMPLE.read_text(encoding="utf-8").strip().splitlines()) - 1
    assert f"imported: {rows} created" in result.stdout
    again = ofbot(tmp_path, "clubs", "import", str(SAMPLE))
    assert f"{rows} unchanged" in again.stdout
    shown = ofbot(tmp_path, "clubs", "show", "MERMOZ")
    assert shown.returncode == 0
    assert "subdomain: mermoz" in shown.stdout and "plan: business" in shown.stdout
    missing = ofbot(tmp_path, "clubs", "show", "nowhere")
    assert missing.returncode == 1 and "nowhere" in missing.stderr


def test_bad_file_is_reported_by_line_and_nothing_is_imported(tmp_path):
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("@", "-at-", 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ofbot(tmp_path, "clubs", "import", str(bad))
    assert result.returncode == 1
    assert f"{bad}:4:" in result.stderr and "nothing imported" in result.stderr
    shown = ofbot(tmp_path, "clubs", "show", "mermoz")
    assert shown.returncode == 1  # the good rows were not imported either


def test_a_count_too_large_is_named_with_the_maximum(tmp_path):
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("active_resources")] = "99999999999999999999"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], ",".join(cells)]) + "\n", encoding="utf-8")
    result = ofbot(tmp_path, "clubs", "import", str(bad))
    assert result.returncode == 1
    assert (
        f"{bad}:2: active_resources 99999999999999999999 is too large (at most 100000)"
        in result.stderr.splitlines()
    )


def test_unknown_file(tmp_path):
    result = ofbot(tmp_path, "clubs", "import", str(tmp_path / "none.csv"))
    assert result.returncode == 1 and "no such file" in result.stderr


# --- a failure is one line, never a traceback (SPEC §6) ---------------------------------------

TOKEN = "123456:" + "A" * 35


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_missing_catalogue_is_a_setting_error(tmp_path):
    result = ofbot(tmp_path, "run", OFBOT_TELEGRAM_TOKEN=TOKEN, OFBOT_CATALOGUE="/nonexistent.toml")
    assert result.returncode == 2
    assert one_line(result).startswith("ofbot: setting OFBOT_CATALOGUE: /nonexistent.toml")


def test_an_unreachable_bot_api_at_start_is_one_line(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    api = f"http://127.0.0.1:{port}"
    result = ofbot(tmp_path, "run", OFBOT_TELEGRAM_TOKEN=TOKEN, OFBOT_TELEGRAM_API_URL=api)
    assert result.returncode == 1
    assert one_line(result).startswith(f"ofbot: the Telegram Bot API at {api} failed:")


def test_an_export_to_a_missing_directory_is_one_line(tmp_path):
    target = tmp_path / "nonexistent" / "x.csv"
    args = ("invoices", "export", "--from", "2026-01-01", "--to", "2026-12-31")
    result = ofbot(tmp_path, *args, "--output", str(target))
    assert result.returncode == 1
    assert one_line(result).startswith(f"ofbot: {target}")


def test_a_closed_pipe_is_quiet(tmp_path):
    assert ofbot(tmp_path, "clubs", "import", str(SAMPLE)).returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFBOT_")}
    env["OFBOT_DB"] = str(tmp_path / "ofbot.sqlite3")
    # `ofbot clubs show mermoz | head -0`: the reader is gone before the first line.
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", "clubs", "show", "mermoz"],
            env=env,
            cwd=tmp_path,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(writer)
    assert result.stderr == ""
    assert result.returncode != 0


def test_a_bot_api_timing_out_during_reconcile_is_one_line(tmp_path):
    assert ofbot(tmp_path, "db", "migrate").returncode == 0
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        api = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = ofbot(
            tmp_path,
            "payments",
            "reconcile",
            OFBOT_TELEGRAM_TOKEN=TOKEN,
            OFBOT_TELEGRAM_API_URL=api,
            OFBOT_STRIPE_SECRET_KEY="sk_test_unreachable",
            OFBOT_STRIPE_API_URL=api,
        )
    assert result.returncode == 1
    assert one_line(result) == f"ofbot: the Telegram Bot API at {api} failed: Timed out"
