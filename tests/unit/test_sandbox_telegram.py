"""The sandbox Bot API server, driven over loopback HTTP by python-telegram-bot itself and httpx:
what it accepts, what it rejects with Telegram's texts, long polling, webhooks, the user side."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    MessageOriginHiddenUser,
    MessageOriginUser,
    ReplyParameters,
)
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import HTTPXRequest

from bot.sandbox.serve import serving
from bot.sandbox.telegram import (
    EntityParseError,
    FakeTelegram,
    format_text,
    parse_html,
    parse_multipart,
    start_fake_telegram,
    utf16_len,
)

TOKEN = "654321:UNIT-test_token"
JEANNE, JOHN, ALICE, OUTSIDER = 1001, 1002, 9001, 9100
STAFF = -1001234567890
PNG = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x20\0\0\0\x10" + b"\0" * 16


class ManualClock:
    """A monotonic clock the test moves by hand, so rate limits and expiries need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class Sandbox:
    fake: FakeTelegram
    url: str
    bot: Bot
    clock: ManualClock

    def api(self, method: str) -> str:
        return f"{self.url}/bot{TOKEN}/{method}"


@contextlib.asynccontextmanager
async def sandbox(**options):
    clock = ManualClock()
    fake, server = await start_fake_telegram(token=TOKEN, clock=clock, **options)
    fake.add_user(JEANNE, "Jeanne", username="jeanne")
    fake.add_user(JOHN, "John", language_code="en", last_name="Smith")
    fake.add_user(ALICE, "Alice")
    fake.add_user(OUTSIDER, "Mallory")
    fake.add_group(STAFF, "OpenFlyers staff", members=[ALICE])
    bot = Bot(TOKEN, base_url=f"{server.url}/bot", base_file_url=f"{server.url}/file/bot")
    try:
        async with bot:
            yield Sandbox(fake, server.url, bot, clock)
    finally:
        await server.stop()


@pytest.fixture
async def tg():
    async with sandbox() as s:
        yield s


def keyboard(*buttons: InlineKeyboardButton) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([list(buttons)])


# -- HTML parse mode ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "text", "entities"),
    [
        ("plain", "plain", []),
        ("<b>gras</b> et <i>italique</i>", "gras et italique", [("bold", 0, 4), ("italic", 8, 8)]),
        ("<B>x</B>", "x", [("bold", 0, 1)]),
        ("a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#x27;", "a <b> & \"c\" 'd'", []),
        ("&lt without semicolon", "< without semicolon", []),
        ("🙂 <b>é🙂</b>", "🙂 é🙂", [("bold", 3, 3)]),
        ("<b>bold <i>both</i></b>", "bold both", [("bold", 0, 9), ("italic", 5, 4)]),
        ("<strong>s</strong><em>e</em><ins>u</ins><del>d</del>", "seud", None),
        ("<code>x &lt; 1</code>", "x < 1", [("code", 0, 5)]),
        ('<tg-spoiler>s</tg-spoiler><span class="tg-spoiler">t</span>', "st", None),
        ("<blockquote expandable>q</blockquote>", "q", [("expandable_blockquote", 0, 1)]),
        ("<b></b>empty", "empty", []),
        ("<b>x</>", "x", [("bold", 0, 1)]),
        ("<b >x</b >", "x", [("bold", 0, 1)]),
        ("a > b", "a > b", []),
    ],
)
def test_html_is_parsed_into_text_and_utf16_entities(markup, text, entities):
    plain, found = parse_html(markup)
    assert plain == text
    if entities is not None:
        assert [(e["type"], e["offset"], e["length"]) for e in found] == entities


def test_html_links_code_languages_and_emoji():
    text, entities = parse_html(
        '<a href="https://openflyers.fr/?a=1&amp;b=2">site</a> '
        '<pre><code class="language-python">x = 1</code></pre> '
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
    )
    assert text == "site x = 1 👍"
    assert entities[0] == {
        "type": "text_link",
        "offset": 0,
        "length": 4,
        "url": "https://openflyers.fr/?a=1&b=2",
    }
    assert entities[1] == {"type": "pre", "offset": 5, "length": 5, "language": "python"}
    assert entities[2]["custom_emoji_id"] == "5368324170671202286"
    _, dropped = parse_html('<a href="javascript:alert(1)">x</a>')
    assert dropped == []


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("é <br>", 'Unsupported start tag "br" at byte offset 3'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("a <b", "Unclosed start tag at byte offset 2"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("<a href=x>y</a>", None),  # a valid name token, not a valid link
        ("<a href>y</a>", 'Expected equal sign in declaration of an attribute of the tag "a"'),
        ('<a ="x">y</a>', 'Empty attribute name in the tag "a"'),
        ("<a href=a/b>y</a>", "Unexpected end of name token at byte offset 8"),
        ("<a>y</a>", 'Tag "a" must have an "href" attribute'),
        ('<span class="x">y</span>', 'Tag "span" must have class "tg-spoiler"'),
        ("Tom & Jerry", 'Unescaped "&" at byte offset 4'),
        ("&nbsp;", 'Unescaped "&" at byte offset 0'),
        ("&#0;", 'Unescaped "&" at byte offset 0'),
        ('<a href="?a=1&b=2">y</a>', 'Unescaped "&" in an attribute of the tag "a"'),
    ],
)
def test_bad_html_is_refused_like_telegram(markup, error):
    if error is None:
        parse_html(markup)
        return
    with pytest.raises(EntityParseError) as caught:
        parse_html(markup)
    assert str(caught.value).startswith(error)


def test_text_is_trimmed_and_entities_follow():
    text, entities = format_text("\n  <b>hi</b> there  \n", "HTML", None)
    assert text == "hi there"
    assert entities == [{"type": "bold", "offset": 0, "length": 2}]
    assert format_text("  *x*  ", "MarkdownV2", None) == ("*x*", [])
    assert utf16_len("a🙂é") == 4


async def test_multipart_bodies_keep_file_bytes_exactly():
    data = b"--not-a-boundary\r\n\r\n\x00\xff\r"
    request = httpx.Request(
        "POST",
        "http://x/",
        data={"chat_id": "1", "caption": "é"},
        files={"document": ("r\u00e9sum\u00e9.pdf", data, "application/pdf")},
    )
    body = request.read()
    fields, uploads = await parse_multipart(body, request.headers["content-type"])
    assert fields == {"chat_id": "1", "caption": "é"}
    assert uploads["document"].data == data
    assert uploads["document"].filename == "résumé.pdf"
    assert uploads["document"].mime_type == "application/pdf"


async def test_a_part_named_only_by_filename_star_is_a_parameter_not_a_file(tg: Sandbox):
    # Telegram's form reader (tdnet HttpReader) takes `name` and `filename` and ignores other
    # Content-Disposition parameters: with only RFC 5987's `filename*`, the part is a plain
    # parameter, so "document" is read as a file id. Starlette's parser reads it the same way.
    body = (
        b"--XX\r\n"
        b'Content-Disposition: form-data; name="chat_id"\r\n\r\n1001\r\n'
        b"--XX\r\n"
        b"Content-Disposition: form-data; name=\"document\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf\r\n"
        b"Content-Type: application/pdf\r\n\r\n%PDF-1.4 bytes\r\n"
        b"--XX--\r\n"
    )
    async with httpx.AsyncClient() as client:
        response = await client.post(
            tg.api("sendDocument"),
            content=body,
            headers={"content-type": "multipart/form-data; boundary=XX"},
        )
    assert response.status_code == 400
    assert response.json()["description"] == "Bad Request: wrong file identifier/HTTP URL specified"
    assert tg.fake.bot_messages(JEANNE) == []


