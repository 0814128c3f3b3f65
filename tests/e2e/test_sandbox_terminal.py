"""`ofbot sandbox` driven as a person would, through a pseudo-terminal: start it, verify a club
with the code printed from the mailbox, press a button by number, then quit."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Terminal:
    def __init__(self, cwd: Path) -> None:
        self.master, slave = pty.openpty()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OFBOT_")}
        env["TERM"] = "dumb"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "sandbox", "--port", "0"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        self.output = ""

    def read_until(self, pattern: str, timeout: float = 30.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output)
            if match:
                return match
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.output += os.read(self.master, 65536).decode("utf-8", "replace")
                except OSError:
                    break
        raise AssertionError(f"{pattern!r} not seen; screen:\n{self.output[-3000:]}")

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
        os.close(self.master)


def test_a_person_verifies_a_club_in_the_terminal(tmp_path):
    terminal = Terminal(tmp_path)
    try:
        terminal.read_until(r"Say /start")
        terminal.type("/start")
        terminal.read_until(r"adresse de la plateforme")
        terminal.type("mermos")
        terminal.read_until(r"\[#1\] Aéroclub Jean Mermoz")
        terminal.type("#1")
        terminal.read_until(r"adresses e-mail de la fiche client")
        terminal.type("bureau@mermoz.example.fr")
        code = terminal.read_until(r"Votre code : (\d{6})").group(1)
        terminal.read_until(r"Tapez-le ici")
        terminal.type(code)
        terminal.read_until(r"c’est vérifié")
        terminal.read_until(r"Que voulez-vous faire")
        terminal.type(":quit")
        assert terminal.process.wait(30) == 0
        assert "Traceback" not in terminal.output
    finally:
        terminal.close()
