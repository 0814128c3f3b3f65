"""Issue 12 case 2, the kind behind it: proof of mailbox access must not depend on a budget a
stranger can spend. Every code mail carries a one-tap link (`/start v_<token>`) that verifies the
chat that taps it, under no hourly budget; a used, expired or wrong link verifies nothing."""

from __future__ import annotations

import datetime as dt
import re
import secrets

import pytest

from bot import verification
from storage import clubs as club_rows
from storage import contacts
from storage import verification as verification_rows
from tests.conftest import CLUB_USER_2, CLUB_USER_EN, CLUB_USER_FR, Chat, sample_club

MERMOZ = sample_club("mermoz")
LINK = re.compile(r"https://t\.me/(\w+)\?start=(v_[A-Za-z0-9_-]+)")
REFUSED_FR = "n’est pas (ou plus) valable"


def link_in(message: dict) -> tuple[str, str]:
    """(bot username, start payload) of the link in a code mail."""
    match = LINK.search(message["text"])
    assert match, message["text"]
    return match.group(1), match.group(2)


async def is_contact(bot, chat_id: int) -> bool:
    club = await club_rows.get_by_subdomain(bot.services.db, "mermoz")
    contact = await contacts.get(bot.services.db, club.id, chat_id)
    return contact is not None and bool(contact.active)


async def stranger_mails_a_code(telegram, bot, smtp, user_id: int, kind: str) -> dict:
    """A stranger who knows a registered address has a code (and its link) mailed there."""
    telegram.add_user(user_id, f"Intrus {user_id}", language_code="fr")
    stranger = Chat(telegram, bot, user_id)
    await stranger.say("/start")
    await stranger.say("mermoz")
    count = len(smtp.mailbox.messages_to(MERMOZ[kind]))
    replies = await stranger.say(MERMOZ[kind])
    assert "6 chiffres" in replies[-1]["text"], stranger.transcript()
    return await smtp.mailbox.wait_for(to=MERMOZ[kind], after_count=count)


async def test_reviewer_scenario_the_real_contact_verifies_with_the_mailed_link(
    telegram, bot, smtp
):
    """7001 and 7002 spend the club's three codes of the hour on both registered addresses; the
    real contact is refused a code and cannot type the stranger's, but taps the link of the mail
    the stranger triggered and is verified."""
    structure, contact = MERMOZ["structure_email"], MERMOZ["contact_email"]
    await stranger_mails_a_code(telegram, bot, smtp, 7001, "structure_email")
    count = len(smtp.mailbox.messages_to(structure))
    replies = await Chat(telegram, bot, 7001).press("Renvoyer")
    assert "6 chiffres" in replies[-1]["text"]
    resent = await smtp.mailbox.wait_for(to=structure, after_count=count)
    await stranger_mails_a_code(telegram, bot, smtp, 7002, "contact_email")

    jeanne = Chat(telegram, bot, CLUB_USER_FR)
    await jeanne.say("/start")
    await jeanne.say("mermoz")
    for address in (structure, contact):
        replies = await jeanne.say(address)
        text = replies[-1]["text"]
        assert "Trois codes" in text, jeanne.transcript()
        assert "touchez le lien" in text  # the code already mailed still works
    replies = await jeanne.say(re.search(r"\b(\d{6})\b", resent["text"]).group(1))
    assert not await is_contact(bot, CLUB_USER_FR)  # the code is bound to the stranger's chat

    username, payload = link_in(resent)
    assert username == bot.services.bot_username
    replies = await jeanne.say(f"/start {payload}")
    assert "vérifié" in replies[0]["text"], jeanne.transcript()
    assert await is_contact(bot, CLUB_USER_FR)
    assert not await is_contact(bot, 7001)
    # Once used, the link is spent: the stranger (or anyone) tapping it again gets nothing.
    replies = await Chat(telegram, bot, 7001).say(f"/start {payload}")
    assert REFUSED_FR in replies[0]["text"]
    assert not await is_contact(bot, 7001)


