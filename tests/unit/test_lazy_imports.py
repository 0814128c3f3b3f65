"""Start-up imports only what the first update needs (issue 19 item 4): the libraries of
bot/lazy_imports.py are loaded on first use, and a missing one still stops `ofbot run` at once and
shows in `ofbot doctor`.

The bot is started in a fresh interpreter (this test process has imported everything already):
the real Runtime against the sandbox Bot API, a person's /start answered, then its `sys.modules`
read. No timing here; the time it saves is in bench/startup.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot import lazy_imports
from bot.doctor.checks import ERROR, OK
from bot.doctor.local import LocalChecks
from bot.lazy_imports import LAZY_IMPORTS, missing_libraries

ROOT = Path(__file__).resolve().parents[2]

# Besides bot/lazy_imports.py's list: what `stripe` brings along, and prometheus_client when
# OFBOT_METRICS_TOKEN is unset (no GET /metrics: bot/metrics.py).
ALSO_NOT_AT_START = ("requests", "urllib3", "charset_normalizer", "prometheus_client")

START_AND_ANSWER = textwrap.dedent(
    """
    import asyncio, json, sys, tempfile
    from pathlib import Path

    from bot.sandbox.smtp import start_smtp
    from bot.sandbox.telegram import start_fake_telegram

    LIBRARIES = json.loads(sys.argv[1])

    async def main():
        fake, server = await start_fake_telegram(token="123456:TEST-token_abcdefghijklmnopqrstuv")
        fake.add_user(1001, "Jeanne", language_code="fr")
        smtp = await start_smtp()
        before = sorted(name for name in LIBRARIES if name in sys.modules)
        from bot.runtime import Runtime
        from bot.settings import Settings

        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                telegram_token="123456:TEST-token_abcdefghijklmnopqrstuv",
                telegram_api_url=server.url,
                db=Path(tmp) / "ofbot.sqlite3",
                smtp_host=smtp.host,
                smtp_port=smtp.port,
                smtp_from="OpenFlyers <no-reply@openflyers.example>",
                http_port=0,
                stripe_secret_key="sk_test_sandbox",
                stripe_webhook_secret="whsec_sandbox",
                stripe_api_url="http://127.0.0.1:9",
            )
            runtime = Runtime(settings)
            await runtime.start()
            try:
                await fake.send_text(1001, "/start")
                answer = await fake.wait_for_bot_message(1001, timeout=30)
                after = sorted(name for name in LIBRARIES if name in sys.modules)
            finally:
                await runtime.stop()
        await server.stop()
        smtp.stop()
        print(json.dumps({"before": before, "after": after, "answered": bool(answer["text"])}))

    asyncio.run(main())
    """
)


def _run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run `script` in a fresh interpreter from the project's root, with no OFBOT_ setting."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("OFBOT_")},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_starting_the_bot_and_answering_a_first_update_imports_none_of_them():
    libraries = [*LAZY_IMPORTS, *ALSO_NOT_AT_START]
    done = _run_script(START_AND_ANSWER, json.dumps(libraries))
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["before"] == []  # the stand-ins load none of them: the check below means something
    assert seen["answered"]
    assert seen["after"] == []


def test_importing_the_command_line_loads_no_command_body():
    # `ofbot run` pays only for what it runs: the reminders' and the doctor's modules wait. And
    # what bot.cli imports at module level is imported before `main` turns the GC off.
    code = (
        "import sys, bot.cli; "
        "print(sorted(m for m in sys.modules if m.startswith(('bot.commands.', 'bot.doctor', "
        "'bot.reminders', 'bot.runtime', 'telegram'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_lazy_library_is_installed():
    assert missing_libraries() == []


@pytest.fixture
def one_missing(monkeypatch):
    monkeypatch.setitem(
        lazy_imports.LAZY_IMPORTS, "ofbot_no_such_library", "a feature that needs it (test)"
    )


def test_a_missing_library_is_named_without_importing_the_others(one_missing):
    assert missing_libraries() == ["ofbot_no_such_library, for a feature that needs it (test)"]


async def test_the_doctor_imports_each_and_names_a_missing_one(one_missing):
    (check,) = await LocalChecks().check_libraries()
    assert check.name == "libraries" and check.status == ERROR
    assert "ofbot_no_such_library for a feature that needs it (test)" in check.message
    assert "ModuleNotFoundError" in check.message
    assert "stripe" not in check.message  # the installed ones are not reported


async def test_the_doctor_is_content_when_all_load():
    (check,) = await LocalChecks().check_libraries()
    assert check.status == OK, check.message
    assert all(name in check.message for name in LAZY_IMPORTS)


def test_ofbot_run_stops_at_once_naming_a_missing_library(tmp_path):
    # A copy of the list with one library that is not installed, seen by a real `ofbot run`.
    wrapper = (
        "import runpy, sys\n"
        "from bot import lazy_imports\n"
        "lazy_imports.LAZY_IMPORTS['ofbot_no_such_library'] = 'a feature that needs it'\n"
        "sys.argv = ['ofbot', 'run']\n"
        "runpy.run_module('bot.cli', run_name='__main__')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFBOT_")}
    env.update(
        OFBOT_TELEGRAM_TOKEN="123456:TEST-token_abcdefghijklmnopqrstuv",
        OFBOT_TELEGRAM_API_URL="http://127.0.0.1:9",
        OFBOT_DB=str(tmp_path / "ofbot.sqlite3"),
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "ofbot: not installed: ofbot_no_such_library, for a feature that needs it. "
        "Install ofbot again"
    ]
    assert not (tmp_path / "ofbot.sqlite3").exists()  # stopped before touching anything


RUN_AND_STOP = textwrap.dedent(
    """
    import asyncio, gc, json, os, sys, tempfile, threading

    from bot.sandbox.telegram import start_fake_telegram

    TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuv"
    up, where = threading.Event(), {}

    def stand_in():  # the fake Bot API on its own loop: `ofbot run` makes its own
        async def serve():
            fake, server = await start_fake_telegram(token=TOKEN)
            where["url"] = server.url
            up.set()
            await asyncio.Event().wait()

        asyncio.new_event_loop().run_until_complete(serve())

    threading.Thread(target=stand_in, daemon=True).start()
    up.wait(30)

    import bot.cli
    import bot.runtime

    seen = {"enabled_at_import": gc.isenabled()}
    original_start = bot.runtime.Runtime.start

    async def start(self):
        seen["enabled_while_starting"] = gc.isenabled()
        await original_start(self)

    async def serve_once(start, stop):  # `ofbot run` up to its first wait for a signal
        try:
            await start()
            seen["enabled_once_running"] = gc.isenabled()
            seen["frozen"] = gc.get_freeze_count()
        finally:
            await stop()
        return 0

    bot.runtime.Runtime.start = start
    bot.cli._serve_until_signal = serve_once
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(
            OFBOT_TELEGRAM_TOKEN=TOKEN,
            OFBOT_TELEGRAM_API_URL=where["url"],
            OFBOT_DB=os.path.join(tmp, "ofbot.sqlite3"),
            OFBOT_HTTP_PORT="0",
        )
        seen["code"] = bot.cli.main(["run"])
    print(json.dumps(seen))
    """
)


def test_ofbot_run_starts_with_the_gc_off_then_freezes_what_start_up_built_and_turns_it_on():
    # Off for start-up only: a bot left with the cyclic collector off would never free cycles.
    done = _run_script(RUN_AND_STOP)
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0, done.stderr
    assert seen["enabled_at_import"] is True
    assert seen["enabled_while_starting"] is False
    assert seen["enabled_once_running"] is True
    assert seen["frozen"] > 10_000  # the modules, PTB's objects: out of every later collection


@pytest.mark.parametrize("library", ["prometheus_client", "dotenv"])
def test_libraries_of_optional_features_are_checked_too(monkeypatch, library):
    """/metrics (with a token) and a .env file import theirs late as well: a missing one is
    named at start, not raised as a traceback once the feature is used."""
    from bot.lazy_imports import missing_libraries

    monkeypatch.setitem(sys.modules, library, None)  # as if not installed
    assert any(line.startswith(f"{library}, for ") for line in missing_libraries())
