"""Arbitrary text at every free-text step of the club conversation (hypothesis): no handler
raises, every input gets a reply, and nothing is written that should not be."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import sample_club

MERMOZ = sample_club("mermoz")
NASTY = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=50),
    st.sampled_from(
        [
            " ",
            "\u200f\u202emermoz\u202c",
            "x" * 10_000,
            "'; DROP TABLE clubs; --",
            "<b>unclosed",
            "&amp; &lt; <script>alert(1)</script>",
            "🛩️" * 300,
            "\x00\x01\x02",
            "%s %d {0} {{ x }}",
            "١٢٣٤٥٦",
            "000000",
            "https://evil.example/openflyers.fr",
        ]
    ),
).filter(lambda s: s.strip() and not s.lstrip().startswith("/"))
SLOW = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def _assert_answered_and_clean(chat, bot, text, before_contacts):
    replies = await chat.say(text)
    assert replies, f"no reply to {text!r}"
    for message in replies:
        assert "référence" not in message["text"], chat.transcript()[-2000:]
    assert chat.telegram.bot_messages(bot.services.settings.staff_chat_id) == []
    contacts = await bot.services.db.fetchval("SELECT count(*) FROM contacts")
    assert contacts == before_contacts
    clubs = await bot.services.db.fetchval("SELECT count(*) FROM clubs")
    assert clubs == bot.club_count


@SLOW
@given(text=NASTY)
async def test_identify_step(chat, bot, text):
    bot.club_count = await bot.services.db.fetchval("SELECT count(*) FROM clubs")
    await chat.say("/cancel")
    await chat.say("/start")
    await _assert_answered_and_clean(chat, bot, text, 0)


@SLOW
@given(text=NASTY.filter(lambda s: "@" not in s))
async def test_email_step(chat, bot, text):
    bot.club_count = await bot.services.db.fetchval("SELECT count(*) FROM clubs")
    await chat.say("/cancel")
    await chat.say("/start mermoz")
    await _assert_answered_and_clean(chat, bot, text, 0)
    # The lock must not spill over into later examples.
    await bot.services.db.execute("DELETE FROM verification_attempts")


@SLOW
@given(text=NASTY)
async def test_code_step(chat, bot, smtp, text):
    bot.club_count = await bot.services.db.fetchval("SELECT count(*) FROM clubs")
    await chat.say("/cancel")
    await bot.services.db.execute("DELETE FROM verification_codes")
    await bot.services.db.execute("DELETE FROM verification_attempts")  # the hourly limits
    await chat.say("/start mermoz")
    await chat.say(MERMOZ["structure_email"])
    await _assert_answered_and_clean(chat, bot, text, 0)