async def test_a_multipart_body_without_boundary_is_a_bad_request(tg: Sandbox):
    async with httpx.AsyncClient() as client:
        response = await client.post(
            tg.api("sendMessage"),
            content=b"chat_id=1001&text=hi",
            headers={"content-type": "multipart/form-data"},
        )
    assert response.status_code == 400
    assert response.json()["description"].startswith("Bad Request: can't parse multipart")


# -- the Bot API through python-telegram-bot --------------------------------------------------------


async def test_get_me_describes_the_sandbox_bot(tg: Sandbox):
    me = await tg.bot.get_me()
    assert me.id == 654321 and me.is_bot
    assert me.first_name == "OpenFlyers (sandbox)"
    assert me.username == "ofbot_sandbox_bot"
    assert me.can_join_groups


async def test_send_message_with_html_and_keyboard_is_stored_as_telegram_would(tg: Sandbox):
    sent = await tg.bot.send_message(
        JEANNE,
        "<b>Bonjour</b> Jeanne &amp; 🙂",
        parse_mode="HTML",
        reply_markup=keyboard(
            InlineKeyboardButton("Renouveler", callback_data="renew"),
            InlineKeyboardButton("Site", url="https://openflyers.fr"),
        ),
    )
    assert sent.text == "Bonjour Jeanne & 🙂"
    assert sent.entities[0].type == "bold" and sent.entities[0].length == 7
    assert sent.chat.id == JEANNE and sent.from_user.is_bot
    stored = tg.fake.last_bot_message(JEANNE)
    assert stored["message_id"] == sent.message_id
    assert stored["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "renew"
    assert stored["_edits"] == 0
    assert tg.fake.stats["delivered"] == {JEANNE: 1}


async def test_parameters_are_read_from_json_forms_and_query_strings(tg: Sandbox):
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    async with httpx.AsyncClient() as client:
        by_json = await client.post(
            tg.api("sendMessage"), json={"chat_id": JEANNE, "text": "json", "reply_markup": markup}
        )
        by_form = await client.post(
            tg.api("sendmessage"),
            data={"chat_id": str(JEANNE), "text": "form", "reply_markup": json.dumps(markup)},
        )
        by_query = await client.get(tg.api("sendMessage"), params={"chat_id": JEANNE, "text": "q"})
    for response, text in ((by_json, "json"), (by_form, "form"), (by_query, "q")):
        assert response.status_code == 200
        body = response.json()
        assert body["ok"] is True and body["result"]["text"] == text
    assert by_form.json()["result"]["reply_markup"] == markup


async def test_wrong_token_and_unknown_method(tg: Sandbox):
    async with httpx.AsyncClient() as client:
        wrong = await client.post(f"{tg.url}/bot1:nope/getMe")
        unknown = await client.post(tg.api("sendSticker2"))
    assert wrong.status_code == 401
    assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    with pytest.raises(InvalidToken):
        async with Bot("1:nope", base_url=f"{tg.url}/bot") as other:
            await other.get_me()


async def test_error_responses_have_telegrams_shape(tg: Sandbox):
    async with httpx.AsyncClient() as client:
        response = await client.post(tg.api("sendMessage"), json={"chat_id": 42, "text": "x"})
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: chat not found",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": ""}, "message text is empty"),
        ({"text": "  \n "}, "message text is empty"),
        ({"text": "<b></b>", "parse_mode": "HTML"}, "message text is empty"),
        ({"text": "x" * 4097}, "message is too long"),
        ({"text": "🙂" * 2049}, "message is too long"),
        ({"text": "<b>x</b>", "parse_mode": "HTML", "chat_id": 424242}, "chat not found"),
        ({"text": "<b>x", "parse_mode": "HTML"}, "can't parse entities: can't find end tag"),
        ({"text": "a < b", "parse_mode": "HTML"}, "can't parse entities: unsupported start tag"),
        (
            {
                "text": "x",
                "reply_markup": keyboard(InlineKeyboardButton("x", callback_data="é" * 33)),
            },
            "button_data_invalid",
        ),
        (
            {"text": "x", "reply_markup": keyboard(InlineKeyboardButton("x", callback_data=""))},
            "button_data_invalid",
        ),
        (
            {"text": "x", "reply_markup": keyboard(InlineKeyboardButton("x", url="ftp://a.b"))},
            "button_url_invalid",
        ),
        ({"text": "x", "reply_to_message_id": 999}, "message to be replied not found"),
        (
            {"text": "x", "reply_parameters": ReplyParameters(999)},
            "message to be replied not found",
        ),
    ],
)
async def test_send_message_rejections(tg: Sandbox, kwargs, message):
    kwargs = {"chat_id": JEANNE, **kwargs}
    with pytest.raises(BadRequest) as caught:
        await tg.bot.send_message(**kwargs)
    assert caught.value.message.lower().startswith(message)
    assert tg.fake.bot_messages(JEANNE) == []


