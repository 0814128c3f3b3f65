"""Club records kept current (SPEC §6): `POST /admin/clubs` (bearer OFBOT_ADMIN_TOKEN, CSV or JSON,
all or nothing, audit rows), OFBOT_CLUBS_SOURCE re-imported, and the renew step's answer to a club
that says it deactivated resources."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from bot import club_records
from bot.runtime import Runtime
from bot.sandbox.serve import serving
from tests.conftest import (
    SAMPLE_CLUBS,
    STAFF_CHAT,
    BotHarness,
    Chat,
    replace_settings,
    seed_database,
    verify,
)

TOKEN = "adm1n-Zq3v_8LrT0pWx2Ks9mYbN4cH7dJ1fGeA6uVi"
HEADER = SAMPLE_CLUBS.read_text(encoding="utf-8").splitlines()[0]
# Read with the csv module: a sample value may hold a comma (the address).
MERMOZ = next(csv.DictReader(io.StringIO(SAMPLE_CLUBS.read_text(encoding="utf-8"))))


def mermoz_csv(active: int) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(MERMOZ), lineterminator="\n")
    writer.writeheader()
    writer.writerow(MERMOZ | {"active_resources": str(active)})
    return out.getvalue()


TOO_LARGE = "active_resources {} is too large (at most 100000)"


def mermoz_json(active: object) -> list[dict]:
    return [MERMOZ | {"active_resources": active, "vat_number": None}]


@pytest.fixture
async def admin_bot(request, settings, telegram):
    """The bot with OFBOT_ADMIN_TOKEN set (and the settings a test adds through `extra`)."""
    extra = getattr(request, "param", {})
    settings = replace_settings(settings, admin_token=TOKEN, **extra)
    await seed_database(settings)
    runtime = Runtime(settings)
    await runtime.start()
    harness = BotHarness(runtime, telegram)
    yield harness
    await harness.runtime.stop()


async def post(bot, body: bytes | str, content_type: str, token: str | None = TOKEN):
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if isinstance(body, str):
        body = body.encode()
    async with httpx.AsyncClient() as client:
        return await client.post(
            bot.runtime.http.url + "/admin/clubs", content=body, headers=headers
        )


async def active_of(bot, subdomain: str = "mermoz") -> int:
    return await bot.services.db.fetchval(
        "SELECT active_resources FROM clubs WHERE subdomain = ?", (subdomain,)
    )


async def test_not_served_when_the_token_is_unset(bot):
    answer = await post(bot, mermoz_csv(2), "text/csv")
    assert answer.status_code == 404
    assert await active_of(bot) == 4


@pytest.mark.parametrize("token", [None, "x" + TOKEN[1:], TOKEN + "x"])
async def test_refused_without_the_right_bearer_token(admin_bot, token):
    answer = await post(admin_bot, mermoz_csv(2), "text/csv", token)
    assert answer.status_code == 401
    assert await active_of(admin_bot) == 4


async def test_csv_rows_are_imported_with_an_audit_row(admin_bot):
    answer = await post(admin_bot, mermoz_csv(2), "text/csv; charset=utf-8")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ok": True, "created": 0, "updated": 1, "unchanged": 0}
    assert await active_of(admin_bot) == 2
    row = await admin_bot.services.db.fetchone(
        "SELECT * FROM audit WHERE action = 'club.update' ORDER BY id DESC LIMIT 1"
    )
    assert row["actor"].startswith("admin:") and row["target"] == "mermoz"
    assert json.loads(row["before_json"])["active_resources"] == 4
    assert json.loads(row["after_json"])["active_resources"] == 2


async def test_a_json_list_of_objects_is_imported(admin_bot):
    answer = await post(admin_bot, json.dumps(mermoz_json(3)), "application/json")
    assert answer.status_code == 200, answer.text
    assert answer.json()["updated"] == 1
    assert await active_of(admin_bot) == 3


async def test_one_bad_row_and_nothing_is_imported(admin_bot):
    bad = mermoz_csv(-1).splitlines()[1].replace("mermoz,", "lesailes,", 1)
    body = mermoz_csv(2) + bad + "\n"
    answer = await post(admin_bot, body, "text/csv")
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert errors == [{"line": 3, "message": "active_resources '-1' is not a whole number ≥ 0"}]
    assert await active_of(admin_bot) == 4  # the good row was not imported either


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (
            mermoz_json("two"),
            [{"item": 1, "message": "active_resources 'two' is not a whole number ≥ 0"}],
        ),
        ([*mermoz_json(2), {"subdomain": "x"}], None),
        ([*mermoz_json(2), [1, 2]], [{"item": 2, "message": "not an object"}]),
        (
            {"subdomain": "mermoz"},
            [{"item": 0, "message": "the body must be a JSON list of objects"}],
        ),
        ([*mermoz_json(2), mermoz_json(2)[0] | {"active_resources": True}], None),
        # One error per field: a wrong type is not reported again as an empty value.
        (
            mermoz_json(True),
            [{"item": 1, "message": "active_resources must be a string or a whole number"}],
        ),
        (
            mermoz_json(2.5),
            [{"item": 1, "message": "active_resources must be a string or a whole number"}],
        ),
        (
            mermoz_json(99999999999999999999),
            [{"item": 1, "message": TOO_LARGE.format("99999999999999999999")}],
        ),
        (
            mermoz_json("1_000"),
            [{"item": 1, "message": "active_resources '1_000' is not a whole number ≥ 0"}],
        ),
    ],
)
async def test_bad_json_is_refused_by_item_and_nothing_is_imported(admin_bot, items, expected):
    answer = await post(admin_bot, json.dumps(items), "application/json")
    assert answer.status_code == 400, answer.text
    errors = answer.json()["errors"]
    if expected is not None:
        assert errors == expected
    assert errors and all("item" in e for e in errors)
    assert await active_of(admin_bot) == 4


async def test_wrong_type_bad_encoding_and_oversized_bodies(admin_bot):
    assert (await post(admin_bot, mermoz_csv(2), "text/plain")).status_code == 415
    assert (await post(admin_bot, "[", "application/json")).status_code == 400
    assert (await post(admin_bot, b"\xff\xfe" + b"x" * 10, "text/csv")).status_code == 400
    huge = mermoz_csv(2) + "#" * club_records.MAX_CLUBS_BYTES
    assert (await post(admin_bot, huge, "text/csv")).status_code == 413
    assert await active_of(admin_bot) == 4


# --- OFBOT_CLUBS_SOURCE -----------------------------------------------------------------------


async def test_a_file_source_is_imported_at_start_up_and_again(settings, telegram, tmp_path):
    source = tmp_path / "clubs.csv"
    source.write_text(mermoz_csv(3), encoding="utf-8")
    settings = replace_settings(settings, clubs_source=str(source))
    await seed_database(settings)
    runtime = Runtime(settings)
    await runtime.start()
    try:
        db = runtime.services.db
        async with asyncio.timeout(10):
            while (
                await db.fetchval("SELECT active_resources FROM clubs WHERE subdomain = 'mermoz'")
                != 3
            ):
                await asyncio.sleep(0.02)
        assert "clubs-source" in {job.name for job in runtime.app.job_queue.jobs()}
        source.write_text(mermoz_csv(1) + "bad,row\n", encoding="utf-8")
        with pytest.raises(club_records.ClubImportError):
            await club_records.sync_clubs_source(runtime.services)
        assert (
            await db.fetchval("SELECT active_resources FROM clubs WHERE subdomain = 'mermoz'") == 3
        )
        source.write_text(mermoz_csv(1), encoding="utf-8")
        report = await club_records.sync_clubs_source(runtime.services)
        assert report.updated == 1
        row = await db.fetchone(
            "SELECT actor FROM audit WHERE action = 'club.update' ORDER BY id DESC LIMIT 1"
        )
        assert row["actor"] == "source:OFBOT_CLUBS_SOURCE"
    finally:
        await runtime.stop()


async def test_an_url_source_answers_csv_or_json(settings, telegram):
    """Over HTTP on loopback: the setting only takes https, the code reads any URL it is given."""
    served = {"body": mermoz_csv(2).encode(), "type": "text/csv", "status": 200}

    async def clubs(request):
        return Response(served["body"], served["status"], media_type=served["type"])

    async with serving(Starlette(routes=[Route("/clubs", clubs)])) as server:
        settings = replace_settings(settings, clubs_source=server.url + "/clubs")
        await seed_database(settings)
        runtime = Runtime(settings)
        await runtime.start()
        try:
            services = runtime.services
            await club_records.sync_clubs_source(services)
            assert (
                await services.db.fetchval(
                    "SELECT active_resources FROM clubs WHERE subdomain = 'mermoz'"
                )
                == 2
            )
            served.update(body=json.dumps(mermoz_json(1)).encode(), type="application/json")
            await club_records.sync_clubs_source(services)
            assert (
                await services.db.fetchval(
                    "SELECT active_resources FROM clubs WHERE subdomain = 'mermoz'"
                )
                == 1
            )
            served.update(status=503)
            with pytest.raises(club_records.SourceError, match="503"):
                await club_records.sync_clubs_source(services)
            served.update(status=200, body=b"x" * (club_records.MAX_CLUBS_BYTES + 1))
            with pytest.raises(club_records.SourceError, match="more than"):
                await club_records.sync_clubs_source(services)
        finally:
            await runtime.stop()


# --- the renew step ---------------------------------------------------------------------------


async def below_minimum(chat: Chat) -> dict:
    await chat.press("Renouveler")
    replies = await chat.say("3")
    return replies[-1]


async def test_the_count_step_says_when_the_count_was_read(chat, smtp, bot):
    await verify(chat, smtp)
    replies = await chat.press("Renouveler")
    assert "Ressources activées sur la plateforme : 4 (relevé le " in replies[-1]["text"]


async def test_deactivated_but_unchanged_tells_staff_once(chat, smtp, bot, telegram):
    await verify(chat, smtp)
    refusal = await below_minimum(chat)
    assert any("désactivé" in label for label in chat.buttons(refusal))
    staff_before = len(telegram.bot_messages(STAFF_CHAT))
    replies = await chat.press("désactivé")
    text = "\n".join(m["text"] for m in replies)
    assert "toujours <b>4</b>" not in text and "toujours 4" in text
    assert "L’équipe OpenFlyers est prévenue" in text
    assert "Pour combien de ressources" in replies[-1]["text"]  # the count step again
    staff = telegram.bot_messages(STAFF_CHAT)[staff_before:]
    assert len(staff) == 1
    assert "mermoz" in staff[0]["text"] and "ofbot clubs import" in staff[0]["text"]

    await chat.say("3")  # still at the count step
    replies = await chat.press("désactivé")  # asked again: staff are not told twice
    assert "prévenue" in "\n".join(m["text"] for m in replies)
    assert len(telegram.bot_messages(STAFF_CHAT)) == staff_before + 1


@pytest.mark.parametrize("admin_bot", [{}], indirect=True)
async def test_deactivated_and_the_record_was_refreshed(admin_bot, telegram, smtp):
    chat = Chat(telegram, admin_bot, 1001)
    await verify(chat, smtp)
    await below_minimum(chat)
    assert (await post(admin_bot, mermoz_csv(2), "text/csv")).status_code == 200
    replies = await chat.press("désactivé")
    texts = [m["text"] for m in replies]
    assert any("maintenant activées" in t and "au lieu de 4" in t for t in texts), texts
    assert "Au minimum 2" in texts[-1]
    replies = await chat.say("3")
    assert "Devis" in replies[-1]["text"]


async def test_deactivated_reads_the_source_again(settings, telegram, smtp, tmp_path):
    source = tmp_path / "clubs.csv"
    source.write_text(SAMPLE_CLUBS.read_text(encoding="utf-8"), encoding="utf-8")
    settings = replace_settings(settings, clubs_source=str(source))
    await seed_database(settings)
    runtime = Runtime(settings)
    await runtime.start()
    harness = BotHarness(runtime, telegram)
    try:
        chat = Chat(telegram, harness, 1001)
        await verify(chat, smtp)
        await below_minimum(chat)
        source.write_text(mermoz_csv(3), encoding="utf-8")  # OpenFlyers' file now says 3
        replies = await chat.press("désactivé")
        assert any("au lieu de 4" in m["text"] for m in replies), chat.transcript()
        replies = await chat.say("3")
        assert "Devis" in replies[-1]["text"]
    finally:
        await runtime.stop()
