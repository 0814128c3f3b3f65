"""The staff group as a forum (issue 18) end to end: one topic per club, created on its first event
and named "subdomain — club name"; cards and conversations routed to it; plain writing there
answers the club; the name follows the open requests; deleted topics made anew, closed ones
reopened; a plain group unchanged; a group turned into a forum moving to topics from its next
event; a bot not allowed to manage topics keeping staff events in General without asking again."""

from __future__ import annotations

import datetime as dt

import pytest

from bot import reminders, staff_topics
from tests.conftest import (
    CLUB_USER_2,
    CLUB_USER_FR,
    OUTSIDER,
    STAFF_CHAT,
    STAFF_USERS,
    Chat,
    make_staff_forum,
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
    make_staff_forum(telegram)
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

    # Staff close the topic in their app: the club's next event reopens it (test below).
    telegram.close_topic(ALICE, STAFF_CHAT, renewed["message_thread_id"])
    await bot.idle()
    await telegram.send_text(CLUB_USER_FR, "Toujours là ?")
    await bot.idle()
    [reopened] = telegram.topics(STAFF_CHAT)
    assert reopened["message_thread_id"] == renewed["message_thread_id"]
    assert not reopened["is_closed"]
    assert "Toujours là ?" in in_topic(telegram, reopened["message_thread_id"])[-1]["text"]
    stored = await bot.services.db.fetchall("SELECT thread_id, closed FROM staff_topics")
    assert [tuple(row) for row in stored] == [(reopened["message_thread_id"], 0)]


async def test_two_clubs_get_a_topic_each_and_cards_follow_the_requests(
    chat, smtp, bot, telegram, alice
):
    make_staff_forum(telegram)
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
    make_staff_forum(telegram)  # an administrator turns topics on, lets the bot manage them
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
    make_staff_forum(telegram)
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
    make_staff_forum(telegram)
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
    make_staff_forum(telegram)
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


async def test_a_topic_staff_closed_is_reopened_on_the_clubs_next_event(chat, smtp, bot, telegram):
    """Telegram lets the bot (an administrator managing topics) post in a closed topic, where
    staff would not see it nor be able to answer: the bot reopens the topic first."""
    make_staff_forum(telegram)
    await verify(chat, smtp, "mermoz")
    await open_talk(chat)
    thread = topic_named(telegram, "mermoz")["message_thread_id"]
    telegram.close_topic(ALICE, STAFF_CHAT, thread)
    await bot.idle()
    assert topic_named(telegram, "mermoz")["is_closed"]
    await telegram.send_text(CLUB_USER_FR, "Vous êtes là ?")
    await bot.idle()
    topic = topic_named(telegram, "mermoz")
    assert topic["message_thread_id"] == thread and not topic["is_closed"]
    assert telegram.calls.get("createforumtopic") == 1 and telegram.calls["reopenforumtopic"] == 1
    service = [m for m in telegram.messages(STAFF_CHAT) if "forum_topic_reopened" in m]
    [relayed] = [m for m in in_topic(telegram, thread) if "Vous êtes là ?" in m["text"]]
    assert service[-1]["message_id"] < relayed["message_id"]  # reopened, then the message
    # Staff (who may not write in a closed topic) answer there again.
    mark = max(m["message_id"] for m in telegram.messages(CLUB_USER_FR))
    await write_in_topic(bot, telegram, thread, "Oui, je regarde.")
    assert [m["text"] for m in telegram.bot_messages(CLUB_USER_FR) if m["message_id"] > mark] == [
        "Oui, je regarde."
    ]
    # Staff closing and reopening it themselves: nothing to reopen at the next event.
    telegram.close_topic(ALICE, STAFF_CHAT, thread)
    telegram.reopen_topic(ALICE, STAFF_CHAT, thread)
    await bot.idle()
    await telegram.send_text(CLUB_USER_FR, "Merci")
    await bot.idle()
    assert "Merci" in in_topic(telegram, thread)[-1]["text"]
    assert telegram.calls["reopenforumtopic"] == 1
    assert len(telegram.topics(STAFF_CHAT)) == 1


@pytest.mark.parametrize(
    ("status", "rights"),
    [
        ("member", {}),
        ("administrator", {"can_manage_topics": False, "can_delete_messages": True}),
    ],
)
async def test_a_bot_not_allowed_to_manage_topics_keeps_staff_events_in_general(
    chat, smtp, bot, telegram, caplog, status, rights
):
    """createForumTopic refused ("not enough rights to create a topic"): the club's events go to
    the General topic, and the bot does not ask Telegram again at each event (no getChat nor
    createForumTopic, one warning) until its rights change or an hour has passed."""
    telegram.set_forum(STAFF_CHAT)
    telegram.set_bot_member(STAFF_CHAT, status, **rights)
    await verify(chat, smtp, "mermoz")
    await open_talk(chat)
    for text in ("Premier message", "Deuxième message"):
        await telegram.send_text(CLUB_USER_FR, text)
        await bot.idle()
    staff = telegram.bot_messages(STAFF_CHAT)
    assert len(staff) == 3 and all("message_thread_id" not in m for m in staff)
    assert "Deuxième message" in staff[-1]["text"]
    assert telegram.topics(STAFF_CHAT) == []
    assert telegram.calls["createforumtopic"] == 1 and telegram.calls["getchat"] == 1
    warned = [r for r in caplog.records if "may not manage topics" in r.getMessage()]
    assert len(warned) == 1 and "Manage topics" in warned[0].getMessage()
    assert await bot.services.db.fetchval("SELECT count(*) FROM staff_topics") == 0
    # An hour later the bot asks again (still refused: General, one more warning).
    bot.services.clock.advance(dt.timedelta(seconds=staff_topics.REFUSAL_MEMORY + 1))
    await telegram.send_text(CLUB_USER_FR, "Une heure après")
    await bot.idle()
    assert telegram.calls["createforumtopic"] == 2
    assert "message_thread_id" not in telegram.bot_messages(STAFF_CHAT)[-1]
    # An administrator gives the bot the right: the next event makes the club's topic.
    telegram.set_bot_member(STAFF_CHAT, "administrator", can_manage_topics=True)
    await bot.idle()
    await telegram.send_text(CLUB_USER_FR, "Et maintenant ?")
    await bot.idle()
    topic = topic_named(telegram, "mermoz")
    assert "Et maintenant ?" in in_topic(telegram, topic["message_thread_id"])[-1]["text"]


async def test_a_bot_that_lost_the_right_sends_to_general_and_reopens_once_it_is_back(
    chat, smtp, bot, telegram
):
    make_staff_forum(telegram)
    await verify(chat, smtp, "mermoz")
    await open_talk(chat)
    thread = topic_named(telegram, "mermoz")["message_thread_id"]
    telegram.set_bot_member(STAFF_CHAT, "member")  # demoted
    telegram.close_topic(ALICE, STAFF_CHAT, thread)
    await bot.idle()
    for text in ("Il y a quelqu’un ?", "Allô ?"):
        await telegram.send_text(CLUB_USER_FR, text)
        await bot.idle()
        last = telegram.bot_messages(STAFF_CHAT)[-1]
        assert text in last["text"] and "message_thread_id" not in last  # General
    assert telegram.calls["reopenforumtopic"] == 1  # refused once, then remembered
    assert topic_named(telegram, "mermoz")["is_closed"]
    telegram.set_bot_member(STAFF_CHAT, "administrator", can_manage_topics=True)
    await bot.idle()
    await telegram.send_text(CLUB_USER_FR, "Toujours rien ?")
    await bot.idle()
    topic = topic_named(telegram, "mermoz")
    assert topic["message_thread_id"] == thread and not topic["is_closed"]
    assert "Toujours rien ?" in in_topic(telegram, thread)[-1]["text"]


async def test_a_closed_topic_the_bot_did_not_hear_of_is_reopened_when_telegram_refuses(
    chat, smtp, bot, telegram
):
    """TOPIC_CLOSED on a send (the bot missed the service message, and may not post in closed
    topics): the topic is reopened and the message sent there."""
    make_staff_forum(telegram)
    await verify(chat, smtp, "mermoz")
    await open_talk(chat)
    thread = topic_named(telegram, "mermoz")["message_thread_id"]
    telegram.close_topic(ALICE, STAFF_CHAT, thread)
    await bot.idle()
    await bot.services.db.execute("UPDATE staff_topics SET closed = 0")  # as if never heard of
    telegram.set_bot_member(STAFF_CHAT, "administrator", can_manage_topics=False)
    await bot.idle()
    await telegram.send_text(CLUB_USER_FR, "Ici ?")
    await bot.idle()
    last = telegram.bot_messages(STAFF_CHAT)[-1]
    assert "Ici ?" in last["text"] and "message_thread_id" not in last  # reopen refused: General
    assert await bot.services.db.fetchval("SELECT closed FROM staff_topics") == 1
    telegram.set_bot_member(STAFF_CHAT, "administrator", can_manage_topics=True)
    await bot.idle()
    await telegram.send_text(CLUB_USER_FR, "Et là ?")
    await bot.idle()
    assert "Et là ?" in in_topic(telegram, thread)[-1]["text"]
    assert not topic_named(telegram, "mermoz")["is_closed"]
