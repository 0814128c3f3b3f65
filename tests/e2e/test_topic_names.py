"""A club's forum topic name counts its open conversations whatever closes one: /forget, staff
closing it, the chat opening another (tester's finding: after /forget the topic still read
"💬2 mermoz — …" with one conversation open)."""

from __future__ import annotations

from tests.conftest import CLUB_USER_2, STAFF_CHAT, Chat, make_staff_forum, sample_club, verify

MERMOZ = sample_club("mermoz")


def topic_name(telegram, subdomain: str) -> str:
    [topic] = [t for t in telegram.topics(STAFF_CHAT) if f"{subdomain} — " in t["name"]]
    return topic["name"]


async def test_forget_closing_one_of_two_conversations_renames_the_topic(chat, smtp, bot, telegram):
    make_staff_forum(telegram)
    other = Chat(telegram, bot, CLUB_USER_2)
    for person in (chat, other):
        await verify(person, smtp, "mermoz")
        await person.press("Parler à l’équipe")
    assert topic_name(telegram, "mermoz") == f"💬2 mermoz — {MERMOZ['name']}"
    await other.say("/forget")
    await other.press("Oui")
    assert topic_name(telegram, "mermoz") == f"💬 mermoz — {MERMOZ['name']}"
    await chat.say("/forget")
    await chat.press("Oui")
    assert topic_name(telegram, "mermoz") == f"mermoz — {MERMOZ['name']}"


async def test_a_help_request_counts_in_the_topic_and_leaves_it_when_replaced(
    chat, smtp, bot, telegram
):
    make_staff_forum(telegram)
    await chat.say("/start")
    await chat.say("mermoz")
    for attempt in range(5):
        await chat.say(f"wrong{attempt}@else.example.org")
    await chat.press("équipe")
    assert topic_name(telegram, "mermoz") == f"💬 mermoz — {MERMOZ['name']}"
    other = Chat(telegram, bot, CLUB_USER_2)
    await verify(other, smtp, "mermoz")
    await other.press("Parler à l’équipe")
    assert topic_name(telegram, "mermoz") == f"💬2 mermoz — {MERMOZ['name']}"
