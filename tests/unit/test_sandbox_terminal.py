"""The terminal sandbox's small rules: how a typed label matches a button, and the sample clubs'
end dates moved to the day the sandbox starts."""

from __future__ import annotations

import csv
import datetime as dt
import io

from bot.sandbox.run import SAMPLE_DATES_AS_OF, sample_clubs_csv
from bot.sandbox.terminal import label_key
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
