"""The staff group as a forum (issue 18) end to end: one topic per club, created on its first event
and named "subdomain — club name"; cards and conversations routed to it; plain writing there
answers the club; the name follows the open requests; deleted or closed topics made anew; a plain
group unchanged; a group turned into a forum moving to topics from its next event."""

from __future__ import annotations

import datetime as dt

from bot import reminders
from tests.conftest import (
    CLUB_USER_2,
    CLUB_USER_FR,
    OUTSIDER,
    STAFF_CHAT,
    STAFF_USERS,
    Chat,
    sample_club,
    verify,
)
from tests.e2e.test_staff_and_escalations import ask_manual_reset, card_of, confirm_request

MERMOZ = sample_club("mermoz")
LESAILES = sample_club("lesailes")
ALICE = STAFF_USERS[0]


def topic_named(telegram, subdomain: str) -> dict:
    found = [t for t in telegram.topics(STAFF_CHAT) if f"{subdomain} — " in t["name"]]
    assert len(found) == 1, telegram.topics(STAFF_CHAT)
    return found[0]


def in_topic(telegram, thread_id: int) -> list[dict]:
    """The bot's messages in one topic (service messages left out)."""
    return [
        m
        for m in telegram.bot_messages(STAFF_CHAT)
        if m.get("message_thread_id") == thread_id and ("text" in m or "caption" in m)
    ]


async def open_talk(chat: Chat) -> list[dict]:
    return await chat.press("Parler à l’équipe")


async def write_in_topic(bot, telegram, thread_id: int, text: str) -> None:
    await telegram.send_text(ALICE, text, chat_id=STAFF_CHAT, message_thread_id=thread_id)
    await bot.idle()


async def test_a_club_topic_is_created_routed_answered_closed_and_recreated(
    chat, smtp, bot, telegram
):
    telegram.set_forum(STAFF_CHAT)
    await verify(chat, smtp, "mermoz")
    assert telegram.topics(STAFF_CHAT) == []  # nothing about the club reached staff yet
    await open_talk(chat)
    topic = topic_named(telegram, "mermoz")
    assert topic["name"] == f"💬 mermoz — {MERMOZ['name']}"
    thread = topic["message_thread_id"]
    [header] = in_topic(telegram, thread)
    assert "Conversation n°" in header["text"] and header["is_topic_message"]
    created = telegram.messages(STAFF_CHAT)[0]
    assert created["forum_topic_created"]["name"] == topic["name"]  # the state from the start

    # The club writes: the message lands in the club's topic.
    await telegram.send_text(CLUB_USER_FR, "Bonjour, une question sur la facture")
    await bot.idle()
    assert "une question sur la facture" in in_topic(telegram, thread)[-1]["text"]

    # Staff write plainly in the topic (no reply to a given message): the club gets it.
    mark = max(m["message_id"] for m in telegram.messages(CLUB_USER_FR))
    await write_in_topic(bot, telegram, thread, "Elle est dans « Mes factures ».")
    answers = [m for m in telegram.bot_messages(CLUB_USER_FR) if m["message_id"] > mark]
    assert [m["text"] for m in answers] == ["Elle est dans « Mes factures »."]
    # Staff talking in General reach no club.
    await telegram.send_text(ALICE, "pause café ?", chat_id=STAFF_CHAT)
    await bot.idle()
    assert telegram.bot_messages(CLUB_USER_FR)[-1]["text"] == "Elle est dans « Mes factures »."

    # /close in the topic: the topic says so, its name drops the open conversation.
    await write_in_topic(bot, telegram, thread, "/close")
    assert "close par Alice" in in_topic(telegram, thread)[-1]["text"]
    assert topic_named(telegram, "mermoz")["name"] == f"mermoz — {MERMOZ['name']}"
    assert "a clos cette conversation" in telegram.bot_messages(CLUB_USER_FR)[-1]["text"]
    # Once closed, plain writing in the topic goes nowhere.
    mark = max(m["message_id"] for m in telegram.messages(CLUB_USER_FR))
    await write_in_topic(bot, telegram, thread, "encore là ?")
    assert [m for m in telegram.bot_messages(CLUB_USER_FR) if m["message_id"] > mark] == []

    # Staff delete the topic in their app: the next event makes a new one.
    telegram.delete_topic(ALICE, STAFF_CHAT, thread)
    await chat.say("/start")
    await open_talk(chat)
    renewed = topic_named(telegram, "mermoz")
    assert renewed["message_thread_id"] != thread
    assert "Conversation n°" in in_topic(telegram, renewed["message_thread_id"])[-1]["text"]

    # Staff close the topic in their app: the next event makes a new one too.
    telegram.close_topic(ALICE, STAFF_CHAT, renewed["message_thread_id"])
    await bot.idle()
    await telegram.send_text(CLUB_USER_FR, "Toujours là ?")
    await bot.idle()
    open_topics = [t for t in telegram.topics(STAFF_CHAT) if not t["is_closed"]]
    assert len(open_topics) == 1
    newest = open_topics[0]["message_thread_id"]
    assert newest not in (thread, renewed["message_thread_id"])
    assert "Toujours là ?" in in_topic(telegram, newest)[-1]["text"]
    stored = await bot.services.db.fetchall("SELECT thread_id FROM staff_topics")
    assert [row["thread_id"] for row in stored] == [newest]