async def test_a_link_survives_the_strangers_resend_and_forget(telegram, bot, smtp):
    """The chat that asked cannot take back what was mailed: neither a new code nor `/forget`
    voids the link the club's contact holds."""
    first = await stranger_mails_a_code(telegram, bot, smtp, 7001, "structure_email")
    stranger = Chat(telegram, bot, 7001)
    await stranger.press("Renvoyer")
    await stranger.say("/forget")
    await stranger.press("Oui, oublier")
    _, payload = link_in(first)
    replies = await Chat(telegram, bot, CLUB_USER_FR).say(f"/start {payload}")
    assert "vérifié" in replies[0]["text"]
    assert await is_contact(bot, CLUB_USER_FR)


async def test_an_expired_link_verifies_nothing(telegram, bot, smtp):
    mail = await stranger_mails_a_code(telegram, bot, smtp, 7001, "structure_email")
    _, payload = link_in(mail)
    bot.services.clock.advance(dt.timedelta(seconds=verification.CODE_TTL + 1))
    replies = await Chat(telegram, bot, CLUB_USER_FR).say(f"/start {payload}")
    assert REFUSED_FR in replies[0]["text"]
    assert not await is_contact(bot, CLUB_USER_FR)


@pytest.mark.parametrize(
    "payload",
    [
        "v_" + secrets.token_urlsafe(verification.LINK_BYTES),  # well formed, never mailed
        "v_",
        "v_" + "A" * 62,
        "v_../../etc",
        "v_%00",
        "v_" + secrets.token_urlsafe(verification.LINK_BYTES)[:-1] + "é",
    ],
)
async def test_a_wrong_link_is_refused_in_the_users_language(telegram, bot, smtp, payload):
    mail = await stranger_mails_a_code(telegram, bot, smtp, 7001, "structure_email")
    _, real = link_in(mail)
    replies = await Chat(telegram, bot, CLUB_USER_EN).say(f"/start {payload}")
    assert "not valid" in replies[0]["text"], replies
    assert not await is_contact(bot, CLUB_USER_EN)
    # The real link still works after the wrong ones (no budget was spent).
    replies = await Chat(telegram, bot, CLUB_USER_2).say(f"/start {real}")
    assert "vérifié" in replies[0]["text"]


async def test_the_link_is_stored_only_as_a_keyed_hash_and_every_tap_is_logged(telegram, bot, smtp):
    mail = await stranger_mails_a_code(telegram, bot, smtp, 7001, "structure_email")
    _, payload = link_in(mail)
    token = payload.removeprefix("v_")
    assert len(payload) <= 64 and len(token) * 6 >= 128
    services = bot.services
    rows = await services.db.fetchall("SELECT * FROM verification_codes")
    assert rows
    for row in rows:
        assert all(token not in str(value) for value in tuple(row))
    expected = verification.hash_link(token, services.settings.code_key)
    assert [row["link_hash"] for row in rows] == [expected]
    # The outbox holds the mail's body (code and link) only until the relay took it.
    for row in await services.db.fetchall("SELECT body FROM mail_outbox WHERE sent_at IS NOT NULL"):
        assert row["body"] is None

    await Chat(telegram, bot, CLUB_USER_EN).say("/start v_" + "B" * 32)
    await Chat(telegram, bot, CLUB_USER_FR).say(f"/start {payload}")
    taps = await verification_rows.attempts_since(services.db, "link", 0)
    assert len(taps) == 2
    row = await services.db.fetchone("SELECT link_hash, used_at FROM verification_codes")
    assert row["link_hash"] is None and row["used_at"] is not None


async def test_the_english_mail_has_the_link_and_the_code_step_says_so(telegram, bot, smtp):
    john = Chat(telegram, bot, CLUB_USER_EN)
    await john.say("/start")
    await john.say("mermoz")
    address = MERMOZ["contact_email"]
    replies = await john.say(address)
    assert "tap the link" in replies[-1]["text"]
    mail = await smtp.mailbox.wait_for(to=address)
    assert "tap this link" in mail["text"]
    _, payload = link_in(mail)
    replies = await john.say(f"/start {payload}")
    assert "verified" in replies[0]["text"].lower()