async def test_limits_count_utf16_units_after_parsing(tg: Sandbox):
    sent = await tg.bot.send_message(JEANNE, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    assert len(sent.text) == 4096
    sent = await tg.bot.send_message(JEANNE, "&amp;" * 4096, parse_mode="HTML")
    assert sent.text == "&" * 4096
    sent = await tg.bot.send_message(JEANNE, "🙂" * 2048)
    assert utf16_len(sent.text) == 4096


async def test_a_text_only_button_or_a_broken_markup_is_refused(tg: Sandbox):
    async with httpx.AsyncClient() as client:
        text_only = await client.post(
            tg.api("sendMessage"),
            json={
                "chat_id": JEANNE,
                "text": "x",
                "reply_markup": {"inline_keyboard": [[{"text": "a"}]]},
            },
        )
        broken = await client.post(
            tg.api("sendMessage"), data={"chat_id": JEANNE, "text": "x", "reply_markup": "{nope"}
        )
    assert text_only.json()["description"] == (
        "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
    )
    assert (
        broken.json()["description"] == "Bad Request: can't parse reply keyboard markup JSON object"
    )


async def test_allow_sending_without_reply_and_replies_carry_the_message(tg: Sandbox):
    asked = await tg.fake.send_text(JEANNE, "question")
    answer = await tg.bot.send_message(JEANNE, "réponse", reply_to_message_id=asked["message_id"])
    assert answer.reply_to_message.text == "question"
    orphan = await tg.bot.send_message(
        JEANNE, "x", reply_parameters=ReplyParameters(999, allow_sending_without_reply=True)
    )
    assert orphan.reply_to_message is None


async def test_blocked_user_and_user_who_never_started(tg: Sandbox):
    tg.fake.block_bot(JEANNE)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await tg.bot.send_message(JEANNE, "hello")
    tg.fake.unblock_bot(JEANNE)
    await tg.bot.send_message(JEANNE, "hello")
    tg.fake.add_user(5555, "Shy", started=False)
    with pytest.raises(Forbidden, match=r"(?i)can't initiate conversation"):
        await tg.bot.send_message(5555, "hello")
    await tg.fake.send_text(5555, "/start")
    await tg.bot.send_message(5555, "hello")


async def test_blocking_sends_my_chat_member_updates(tg: Sandbox):
    tg.fake.block_bot(JEANNE)
    await tg.fake.send_text(JEANNE, "/start")  # writing again restarts the bot
    updates = await tg.bot.get_updates(allowed_updates=["message", "my_chat_member"])
    kinds = [
        (u.my_chat_member.new_chat_member.status if u.my_chat_member else u.message.text)
        for u in updates
    ]
    assert kinds == ["kicked", "member", "/start"]


async def test_edit_message_text_applies_edits_and_refuses_what_telegram_refuses(tg: Sandbox):
    buttons = keyboard(InlineKeyboardButton("Oui", callback_data="yes"))
    sent = await tg.bot.send_message(JEANNE, "Version 1", reply_markup=buttons)
    edited = await tg.bot.edit_message_text(
        "<i>Version 2</i>", JEANNE, sent.message_id, parse_mode="HTML", reply_markup=buttons
    )
    assert edited.text == "Version 2" and edited.edit_date is not None
    state = tg.fake.messages(JEANNE)[-1]
    assert state["text"] == "Version 2" and state["_edits"] == 1
    assert state["entities"] == [{"type": "italic", "offset": 0, "length": 9}]

    with pytest.raises(BadRequest, match=r"(?i)message is not modified: specified new message"):
        await tg.bot.edit_message_text(
            "<i>Version 2</i>", JEANNE, sent.message_id, parse_mode="HTML", reply_markup=buttons
        )
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await tg.bot.edit_message_text("x", JEANNE, 999)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await tg.bot.edit_message_text(" ", JEANNE, sent.message_id)
    mine = await tg.fake.send_text(JEANNE, "from Jeanne")
    with pytest.raises(BadRequest, match=r"(?i)message can't be edited"):
        await tg.bot.edit_message_text("x", JEANNE, mine["message_id"])

    # Leaving the keyboard out of an edit removes it, as Telegram does.
    await tg.bot.edit_message_text("<i>Version 2</i>", JEANNE, sent.message_id, parse_mode="HTML")
    assert "reply_markup" not in tg.fake.messages(JEANNE)[0]

    # The new text has a sent text's limit (4096 UTF-16 units after parsing); a document's
    # caption is no text: editMessageText refuses it (editMessageCaption is for captions).
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await tg.bot.edit_message_text("😀" * 2049, JEANNE, sent.message_id)
    document = await tg.bot.send_document(
        JEANNE, InputFile(b"%PDF-1.4\n", filename="f.pdf"), caption="Facture"
    )
    with pytest.raises(BadRequest, match=r"(?i)there is no text in the message to edit"):
        await tg.bot.edit_message_text("x", JEANNE, document.message_id)


async def test_a_press_carries_the_message_as_the_person_saw_it(tg: Sandbox):
    """Two quick taps before the bot edits the message: both queries carry the first version."""
    buttons = keyboard(InlineKeyboardButton("Oui", callback_data="ok"))
    sent = await tg.bot.send_message(JEANNE, "Version 1", reply_markup=buttons)
    await tg.fake.press(JEANNE, sent.message_id, "ok")
    await tg.bot.edit_message_text("Version 2", JEANNE, sent.message_id, reply_markup=buttons)
    await tg.fake.press(JEANNE, sent.message_id, "ok")
    first, second = await tg.bot.get_updates()
    assert first.callback_query.message.text == "Version 1"
    assert second.callback_query.message.text == "Version 2"


async def test_edit_reply_markup_and_wait_for_edit(tg: Sandbox):
    sent = await tg.bot.send_message(
        JEANNE, "Choix", reply_markup=keyboard(InlineKeyboardButton("A", callback_data="a"))
    )
    waiting = asyncio.create_task(tg.fake.wait_for_edit(JEANNE, sent.message_id))
    await tg.bot.edit_message_reply_markup(JEANNE, sent.message_id, reply_markup=None)
    edited = await waiting
    assert "reply_markup" not in edited and edited["text"] == "Choix"
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await tg.bot.edit_message_reply_markup(JEANNE, sent.message_id, reply_markup=None)


async def test_delete_message(tg: Sandbox):
    sent = await tg.bot.send_message(JEANNE, "bientôt effacé")
    assert await tg.bot.delete_message(JEANNE, sent.message_id) is True
    assert tg.fake.messages(JEANNE) == []
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await tg.bot.delete_message(JEANNE, sent.message_id)


async def test_pressing_a_button_and_answering_the_callback(tg: Sandbox):
    sent = await tg.bot.send_message(
        JEANNE,
        "Confirmer ?",
        reply_markup=keyboard(InlineKeyboardButton("Oui", callback_data="ok")),
    )
    with pytest.raises(LookupError):
        await tg.fake.press(JEANNE, sent.message_id, "nope")
    query_id = await tg.fake.press(JEANNE, sent.message_id, "ok")
    (update,) = await tg.bot.get_updates()
    query = update.callback_query
    assert query.id == query_id and query.data == "ok" and query.from_user.id == JEANNE
    assert query.message.message_id == sent.message_id and query.message.text == "Confirmer ?"
    assert query.chat_instance

    assert await tg.bot.answer_callback_query(query_id, text="C'est fait", show_alert=True)
    assert tg.fake.callback_answers[-1]["text"] == "C'est fait"
    assert tg.fake.callback_answers[-1]["show_alert"] is True
    with pytest.raises(BadRequest, match=r"(?i)query is too old and response timeout expired"):
        await tg.bot.answer_callback_query(query_id)
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await tg.bot.answer_callback_query("123")

    late = await tg.fake.press(JEANNE, sent.message_id, "ok")
    tg.clock.now += 15 * 60 + 1
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await tg.bot.answer_callback_query(late)


async def test_documents_photos_and_files(tg: Sandbox):
    data = b"%PDF-1.4\r\n\x00\xff binary\r"
    sent = await tg.bot.send_document(
        JEANNE,
        InputFile(data, filename="facture-2025.pdf"),
        caption="<b>Facture</b>",
        parse_mode="HTML",
    )
    assert sent.document.file_name == "facture-2025.pdf"
    assert sent.document.mime_type == "application/pdf"
    assert sent.caption == "Facture" and sent.caption_entities[0].type == "bold"
    assert tg.fake.document_bytes(tg.fake.last_bot_message(JEANNE)) == data
    telegram_file = await tg.bot.get_file(sent.document.file_id)
    assert bytes(await telegram_file.download_as_bytearray()) == data

    again = await tg.bot.send_document(STAFF, sent.document.file_id)
    assert again.document.file_unique_id == sent.document.file_unique_id

    photo = await tg.bot.send_photo(JEANNE, InputFile(PNG, filename="p.png"))
    assert (photo.photo[-1].width, photo.photo[-1].height) == (32, 16)
    with pytest.raises(BadRequest, match=r"(?i)IMAGE_PROCESS_FAILED"):
        await tg.bot.send_photo(JEANNE, InputFile(b"not an image", filename="x.png"))
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await tg.bot.send_document(JEANNE, "BQACnope")
    with pytest.raises(BadRequest, match=r"(?i)can't use file of type photo as document"):
        await tg.bot.send_document(JEANNE, photo.photo[-1].file_id)
    with pytest.raises(BadRequest, match=r"(?i)message caption is too long"):
        await tg.bot.send_document(JEANNE, sent.document.file_id, caption="x" * 1025)
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await tg.bot.get_file("nope")


async def test_attach_references_in_multipart_requests(tg: Sandbox):
    async with httpx.AsyncClient() as client:
        response = await client.post(
            tg.api("sendDocument"),
            data={"chat_id": str(JEANNE), "document": "attach://report"},
            files={"report": ("report.csv", b"a;b\n1;2\n", "text/csv")},
        )
    body = response.json()
    assert body["ok"], body
    assert body["result"]["document"]["file_name"] == "report.csv"
    async with httpx.AsyncClient() as client:
        download = await client.get(
            f"{tg.url}/sandbox/files/{body['result']['document']['file_id']}"
        )
    assert download.content == b"a;b\n1;2\n"


async def test_copy_message_relays_user_messages_to_the_staff_group(tg: Sandbox):
    text = await tg.fake.send_text(JEANNE, "Ma facture est fausse")
    copied = await tg.bot.copy_message(STAFF, JEANNE, text["message_id"])
    relayed = tg.fake.messages(STAFF)[-1]
    assert relayed["message_id"] == copied.message_id
    assert relayed["text"] == "Ma facture est fausse" and relayed["from"]["is_bot"]
    assert "forward_origin" not in relayed

    doc = await tg.fake.send_document(
        JEANNE, filename="scan.pdf", data=b"%PDF scan", mime_type="application/pdf", caption="scan"
    )
    card = await tg.bot.send_message(STAFF, "Jeanne (mermoz)")
    copied = await tg.bot.copy_message(
        STAFF,
        JEANNE,
        doc["message_id"],
        caption="<i>scan de Jeanne</i>",
        parse_mode="HTML",
        reply_to_message_id=card.message_id,
    )
    relayed = tg.fake.messages(STAFF)[-1]
    assert relayed["caption"] == "scan de Jeanne"
    assert relayed["reply_to_message"]["message_id"] == card.message_id
    assert tg.fake.document_bytes(relayed) == b"%PDF scan"

    photo = await tg.fake.send_photo(JEANNE, caption="photo")
    copied = await tg.bot.copy_message(
        STAFF, JEANNE, photo["message_id"], reply_parameters=ReplyParameters(card.message_id)
    )
    assert tg.fake.messages(STAFF)[-1]["photo"][0]["file_id"] == photo["photo"][0]["file_id"]
    with pytest.raises(BadRequest, match=r"(?i)message to copy not found"):
        await tg.bot.copy_message(STAFF, JEANNE, 999)


async def test_forwards_show_the_sender_unless_hidden(tg: Sandbox):
    said = await tg.fake.send_text(JEANNE, "bonjour")
    forwarded = await tg.bot.forward_message(STAFF, JEANNE, said["message_id"])
    assert isinstance(forwarded.forward_origin, MessageOriginUser)
    assert forwarded.forward_origin.sender_user.id == JEANNE
    tg.fake.set_forward_privacy(JEANNE, True)
    forwarded = await tg.bot.forward_message(STAFF, JEANNE, said["message_id"])
    assert isinstance(forwarded.forward_origin, MessageOriginHiddenUser)
    assert "forward_from" not in tg.fake.messages(STAFF)[-1]

    staff_note = await tg.fake.send_text(ALICE, "note", chat_id=STAFF)
    shown = await tg.fake.forward(ALICE, STAFF, staff_note["message_id"], ALICE)
    assert shown["forward_origin"]["sender_user"]["id"] == ALICE
    assert shown["forward_from"]["id"] == ALICE


async def test_group_messages_commands_and_membership(tg: Sandbox):
    message = await tg.fake.send_text(ALICE, "/help@ofbot_sandbox_bot now", chat_id=STAFF)
    assert message["chat"] == {"id": STAFF, "title": "OpenFlyers staff", "type": "supergroup"}
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 23}]
    with pytest.raises(ValueError, match=r"(?i)not a member"):
        await tg.fake.send_text(OUTSIDER, "hi", chat_id=STAFF)
    assert "entities" not in await tg.fake.send_text(JEANNE, "/ not a command")