async def test_two_clubs_get_a_topic_each_and_cards_follow_the_requests(
    chat, smtp, bot, telegram, alice
):
    telegram.set_forum(STAFF_CHAT)
    await verify(chat, smtp, "mermoz")
    other = Chat(telegram, bot, CLUB_USER_2)
    await verify(other, smtp, "lesailes")
    await ask_manual_reset(chat)
    escalation_id = await confirm_request(chat)  # Business: free, so the card is up at once
    await open_talk(other)
    mermoz, lesailes = topic_named(telegram, "mermoz"), topic_named(telegram, "lesailes")
    assert mermoz["message_thread_id"] != lesailes["message_thread_id"]
    card = card_of(telegram, escalation_id)
    assert card["message_thread_id"] == mermoz["message_thread_id"]
    assert mermoz["name"] == f"🆕 mermoz — {MERMOZ['name']}"
    assert lesailes["name"] == f"💬 lesailes — {LESAILES['name']}"
    assert all("lesailes" in m["text"] for m in in_topic(telegram, lesailes["message_thread_id"]))

    # Taking the request: the card is edited in place, the topic's name follows.
    await alice.press("Je prends", card)
    assert topic_named(telegram, "mermoz")["name"] == f"👤 mermoz — {MERMOZ['name']}"
    await alice.press("Fait", card_of(telegram, escalation_id))
    assert topic_named(telegram, "mermoz")["name"] == f"mermoz — {MERMOZ['name']}"
    # Still one topic per club.
    assert len(telegram.topics(STAFF_CHAT)) == 2


async def test_a_group_without_topics_keeps_one_stream(chat, smtp, bot, telegram):
    await verify(chat, smtp, "mermoz")
    await open_talk(chat)
    await telegram.send_text(CLUB_USER_FR, "Bonjour")
    await bot.idle()
    staff = telegram.bot_messages(STAFF_CHAT)
    assert len(staff) == 2 and "Bonjour" in staff[-1]["text"]
    assert all("message_thread_id" not in m for m in staff)
    assert "createforumtopic" not in telegram.calls
    assert await bot.services.db.fetchval("SELECT count(*) FROM staff_topics") == 0


async def test_a_group_turned_into_a_forum_moves_to_topics_from_the_next_event(
    chat, smtp, bot, telegram
):
    await verify(chat, smtp, "mermoz")
    await open_talk(chat)
    [header] = telegram.bot_messages(STAFF_CHAT)
    assert "message_thread_id" not in header
    telegram.set_forum(STAFF_CHAT)  # an administrator turns topics on
    await telegram.send_text(CLUB_USER_FR, "Et maintenant ?")
    await bot.idle()
    topic = topic_named(telegram, "mermoz")
    [relayed] = in_topic(telegram, topic["message_thread_id"])
    assert "Et maintenant ?" in relayed["text"]
    # A reply to the old header (in General) still reaches the club.
    mark = max(m["message_id"] for m in telegram.messages(CLUB_USER_FR))
    await telegram.send_text(
        ALICE, "Bien reçu", chat_id=STAFF_CHAT, reply_to_message_id=header["message_id"]
    )
    await bot.idle()
    assert [m["text"] for m in telegram.bot_messages(CLUB_USER_FR) if m["message_id"] > mark] == [
        "Bien reçu"
    ]


