"""scripts/_venv as a newcomer meets it on the first `./scripts/start`: it says what it installs
and how long that takes, keeps pip's output to a log, and shows that log only when pip fails."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Stands in for `python3`: `-m venv DIR` makes DIR/bin/python, a pip that prints noise and fails
# on the project install when FAIL_INSTALL is set.
FAKE_PYTHON = """#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin"
  cat > "$3/bin/python" <<'INNER'
#!/bin/sh
echo "Collecting some-package (noise from pip)"
case "$*" in
  *" -e "*) if [ -n "$FAIL_INSTALL" ]; then echo "ERROR: No matching distribution for stripe"; exit 1; fi ;;
esac
exit 0
INNER
  chmod +x "$3/bin/python"
  exit 0
fi
exit 2
"""


def _source_venv(tmp_path: Path, *, fail: bool) -> subprocess.CompletedProcess:
    fake = tmp_path / "python3"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    env = {
        "PATH": os.environ["PATH"],
        "OFBOT_VENV": str(tmp_path / "venv"),
        "PYTHON": str(fake),
        **({"FAIL_INSTALL": "1"} if fail else {}),
    }
    return subprocess.run(
        ["bash", "-c", f"source {ROOT / 'scripts' / '_venv'} && echo SOURCED"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_first_run_says_what_it_installs_and_keeps_pip_quiet(tmp_path):
    done = _source_venv(tmp_path, fail=False)
    assert done.returncode == 0, done.stderr
    assert "SOURCED" in done.stdout
    assert "First run: installing ofbot" in done.stderr
    assert "minutes" in done.stderr
    assert "noise from pip" not in done.stdout + done.stderr
    assert (tmp_path / "venv" / ".ofbot-installed").exists()
    # A second run installs nothing and says nothing.
    again = _source_venv(tmp_path, fail=False)
    assert again.returncode == 0 and again.stderr == ""


def test_a_failed_install_shows_pips_log(tmp_path):
    done = _source_venv(tmp_path, fail=True)
    assert done.returncode != 0
    assert "SOURCED" not in done.stdout
    assert "Installation failed" in done.stderr
    assert "No matching distribution for stripe" in done.stderr
    assert not (tmp_path / "venv" / ".ofbot-installed").exists()
