"""The terminal sandbox's small rules: how a typed label matches a button, and the sample clubs'
end dates moved to the day the sandbox starts."""

from __future__ import annotations

import csv
import datetime as dt
import io
import types

from bot.sandbox.run import SAMPLE_DATES_AS_OF, sample_clubs_csv
from bot.sandbox.terminal import TerminalChat, label_key
from tests.conftest import sample_club


def test_a_typed_label_matches_whatever_its_emoji_and_apostrophes():
    button = "💬 Parler à l’équipe"
    for typed in ("Parler à l'équipe", "parler à l’équipe", "  💬 PARLER  à l'équipe "):
        assert label_key(typed) == label_key(button)
    assert label_key("✉️ Changer les e-mails") == label_key("changer les e-mails")
    assert label_key("🗑 Oublier cette conversation") == "oublier cette conversation"
    # Accents and words still count: a different label is a different button.
    assert label_key("Parler a l'equipe") != label_key(button)
    assert label_key("4 (minimum)") != label_key("4")
    assert label_key("🔄") == ""


def test_sample_end_dates_keep_their_distance_to_the_day_the_sandbox_starts():
    later = SAMPLE_DATES_AS_OF + dt.timedelta(days=400)
    rows = {r["subdomain"]: r for r in csv.DictReader(io.StringIO(sample_clubs_csv(later)))}
    for subdomain in ("mermoz", "dublin"):
        written = dt.date.fromisoformat(sample_club(subdomain)["subscription_ends"])
        moved = dt.date.fromisoformat(rows[subdomain]["subscription_ends"])
        assert moved - later == written - SAMPLE_DATES_AS_OF
        assert rows[subdomain]["name"] == sample_club(subdomain)["name"]


def terminal(tmp_path, files: dict[str, bytes]):
    telegram = types.SimpleNamespace(
        document_bytes=lambda message: files[
            (message.get("document") or message["photo"][-1])["file_id"]
        ]
    )
    settings = types.SimpleNamespace(db=tmp_path / "sandbox" / "ofbot.sqlite3")
    chat = TerminalChat(types.SimpleNamespace(telegram=telegram, settings=settings), lambda: None)
    chat.colour = False
    return chat


BOT = {"id": 123, "is_bot": True, "first_name": "OpenFlyers"}
STAFF_GROUP = {"id": -1001000000001, "type": "supergroup", "is_forum": True}


def test_a_document_is_saved_and_its_path_shown(tmp_path, capsys):
    pdf = b"%PDF-1.7\n" + b"x" * 4000
    chat = terminal(tmp_path, {"BQAC1": pdf, "AgAC2": b"\x89PNG\r\n\x1a\n" + b"p" * 30})
    chat.show(
        {
            "message_id": 7,
            "from": BOT,
            "chat": {"id": 1001, "type": "private"},
            "document": {"file_id": "BQAC1", "file_name": "OF-2026-000002.pdf"},
            "caption": "Votre facture",
        }
    )
    saved = tmp_path / "sandbox" / "files" / "OF-2026-000002.pdf"
    out = capsys.readouterr().out
    assert saved.read_bytes() == pdf
    assert f"[document OF-2026-000002.pdf, 4 KB: saved as {saved}] Votre facture" in out
    # A sender's file name never leaves the folder; a photo is saved too.
    chat.show(
        {
            "message_id": 8,
            "from": {"id": 1001, "first_name": "Jeanne"},
            "chat": {"id": 1001, "type": "private"},
            "document": {"file_id": "BQAC1", "file_name": "../../.bashrc"},
        }
    )
    chat.show(
        {
            "message_id": 9,
            "from": {"id": 1001, "first_name": "Jeanne"},
            "chat": {"id": 1001, "type": "private"},
            "photo": [{"file_id": "AgAC2", "width": 1, "height": 1}],
        }
    )
    out = capsys.readouterr().out
    assert (tmp_path / "sandbox" / "files" / "bashrc").read_bytes() == pdf
    assert "photo-1001-9.png, 38 bytes: saved as" in out
    assert sorted(p.name for p in (tmp_path / "sandbox").rglob("*") if p.is_file()) == [
        "OF-2026-000002.pdf",
        "bashrc",
        "photo-1001-9.png",
    ]


def test_forum_service_messages_say_what_they_are(tmp_path, capsys):
    chat = terminal(tmp_path, {})
    services = [
        ({"forum_topic_created": {"name": "💬 mermoz — Mermoz", "icon_color": 1}}, "topic created"),
        ({"forum_topic_edited": {"name": "👤 mermoz — Mermoz"}}, "topic renamed: “👤 mermoz"),
        ({"forum_topic_edited": {"icon_custom_emoji_id": "5"}}, "topic icon changed"),
        ({"forum_topic_closed": {}}, "[topic closed]"),
        ({"forum_topic_reopened": {}}, "[topic reopened]"),
    ]
    for number, (fields, said) in enumerate(services, 1):
        chat.show({"message_id": number, "from": BOT, "chat": STAFF_GROUP, **fields})
        out = capsys.readouterr().out
        assert f"bot #{number}:\n  " in out and said in out, out
        assert out.rstrip().endswith("]")