async def test_chat_info_members_actions_and_bot_settings(tg: Sandbox):
    chat = await tg.bot.get_chat(STAFF)
    assert chat.title == "OpenFlyers staff" and chat.type == "supergroup"
    private = await tg.bot.get_chat(JOHN)
    assert private.first_name == "John" and private.last_name == "Smith"
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await tg.bot.get_chat(-1009999)
    assert (await tg.bot.get_chat_member(STAFF, ALICE)).status == "member"
    assert (await tg.bot.get_chat_member(STAFF, OUTSIDER)).status == "left"
    assert await tg.bot.send_chat_action(JEANNE, "typing")
    with pytest.raises(BadRequest, match=r"(?i)wrong parameter action"):
        await tg.bot.send_chat_action(JEANNE, "dancing")

    assert await tg.bot.set_my_commands([("start", "Commencer"), ("help", "Aide")])
    assert await tg.bot.set_my_commands([("start", "Start")], language_code="en")
    assert [c.command for c in await tg.bot.get_my_commands()] == ["start", "help"]
    assert tg.fake.commands("en") == [{"command": "start", "description": "Start"}]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await tg.bot.set_my_commands([("Start!", "x")])
    assert await tg.bot.delete_my_commands()
    assert await tg.bot.get_my_commands() == ()
    assert await tg.bot.set_my_description("Le bot OpenFlyers")
    assert (await tg.bot.get_my_description()).description == "Le bot OpenFlyers"
    assert await tg.bot.set_my_short_description("Bot")
    assert await tg.bot.set_chat_menu_button()
    assert await tg.bot.log_out() and await tg.bot.close()


# -- updates: long polling and webhooks ---------------------------------------------------------------


async def test_get_updates_offsets_limits_and_long_polling(tg: Sandbox):
    assert await tg.bot.get_updates() == ()
    for text in ("un", "deux", "trois"):
        await tg.fake.send_text(JEANNE, text)
    first = await tg.bot.get_updates(limit=2)
    assert [u.message.text for u in first] == ["un", "deux"]
    assert [u.message.text for u in await tg.bot.get_updates()] == ["un", "deux", "trois"]
    rest = await tg.bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.message.text for u in rest] == ["trois"]
    assert await tg.bot.get_updates(offset=rest[-1].update_id + 1) == ()

    polls = tg.fake.calls["getupdates"]
    poll = asyncio.create_task(tg.bot.get_updates(offset=rest[-1].update_id + 1, timeout=30))
    while tg.fake.calls["getupdates"] == polls:
        await asyncio.sleep(0.01)
    await tg.fake.send_text(JEANNE, "quatre")
    (update,) = await poll  # answered as soon as the update exists, long before 30 s
    assert update.message.text == "quatre"
    assert update.update_id > rest[-1].update_id
    assert update.message.from_user.language_code == "fr"


