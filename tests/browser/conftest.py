"""Browser tests of the sandbox page: the whole sandbox in this process, its page served on a
loopback port, and Debian's Chromium driven by Playwright (no browser download, no network).

Skipped, with the reason, when /usr/bin/chromium or Playwright is missing; `.ci/run` installs both.
Deselect them with `-m "not browser"`. Screenshots go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from bot.settings import Settings

CHROMIUM = Path(os.environ.get("OFBOT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is absent (apt-get install chromium; .ci/run does)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives the sandbox page in headless Chromium")


def pytest_collection_modifyitems(config, items):
    reason = _missing()
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # The page fixture reads this to keep a screenshot of a failure.
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
async def sandbox(tmp_path):
    """Everything `ofbot sandbox` starts (fake Telegram, Stripe, SMTP, the real bot), in-process."""
    from bot.sandbox.run import start_sandbox

    started = await start_sandbox(Settings(), tmp_path / "sandbox")
    yield started
    await started.stop()


@pytest.fixture
async def web(sandbox):
    from bot.sandbox.web import start_web

    server = await start_web(sandbox)
    sandbox.return_to(server.url)  # as `ofbot sandbox` does: checkout leads back to this page
    yield server
    await server.stop()


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=15_000)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


class Shots:
    """Screenshots of one test, named tests/artifacts/<test>-<n>-<what>.png."""

    def __init__(self, test_name: str) -> None:
        self.prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.count = 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob(f"{self.prefix}-*.png"):
            old.unlink()

    async def take(self, page, what: str) -> Path:
        self.count += 1
        path = ARTIFACTS / f"{self.prefix}-{self.count:02d}-{what}.png"
        await page.screenshot(path=str(path))
        return path


@pytest.fixture
def shots(request) -> Shots:
    return Shots(request.node.name)


async def _open_page(browser, request, viewport):
    context = await browser.new_context(viewport=viewport, accept_downloads=True, locale="en-GB")
    context.set_default_timeout(15_000)
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def on_console(message) -> None:
        # An API answer with an error status is logged by the browser; it is not a script error.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(f"console error: {message.text}")

    page.on("console", on_console)
    page.problems = problems
    return context, page


@pytest.fixture
async def page(browser, web, request, shots):
    """A desktop-sized tab on the sandbox page, connected to its live updates."""
    context, opened = await _open_page(browser, request, DESKTOP)
    await goto(opened, web.url)
    yield opened
    await _finish(request, shots, opened, context)


@pytest.fixture
async def phone(browser, web, request, shots):
    """A phone-sized tab on the sandbox page."""
    context, opened = await _open_page(browser, request, PHONE)
    await goto(opened, web.url)
    yield opened
    await _finish(request, shots, opened, context)


async def goto(page, url: str) -> None:
    from playwright.async_api import expect

    await page.goto(url + "/")
    await expect(page.locator("#connection")).to_have_text("live")


async def _finish(request, shots: Shots, page, context) -> None:
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        await shots.take(page, "FAILED")
    problems = list(page.problems)
    await context.close()
    # A script error on the page is a failure even when the assertions happened to pass.
    assert not problems, problems


def keep_for_readme(path: Path) -> None:
    """Copy a screenshot to docs/sandbox.png when OFBOT_DOCS_SCREENSHOT=1 (done by hand)."""
    if os.environ.get("OFBOT_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(path, ROOT / "docs" / "sandbox.png")
