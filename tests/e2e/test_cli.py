"""The `ofbot` command line as an operator uses it: migrate, import (all or nothing), show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "bot" / "data" / "clubs.csv"


def ofbot(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFBOT_")}
    env["OFBOT_DB"] = str(tmp_path / "ofbot.sqlite3")
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


def test_unknown_file(tmp_path):
    result = ofbot(tmp_path, "clubs", "import", str(tmp_path / "none.csv"))
    assert result.returncode == 1 and "no such file" in result.stderr
