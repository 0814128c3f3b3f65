"""The sandbox page's server side without a browser: Telegram entities drawn as safe HTML, links
filtered, the page's API refusing other sites, and live streams that end when the server stops."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import httpx
import pytest

from bot.sandbox.web import SandboxWeb, entities_to_html, page_message, safe_href, start_web


def entity(kind: str, offset: int, length: int, **extra) -> dict:
    return {"type": kind, "offset": offset, "length": length, **extra}


def test_text_is_escaped_and_only_entities_become_markup():
    text = '<script>alert(1)</script> & "quotes" bold'
    html = entities_to_html(text, [entity("bold", 37, 4)])
    assert html == ("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot; <b>bold</b>")


def test_offsets_count_utf16_units_like_telegram():
    # "✈️" is 2 UTF-16 units, "🛩" is 2 (a surrogate pair): the bold word must stay whole.
    text = "🛩 vol ✈️ payé"
    html = entities_to_html(text, [entity("bold", 10, 4)])
    assert html == "🛩 vol ✈️ <b>payé</b>"


def test_nested_and_crossing_entities_stay_well_formed():
    assert entities_to_html("abcdef", [entity("bold", 0, 6), entity("italic", 2, 2)]) == (
        "<b>ab<i>cd</i>ef</b>"
    )
    assert entities_to_html("abcdef", [entity("bold", 0, 4), entity("italic", 2, 4)]) == (
        "<b>ab<i>cd</i></b><i>ef</i>"
    )


def test_links_are_kept_only_when_safe():
    good = entities_to_html("pay", [entity("text_link", 0, 3, url="https://pay.example/x?a=1&b=2")])
    assert good == (
        '<a href="https://pay.example/x?a=1&amp;b=2" target="_blank" '
        'rel="noopener noreferrer">pay</a>'
    )
    bad = entities_to_html("pay", [entity("text_link", 0, 3, url="javascript:alert(1)")])
    assert bad == "<span>pay</span>"
    quoted = entities_to_html("x", [entity("text_link", 0, 1, url='https://a.example/"><img>')])
    assert "<img>" not in quoted and "&quot;&gt;&lt;img&gt;" in quoted
    assert safe_href("mermoz.openflyers.fr") == "https://mermoz.openflyers.fr"
    assert safe_href("data:text/html,hi") is None
    assert safe_href("https://ok.example/\nx") is None


def test_entities_out_of_range_are_ignored():
    assert entities_to_html("abc", [entity("bold", 2, 5), entity("bold", -1, 1)]) == "abc"
    assert entities_to_html("abc", [{"type": "bold"}]) == "abc"


def test_page_message_shows_buttons_documents_and_replies():
    message = {
        "message_id": 7,
        "chat": {"id": -100},
        "from": {"id": 9001, "first_name": "Alice", "is_bot": False},
        "date": 1,
        "caption": "Facture",
        "document": {"file_id": "BQ/1", "file_name": "OF-2026-000001.pdf", "file_size": 10},
        "reply_to_message": {
            "message_id": 3,
            "from": {"id": 1, "first_name": "Bot", "is_bot": True},
            "text": "a  question\nfrom mermoz",
        },
        "reply_markup": {
            "inline_keyboard": [
                [
                    {"text": "Pay", "url": "javascript:alert(1)"},
                    {"text": "Ok", "callback_data": "k"},
                ]
            ]
        },
        "edit_date": 2,
    }
    shown = page_message(message)
    assert shown["document"]["url"] == "/files/BQ%2F1"
    assert shown["html"] == "Facture"
    assert shown["reply_to"] == {"id": 3, "from": "Bot", "text": "a question from mermoz"}
    assert shown["buttons"] == [[{"text": "Pay"}, {"text": "Ok", "data": "k"}]]
    assert shown["edited"] is True
    assert page_message(message, edited=False)["edited"] is False


# -- the app, over a minimal stand-in for the sandbox -------------------------------------------


class _Queues:
    def __init__(self) -> None:
        self.queues: list[asyncio.Queue] = []

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        self.queues.append(queue)
        return queue

    def unsubscribe(self, queue) -> None:
        self.queues.remove(queue)


class _Telegram(_Queues):
    def __init__(self) -> None:
        super().__init__()
        self.bot_user = {"id": 1, "is_bot": True, "first_name": "Bot"}

    def chats(self):
        return []

    def messages(self, chat_id):
        return []


class _Mailbox(_Queues):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict] = []


@dataclasses.dataclass
class _Sandbox:
    telegram: _Telegram
    smtp: _Mailbox
    settings: object = dataclasses.field(
        default_factory=lambda: type("S", (), {"staff_user_ids": frozenset()})()
    )

    @property
    def clock(self):
        from zoneinfo import ZoneInfo

        from bot.clock import Clock

        return Clock(ZoneInfo("Europe/Paris"))

    async def run_reminders(self):
        raise ModuleNotFoundError("No module named 'bot.reminders'")


@pytest.fixture
def fake_sandbox():
    return _Sandbox(_Telegram(), _Mailbox())


async def test_other_sites_cannot_drive_the_sandbox(fake_sandbox):
    web = SandboxWeb(fake_sandbox)
    transport = httpx.ASGITransport(app=web.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9") as client:
        refused = await client.post(
            "/api/clock", json={"days": 1}, headers={"Origin": "http://evil.example"}
        )
        assert refused.status_code == 403
        rebinding = await client.get("/api/state", headers={"Host": "evil.example"})
        assert rebinding.status_code == 400
        page = await client.get("/")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_reminders_failure_is_reported_not_hidden(fake_sandbox):
    web = SandboxWeb(fake_sandbox)
    transport = httpx.ASGITransport(app=web.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9") as client:
        answer = await client.post("/api/reminders")
    assert answer.status_code == 500
    assert "No module named 'bot.reminders'" in answer.json()["error"]


async def test_a_second_reminders_run_is_refused_in_one_line_and_the_page_says_why(
    fake_sandbox, caplog
):
    """Two clicks on "run reminders": the second meets the run lock (RunInProgress), an
    expected refusal: 409 with a sentence for the page, one INFO line, no traceback."""
    from bot.reminders.pacing import RunInProgress

    async def busy():
        raise RunInProgress()

    fake_sandbox.run_reminders = busy
    web = SandboxWeb(fake_sandbox)
    transport = httpx.ASGITransport(app=web.app)
    with caplog.at_level(logging.DEBUG):
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9") as client:
            answer = await client.post("/api/reminders")
    assert answer.status_code == 409
    assert "already in progress" in answer.json()["error"]
    records = [r for r in caplog.records if r.name.startswith("bot.")]
    assert len(records) == 1, records
    assert records[0].levelno <= logging.WARNING and records[0].exc_info is None


async def test_live_streams_end_when_the_server_stops(fake_sandbox):
    server = await start_web(fake_sandbox)
    async with (
        httpx.AsyncClient(timeout=5) as client,
        client.stream("GET", server.url + "/api/events") as stream,
    ):
        lines = stream.aiter_lines()
        assert await anext(lines) == "retry: 1000"
        stopping = asyncio.create_task(server.stop())
        rest = [line async for line in lines]
        await asyncio.wait_for(stopping, 5)
    assert any(line.startswith("event: state") for line in rest)
    assert fake_sandbox.telegram.queues == [] and fake_sandbox.smtp.queues == []