async def test_a_second_poller_ends_the_first_with_a_conflict(tg: Sandbox):
    first = asyncio.create_task(tg.bot.get_updates(timeout=30))
    while tg.fake.calls.get("getupdates", 0) < 1:
        await asyncio.sleep(0.01)
    async with httpx.AsyncClient(timeout=10) as client:
        # Another process: PTB's own get_updates calls share one connection and would queue.
        second = asyncio.create_task(client.post(tg.api("getUpdates"), json={"timeout": 30}))
        with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates request"):
            await first
        await tg.fake.send_text(JEANNE, "hello")
        answer = (await second).json()
    assert [u["message"]["text"] for u in answer["result"]] == ["hello"]


async def test_allowed_updates_filters_new_updates(tg: Sandbox):
    await tg.bot.get_updates(allowed_updates=["callback_query"])
    await tg.fake.send_text(JEANNE, "ignored")
    assert await tg.bot.get_updates() == ()
    assert tg.fake.update_count == 0


class Receiver:
    """A webhook endpoint: fails the first `failures` posts, records the others."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[dict] = []
        self.secrets: list[str | None] = []
        self.arrived = asyncio.Event()
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        self.secrets.append(request.headers.get("x-telegram-bot-api-secret-token"))
        if self.failures:
            self.failures -= 1
            return Response(status_code=500)
        self.received.append(await request.json())
        self.arrived.set()
        return Response()

    async def wait_for(self, count: int) -> None:
        while len(self.received) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 5)


PUBLIC = "https://ofbot.example.org:8443"


async def test_webhook_delivery_with_secret_retries_and_conflicts(tg: Sandbox):
    receiver = Receiver(failures=2)
    async with serving(receiver.app) as hook_server:
        # Telegram reaches HTTPS on 443/80/88/8443: a TLS proxy forwards to the local receiver.
        tg.fake.route_webhook(PUBLIC, hook_server.url)
        await tg.fake.send_text(JEANNE, "avant")
        assert await tg.bot.set_webhook(
            f"{PUBLIC}/hook", secret_token="s3cret_-X", drop_pending_updates=True
        )
        with pytest.raises(
            Conflict, match=r"(?i)can't use getUpdates method while webhook is active"
        ):
            await tg.bot.get_updates()
        await tg.fake.send_text(JEANNE, "un")
        await tg.fake.send_text(JEANNE, "deux")
        await receiver.wait_for(2)
        assert [u["message"]["text"] for u in receiver.received] == ["un", "deux"]
        assert set(receiver.secrets) == {"s3cret_-X"}
        assert len(receiver.secrets) == 4  # two refused, then each update once
        info = await tg.bot.get_webhook_info()
        assert info.url == f"{PUBLIC}/hook" and info.pending_update_count == 0
        assert "500" in info.last_error_message

        with pytest.raises(BadRequest, match=r"(?i)secret token contains unallowed characters"):
            await tg.bot.set_webhook(f"{PUBLIC}/hook", secret_token="a b")
        assert await tg.bot.delete_webhook()
    await tg.fake.send_text(JEANNE, "trois")
    assert [u.message.text for u in await tg.bot.get_updates()] == ["trois"]
    assert (await tg.bot.get_webhook_info()).url == ""


async def test_webhook_keeps_updates_while_the_receiver_is_down(tg: Sandbox):
    receiver = Receiver()
    async with serving(receiver.app) as hook_server:
        tg.fake.route_webhook(PUBLIC, hook_server.url)
    await tg.bot.set_webhook(f"{PUBLIC}/hook")  # nothing listens there any more
    await tg.fake.send_text(JEANNE, "en attente")
    while not (await tg.bot.get_webhook_info()).last_error_message:
        await asyncio.sleep(0.05)
    assert (await tg.bot.get_webhook_info()).pending_update_count == 1
    await tg.bot.delete_webhook()
    assert [u.message.text for u in await tg.bot.get_updates()] == ["en attente"]


# -- rate limits and faults -----------------------------------------------------------------------


async def test_private_chat_rate_limit_answers_429_with_retry_after():
    async with sandbox(chat_rate=1.0, chat_burst=3) as tg:
        for n in range(3):
            await tg.bot.send_message(JEANNE, f"message {n}")
        with pytest.raises(RetryAfter) as caught:
            await tg.bot.send_message(JEANNE, "one too many")
        assert caught.value.retry_after == 1
        with pytest.raises(RetryAfter):
            await tg.bot.edit_message_text("edited", JEANNE, 1)  # edits count too
        await tg.bot.send_message(JOHN, "another chat is fine")
        tg.clock.now += 1
        await tg.bot.send_message(JEANNE, "after waiting")
        assert tg.fake.stats["rate_limited"] == 2
        assert tg.fake.stats["delivered"] == {JEANNE: 4, JOHN: 1}
        async with httpx.AsyncClient() as client:
            response = await client.post(
                tg.api("sendMessage"), json={"chat_id": JEANNE, "text": "x"}
            )
        assert response.status_code == 429
        assert response.json() == {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        }


async def test_group_and_global_rate_limits():
    async with sandbox(group_per_minute=2, global_rate=0, chat_rate=0) as tg:
        await tg.bot.send_message(STAFF, "1")
        await tg.bot.send_message(STAFF, "2")
        with pytest.raises(RetryAfter) as caught:
            await tg.bot.send_message(STAFF, "3")
        # At most 2 (20 in Telegram) in any minute: the first leaves the window in 60 s (a
        # bucket refilled at 2/min said 30, and let 3 through in the first minute).
        assert caught.value.retry_after == 60
        tg.clock.now += 30
        with pytest.raises(RetryAfter):
            await tg.bot.send_message(STAFF, "3")
        tg.clock.now += 30
        await tg.bot.send_message(STAFF, "3")
        for n in range(20):
            await tg.bot.send_message(JEANNE, str(n))  # private limits switched off
    async with sandbox(global_rate=3, chat_rate=0, group_per_minute=0) as tg:
        await tg.bot.send_message(JEANNE, "1")
        await tg.bot.send_message(JOHN, "2")
        await tg.bot.send_message(STAFF, "3")
        with pytest.raises(RetryAfter):
            await tg.bot.send_message(ALICE, "4")


async def test_injected_faults():
    async with sandbox() as tg:
        tg.fake.inject_fault("sendMessage", "500", 1)
        with pytest.raises(NetworkError, match=r"(?i)Internal Server Error"):
            await tg.bot.send_message(JEANNE, "x")
        tg.fake.inject_fault(None, "429", 2)
        with pytest.raises(RetryAfter):
            await tg.bot.get_me()
        with pytest.raises(RetryAfter):
            await tg.bot.send_message(JEANNE, "x")
        await tg.bot.send_message(JEANNE, "works again")
        assert [m["text"] for m in tg.fake.messages(JEANNE)] == ["works again"]

        tg.fake.inject_fault("sendMessage", "timeout", 1, delay=0.5)
        impatient = Bot(TOKEN, base_url=f"{tg.url}/bot", request=HTTPXRequest(read_timeout=0.1))
        with pytest.raises(TimedOut):
            await impatient.send_message(JEANNE, "slow")
        await tg.fake.wait_for_bot_message(JEANNE, contains="slow")  # answered after the delay


# -- the user side: Python API and HTTP -------------------------------------------------------------


async def test_wait_for_bot_message_sees_new_and_edited_messages(tg: Sandbox):
    waiting = asyncio.create_task(tg.fake.wait_for_bot_message(JEANNE, contains="code"))
    await tg.bot.send_message(JEANNE, "Bonjour")
    await tg.bot.send_message(JEANNE, "Votre code est envoyé")
    assert (await waiting)["message_id"] == 2
    sent = await tg.bot.send_message(JEANNE, "Paiement en cours")
    waiting = asyncio.create_task(
        tg.fake.wait_for_bot_message(JEANNE, after=sent.message_id - 1, contains="payé")
    )
    await tg.bot.edit_message_text("Paiement reçu : payé", JEANNE, sent.message_id)
    assert (await waiting)["_edits"] == 1
    with pytest.raises(TimeoutError) as caught:
        await tg.fake.wait_for_bot_message(JEANNE, contains="jamais", timeout=0.05)
    assert "Votre code est envoyé" in str(caught.value)


async def test_event_queue_sees_every_change(tg: Sandbox):
    events = tg.fake.subscribe()
    said = await tg.fake.send_text(JEANNE, "hi")
    sent = await tg.bot.send_message(
        JEANNE, "menu", reply_markup=keyboard(InlineKeyboardButton("A", callback_data="a"))
    )
    query = await tg.fake.press(JEANNE, sent.message_id, "a")
    await tg.bot.answer_callback_query(query, text="ok")
    await tg.bot.edit_message_text("menu 2", JEANNE, sent.message_id)
    await tg.bot.delete_message(JEANNE, sent.message_id)
    seen = []
    while not events.empty():
        event = events.get_nowait()
        seen.append((event["kind"], event["chat_id"], event["message"].get("message_id")))
    assert seen == [
        ("message", JEANNE, said["message_id"]),
        ("message", JEANNE, sent.message_id),
        ("callback_answer", JEANNE, sent.message_id),
        ("edit", JEANNE, sent.message_id),
        ("delete", JEANNE, sent.message_id),
    ]
    tg.fake.unsubscribe(events)


async def test_the_user_side_over_http(tg: Sandbox):
    async with httpx.AsyncClient(base_url=f"{tg.url}/sandbox") as client:
        added = await client.post("/users", json={"user_id": 7, "first_name": "Zoé"})
        assert added.json()["first_name"] == "Zoé"
        chats = (await client.get("/chats")).json()
        assert {c["chat"]["id"] for c in chats["chats"]} >= {7, JEANNE, STAFF}
        assert chats["bot"]["username"] == "ofbot_sandbox_bot"

        said = (await client.post("/send", json={"user_id": 7, "text": "/start"})).json()
        assert said["entities"][0]["type"] == "bot_command"
        sent = await tg.bot.send_message(
            7, "Choisir", reply_markup=keyboard(InlineKeyboardButton("A", callback_data="a"))
        )
        after = (await client.get("/chats/7/messages", params={"after": said["message_id"]})).json()
        assert [m["text"] for m in after] == ["Choisir"]
        pressed = await client.post(
            "/press", json={"user_id": 7, "message_id": sent.message_id, "data": "a"}
        )
        assert pressed.json()["callback_query_id"]
        refused = await client.post(
            "/press", json={"user_id": 7, "message_id": sent.message_id, "data": "zz"}
        )
        assert refused.status_code == 400 and "no button" in refused.json()["error"]

        document = await client.post(
            "/document",
            json={
                "user_id": 7,
                "filename": "licence.pdf",
                "mime_type": "application/pdf",
                "data": base64.b64encode(b"%PDF licence").decode(),
            },
        )
        file_id = document.json()["document"]["file_id"]
        assert (await client.get(f"/files/{file_id}")).content == b"%PDF licence"
        photo = await client.post(
            "/photo", json={"user_id": 7, "data": base64.b64encode(PNG).decode(), "caption": "vue"}
        )
        assert photo.json()["photo"][0]["width"] == 32

        blocked = await client.post("/block", json={"user_id": 7, "blocked": True})
        assert blocked.json() == {"user_id": 7, "blocked": True}
        with pytest.raises(Forbidden):
            await tg.bot.send_message(7, "x")
        await client.post("/block", json={"user_id": 7, "blocked": False})

        calls_before = tg.fake.calls["getme"]
        await client.post("/fault", json={"method": "getMe", "kind": "500", "count": 1})
        with pytest.raises(NetworkError):
            await tg.bot.get_me()
        stats = (await client.get("/stats")).json()
        assert stats["delivered"] == {"7": 1}
        assert stats["calls"]["getme"] == calls_before + 1
        updates = await tg.bot.get_updates()
    assert [describe(u) for u in updates] == [
        "/start",
        "press a",
        "document licence.pdf",
        "photo vue",
        "kicked",
        "member",
    ]


def describe(update) -> str:
    if update.callback_query:
        return f"press {update.callback_query.data}"
    if update.my_chat_member:
        return update.my_chat_member.new_chat_member.status
    message = update.message
    if message.document:
        return f"document {message.document.file_name}"
    return message.text or f"photo {message.caption}"


async def test_event_stream_over_http_and_clean_shutdown():
    clock = ManualClock()
    fake, server = await start_fake_telegram(token=TOKEN, clock=clock)
    fake.add_user(JEANNE, "Jeanne")
    received = []
    async with httpx.AsyncClient(timeout=5) as client:
        async with client.stream("GET", f"{server.url}/sandbox/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith(":")
            await fake.send_text(JEANNE, "en direct")
            async for line in lines:
                if line.startswith("data: "):
                    received.append(json.loads(line.removeprefix("data: ")))
                    break
        poll = asyncio.create_task(
            client.post(
                f"{server.url}/bot{TOKEN}/getUpdates",
                json={"offset": fake._next_update_id, "timeout": 50},
            )
        )
        while fake.calls.get("getupdates", 0) < 1:
            await asyncio.sleep(0.01)
        await server.stop()  # must not wait for the long poll: close() answers it
        assert (await poll).json() == {"ok": True, "result": []}
    assert received[0]["kind"] == "message"
    assert received[0]["message"]["text"] == "en direct"


# -- command menus: setMyCommands, getMyCommands, deleteMyCommands ----------------------------------


async def test_set_my_commands_cleans_and_validates_like_telegram(tg: Sandbox):
    from telegram import BotCommand

    assert await tg.bot.set_my_commands([BotCommand(" /start ", "  Commencer  ")])
    assert tg.fake.commands() == [{"command": "start", "description": "Commencer"}]
    refused = [
        ([("Start", "x")], "BOT_COMMAND_INVALID"),
        ([("mé", "x")], "BOT_COMMAND_INVALID"),
        ([("a-b", "x")], "BOT_COMMAND_INVALID"),
        ([("/", "x")], "command must be non-empty"),
        ([("c" * 33, "x")], "command length must not exceed 32"),
        ([("help", "   ")], "command description must be non-empty"),
        ([("help", "d" * 257)], "command description length must not exceed 256"),
        ([(f"c{i}", "x") for i in range(101)], "BOT_COMMANDS_TOO_MUCH"),
    ]
    async with httpx.AsyncClient() as client:
        for commands, error in refused:
            body = {"commands": [{"command": c, "description": d} for c, d in commands]}
            answer = await client.post(tg.api("setMyCommands"), json=body)
            assert answer.json()["description"] == f"Bad Request: {error}", commands
    assert tg.fake.commands() == [{"command": "start", "description": "Commencer"}]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await tg.bot.set_my_commands([("Start", "x")])
    # The limits are Telegram's: 32 characters, 256 of description (characters, not bytes), 100.
    assert await tg.bot.set_my_commands([("c" * 32, "é" * 256)])
    assert await tg.bot.set_my_commands([(f"c{i}", "x") for i in range(100)])
    assert len(await tg.bot.get_my_commands()) == 100
    with pytest.raises(BadRequest, match=r"(?i)^invalid language code specified$"):
        await tg.bot.set_my_commands([("start", "x")], language_code="EN")
    with pytest.raises(BadRequest, match=r"(?i)^invalid language code specified$"):
        await tg.bot.get_my_commands(language_code="fra")


async def test_command_parameters_are_read_as_the_bot_api_server_reads_them(tg: Sandbox):
    cases = [
        ({"commands": "[{"}, "Bad Request: can't parse commands JSON object"),
        ({"commands": {"command": "x"}}, "Bad Request: expected an Array of BotCommand"),
        (
            {"commands": [{"command": "start"}]},
            "Bad Request: can't parse BotCommand: Can't find field \"description\"",
        ),
        (
            {"commands": [], "scope": "{"},
            "Bad Request: can't parse BotCommandScope JSON object",
        ),
        (
            {"commands": [], "scope": {"type": "everyone"}},
            "Bad Request: can't parse BotCommandScope: Unsupported type specified",
        ),
        (
            {"commands": [], "scope": {"type": "chat"}},
            "Bad Request: can't parse BotCommandScope: Can't find field \"chat_id\"",
        ),
        (
            {"commands": [], "scope": {"type": "chat", "chat_id": ""}},
            "Bad Request: can't parse BotCommandScope: Empty chat_id specified",
        ),
        (
            {"commands": [], "scope": {"type": "chat_member", "chat_id": STAFF, "user_id": 0}},
            "Bad Request: can't parse BotCommandScope: Invalid user_id specified",
        ),
        (
            {"commands": [], "scope": {"type": "chat", "chat_id": -1009999}},
            "Bad Request: chat not found",
        ),
        (
            {"commands": [], "scope": {"type": "chat_administrators", "chat_id": JEANNE}},
            "Bad Request: can't use specified scope in private chats",
        ),
        (
            {"commands": [], "scope": {"type": "chat_member", "chat_id": STAFF, "user_id": 4242}},
            "Bad Request: user not found",
        ),
    ]
    async with httpx.AsyncClient() as client:
        for params, description in cases:
            answer = await client.post(tg.api("setMyCommands"), json=params)
            assert answer.status_code == 400, params
            assert answer.json() == {"ok": False, "error_code": 400, "description": description}
        # The commands are read first: bad commands with a bad scope report the commands.
        answer = await client.post(
            tg.api("setMyCommands"), json={"commands": [{"x": 1}], "scope": {"type": "?"}}
        )
        assert "BotCommand:" in answer.json()["description"]
        # A missing `commands` is an empty list; a scope sent as a form field is JSON too.
        answer = await client.post(
            tg.api("setMyCommands"),
            data={
                "commands": json.dumps([{"command": "club", "description": "Fiche"}]),
                "scope": json.dumps({"type": "chat", "chat_id": str(STAFF)}),
            },
        )
        assert answer.json() == {"ok": True, "result": True}
        scope = {"type": "chat", "chat_id": STAFF}
        assert tg.fake.commands(scope=scope) == [{"command": "club", "description": "Fiche"}]
        answer = await client.post(tg.api("setMyCommands"), json={"scope": scope})
        assert answer.json() == {"ok": True, "result": True}
        assert tg.fake.commands(scope=scope) == []


async def test_every_scope_keeps_its_own_lists(tg: Sandbox):
    from telegram import (
        BotCommandScopeAllChatAdministrators,
        BotCommandScopeAllGroupChats,
        BotCommandScopeAllPrivateChats,
        BotCommandScopeChat,
        BotCommandScopeChatAdministrators,
        BotCommandScopeChatMember,
        BotCommandScopeDefault,
    )

    scopes = {
        "default": BotCommandScopeDefault(),
        "private": BotCommandScopeAllPrivateChats(),
        "groups": BotCommandScopeAllGroupChats(),
        "admins": BotCommandScopeAllChatAdministrators(),
        "staff": BotCommandScopeChat(STAFF),
        "jeanne": BotCommandScopeChat(JEANNE),
        "staff_admins": BotCommandScopeChatAdministrators(STAFF),
        "alice": BotCommandScopeChatMember(STAFF, ALICE),
    }
    for name, scope in scopes.items():
        assert await tg.bot.set_my_commands([(name, f"the {name} list")], scope=scope)
    for name, scope in scopes.items():
        assert [c.command for c in await tg.bot.get_my_commands(scope=scope)] == [name]
    assert await tg.bot.delete_my_commands(scope=scopes["staff"])
    assert await tg.bot.get_my_commands(scope=scopes["staff"]) == ()
    assert [c.command for c in await tg.bot.get_my_commands(scope=scopes["alice"])] == ["alice"]
    assert [c.command for c in await tg.bot.get_my_commands()] == ["default"]


async def test_get_my_commands_falls_back_to_the_scopes_list_for_every_language(tg: Sandbox):
    from telegram import BotCommandScopeAllPrivateChats

    private = BotCommandScopeAllPrivateChats()
    assert await tg.bot.set_my_commands([("start", "Commencer")], scope=private)
    assert await tg.bot.set_my_commands([("start", "Start")], scope=private, language_code="en")
    english = await tg.bot.get_my_commands(scope=private, language_code="en")
    assert [(c.command, c.description) for c in english] == [("start", "Start")]
    german = await tg.bot.get_my_commands(scope=private, language_code="de")
    assert [c.description for c in german] == ["Commencer"]
    # Only within the scope: the default scope has no list of its own.
    assert await tg.bot.get_my_commands(language_code="en") == ()
    # Deleting a language's list leaves the scope's list, which English speakers now get.
    assert await tg.bot.delete_my_commands(scope=private, language_code="en")
    again = await tg.bot.get_my_commands(scope=private, language_code="en")
    assert [c.description for c in again] == ["Commencer"]
    assert tg.fake.commands("en", {"type": "all_private_chats"}) == []
    assert await tg.bot.delete_my_commands(scope=private)
    assert await tg.bot.get_my_commands(scope=private, language_code="en") == ()


async def test_the_menu_a_person_sees_follows_telegrams_order(tg: Sandbox):
    from telegram import (
        BotCommandScopeAllGroupChats,
        BotCommandScopeAllPrivateChats,
        BotCommandScopeChat,
        BotCommandScopeChatAdministrators,
        BotCommandScopeChatMember,
    )

    def names(user_id: int, chat_id: int | None = None, **kwargs) -> list[str]:
        return [c["command"] for c in tg.fake.menu(user_id, chat_id, **kwargs)]

    assert names(JEANNE) == [] and names(ALICE, STAFF) == []
    assert await tg.bot.set_my_commands([("default", "x")])
    assert names(JEANNE) == ["default"] and names(ALICE, STAFF) == ["default"]
    private = BotCommandScopeAllPrivateChats()
    assert await tg.bot.set_my_commands([("fr", "x")], scope=private)
    assert await tg.bot.set_my_commands([("en", "x")], scope=private, language_code="en")
    assert names(JEANNE) == ["fr"]  # Jeanne's app is in French: no French list, the scope's
    assert names(JOHN) == ["en"]
    assert names(JEANNE, language_code="en") == ["en"]
    assert names(ALICE, STAFF) == ["default"]  # private-chat lists are not for groups
    assert await tg.bot.set_my_commands([("groups", "x")], scope=BotCommandScopeAllGroupChats())
    assert await tg.bot.set_my_commands([("staff", "x")], scope=BotCommandScopeChat(STAFF))
    assert names(ALICE, STAFF) == ["staff"]
    admins = BotCommandScopeChatAdministrators(STAFF)
    assert await tg.bot.set_my_commands([("admins", "x")], scope=admins)
    assert names(ALICE, STAFF) == ["staff"]
    assert names(ALICE, STAFF, administrator=True) == ["admins"]
    member = BotCommandScopeChatMember(STAFF, ALICE)
    assert await tg.bot.set_my_commands([("alice", "x")], scope=member, language_code="fr")
    assert names(ALICE, STAFF) == ["alice"]
    assert names(ALICE, STAFF, language_code="en") == ["staff"]  # Alice's list is French
    assert await tg.bot.set_my_commands([("jeanne", "x")], scope=BotCommandScopeChat(JEANNE))
    assert names(JEANNE) == ["jeanne"] and names(JOHN) == ["en"]
    async with httpx.AsyncClient(base_url=f"{tg.url}/sandbox") as client:
        answer = await client.get(f"/chats/{STAFF}/commands", params={"user_id": ALICE})
        assert [c["command"] for c in answer.json()["commands"]] == ["alice"]
        answer = await client.get(f"/chats/{JOHN}/commands")
        assert answer.json() == {"commands": [{"command": "en", "description": "x"}]}
        assert (await client.get("/chats/-1009999/commands?user_id=1001")).status_code == 400


# -- the bot's place in a group (what `ofbot doctor` checks) ---------------------------------


async def test_a_bot_removed_from_a_group_is_refused_there(tg: Sandbox):
    tg.fake.set_bot_member(STAFF, "kicked")
    for call in (
        tg.bot.send_message(STAFF, "hello"),
        tg.bot.get_chat(STAFF),
        tg.bot.get_chat_member(STAFF, tg.bot.id),
    ):
        with pytest.raises(Forbidden, match=r"bot was kicked from the supergroup chat"):
            await call
    tg.fake.set_bot_member(STAFF, "left")
    with pytest.raises(Forbidden, match=r"bot is not a member of the supergroup chat"):
        await tg.bot.send_message(STAFF, "hello")
    tg.fake.set_bot_member(STAFF, "member")
    await tg.bot.send_message(STAFF, "hello")


async def test_a_muted_bot_cannot_post_and_an_admin_has_its_rights(tg: Sandbox):
    tg.fake.set_bot_member(STAFF, "restricted", can_send_messages=False)
    with pytest.raises(BadRequest, match=r"(?i)not enough rights to send text messages"):
        await tg.bot.send_message(STAFF, "hello")
    member = await tg.bot.get_chat_member(STAFF, tg.bot.id)
    assert member.status == "restricted" and member.can_send_messages is False
    tg.fake.set_bot_member(STAFF, "administrator", can_delete_messages=True)
    member = await tg.bot.get_chat_member(STAFF, tg.bot.id)
    assert member.status == "administrator" and member.can_delete_messages is True
    assert member.can_promote_members is False
    await tg.bot.send_message(STAFF, "hello")


async def test_a_change_of_the_bots_membership_is_a_my_chat_member_update(tg: Sandbox):
    tg.fake.set_bot_member(STAFF, "administrator", can_manage_topics=True)
    (update,) = await tg.bot.get_updates(timeout=0)
    change = update.my_chat_member
    assert change.chat.id == STAFF and change.from_user.id == ALICE
    assert change.old_chat_member.status == "member"
    assert change.new_chat_member.status == "administrator"


def test_update_and_message_ids_go_on_from_the_saved_state(tmp_path):
    """`ids_path` (the sandbox's --keep): a new fake goes on from the last one's ids; a damaged
    state file is ignored (ids start afresh, still large)."""
    path = tmp_path / "telegram-ids.json"
    first = FakeTelegram(TOKEN, ids_path=path)
    assert first._next_update_id >= 100_000_000
    first.add_user(JEANNE, "Jeanne")
    first._enqueue("message", {"message_id": 1})
    first._store_message(first._chats[JEANNE], first.bot_user, {"text": "a"}, None)
    second = FakeTelegram(TOKEN, ids_path=path, first_update_id=1)  # as the old sandbox did
    second.add_user(JEANNE, "Jeanne")
    assert second._next_update_id == first._next_update_id  # never lower than the last run's
    assert second._chats[JEANNE].next_id == first._chats[JEANNE].next_id == 2
    path.write_text("{not json")
    assert FakeTelegram(TOKEN, ids_path=path)._next_update_id >= 100_000_000


async def test_an_inline_keyboard_past_telegrams_limits_is_refused(tg: Sandbox):
    """At most 100 buttons, 8 in a row (`InlineKeyboardMarkupLimit`), ~10 KB of JSON: past them
    Telegram answers "reply markup is too long" (8 in a row: the stricter reading)."""

    def grid(rows: int, per_row: int, data: str = "x") -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(f"{r}.{c}", callback_data=data) for c in range(per_row)]
                for r in range(rows)
            ]
        )

    await tg.bot.send_message(JEANNE, "100 = 12 × 8 + 4", reply_markup=grid(12, 8))
    for markup in (grid(1, 9), grid(13, 8), grid(100, 1, "d" * 64)):
        with pytest.raises(BadRequest, match=r"(?i)reply markup is too long"):
            await tg.bot.send_message(JEANNE, "too many", reply_markup=markup)


async def test_a_callback_answer_counts_utf16_units(tg: Sandbox):
    sent = await tg.bot.send_message(
        JEANNE,
        "Confirmer ?",
        reply_markup=keyboard(InlineKeyboardButton("Oui", callback_data="ok")),
    )
    query_id = await tg.fake.press(JEANNE, sent.message_id, "ok")
    with pytest.raises(BadRequest):
        await tg.bot.answer_callback_query(query_id, text="✈️" * 67 + "🛩" * 34)  # 202 units
    assert await tg.bot.answer_callback_query(query_id, text="🛩" * 100)  # 200 units