async def test_reminder_failures_go_to_the_club_topic_and_the_summary_to_general(
    chat, smtp, bot, telegram
):
    telegram.set_forum(STAFF_CHAT)
    await verify(chat, smtp, "lesailes")
    ends = dt.date.fromisoformat(LESAILES["subscription_ends"])
    telegram.block_bot(CLUB_USER_FR)
    summary = await reminders.run_reminders(
        bot.services, bot.runtime.app.bot, ends - dt.timedelta(days=30)
    )
    assert summary.blocked == 1
    report = await telegram.wait_for_bot_message(STAFF_CHAT, contains="bloqués : 1")
    assert "message_thread_id" not in report  # the summary stays in General
    topic = topic_named(telegram, "lesailes")
    [line] = in_topic(telegram, topic["message_thread_id"])
    assert "non remis" in line["text"] and "bloqué (le contact a bloqué le bot)" in line["text"]


async def test_pending_and_stats_answer_in_general_even_from_a_club_topic(
    chat, smtp, bot, telegram
):
    telegram.set_forum(STAFF_CHAT)
    await verify(chat, smtp, "mermoz")
    await open_talk(chat)
    thread = topic_named(telegram, "mermoz")["message_thread_id"]
    for command, heading in (("/pending", "En attente"), ("/stats", "")):
        mark = max(m["message_id"] for m in telegram.messages(STAFF_CHAT))
        await write_in_topic(bot, telegram, thread, command)
        [answer] = [m for m in telegram.bot_messages(STAFF_CHAT) if m["message_id"] > mark]
        assert "message_thread_id" not in answer and heading in answer["text"]
    # The command was not taken for an answer to the club.
    assert all("/pending" not in (m.get("text") or "") for m in telegram.messages(CLUB_USER_FR))


async def test_help_in_the_staff_group_lists_the_staff_commands_in_the_topic_asked(
    chat, smtp, bot, telegram, alice
):
    """/help in the staff group: the staff commands, in the asker's language, in the topic it
    was asked in (General: no topic); other staff commands asked in a topic answer there too."""
    telegram.set_forum(STAFF_CHAT)
    await verify(chat, smtp, "mermoz")
    await open_talk(chat)
    thread = topic_named(telegram, "mermoz")["message_thread_id"]

    [general] = await alice.say("/help")
    assert "/club SOUS-DOMAINE" in general["text"] and "/pending" in general["text"]
    assert "/close" in general["text"] and "sujet du club" in general["text"]
    assert "message_thread_id" not in general

    mark = max(m["message_id"] for m in telegram.messages(STAFF_CHAT))
    for command in ("/help", "/club mermoz"):
        await telegram.send_text(ALICE, command, chat_id=STAFF_CHAT, message_thread_id=thread)
        await bot.idle()
    answers = [m for m in in_topic(telegram, thread) if m["message_id"] > mark]
    assert len(answers) == 2, answers
    assert "/paid FACTURE virement|cheque" in answers[0]["text"]
    assert MERMOZ["name"] in answers[1]["text"]

    # A staff member whose Telegram is in English gets the English help.
    telegram.add_user(STAFF_USERS[1], "Bruno", language_code="en")
    mark = max(m["message_id"] for m in telegram.messages(STAFF_CHAT))
    await telegram.send_text(STAFF_USERS[1], "/help", chat_id=STAFF_CHAT, message_thread_id=thread)
    await bot.idle()
    [english] = [m for m in in_topic(telegram, thread) if m["message_id"] > mark]
    assert "/club SUBDOMAIN" in english["text"] and "this help" in english["text"]

    # Anyone else in the group is refused politely, in the topic too.
    mark = max(m["message_id"] for m in telegram.messages(STAFF_CHAT))
    await telegram.send_text(OUTSIDER, "/help", chat_id=STAFF_CHAT, message_thread_id=thread)
    await bot.idle()
    [refused] = [m for m in in_topic(telegram, thread) if m["message_id"] > mark]
    assert "réservé à l’équipe" in refused["text"]


async def test_help_in_a_plain_staff_group(bot, alice):
    [answer] = await alice.say("/help")
    assert "/stats" in answer["text"] and "sujet du club" not in answer["text"]
