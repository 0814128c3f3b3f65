"""The sandbox Bot API's forum supergroups, driven by python-telegram-bot over loopback: topics
created, edited, closed, reopened and deleted; messages in a topic; the General topic; the errors."""

from __future__ import annotations

import httpx
import pytest
from telegram.error import BadRequest, Forbidden, RetryAfter

from tests.unit.test_sandbox_telegram import ALICE, JEANNE, STAFF, Sandbox, sandbox

FORUM = -1009876543210
PLAIN_GROUP = -4001
MANAGER = {"can_manage_topics": True, "can_delete_messages": True}


@pytest.fixture
async def forum():
    async with sandbox() as s:
        s.fake.add_group(FORUM, "Staff forum", members=[ALICE], forum=True)
        s.fake.add_group(PLAIN_GROUP, "Old group", members=[ALICE])
        # As a deployment must: the bot administers the forum and may manage its topics.
        s.fake.set_bot_member(FORUM, "administrator", announce=False, **MANAGER)
        yield s


async def test_create_topic_returns_the_topic_and_posts_its_service_message(forum: Sandbox):
    topic = await forum.bot.create_forum_topic(FORUM, "mermoz — Aéroclub Mermoz")
    assert topic.name == "mermoz — Aéroclub Mermoz"
    assert topic.icon_color == 7322096
    [created] = forum.fake.messages(FORUM)
    assert created["message_id"] == topic.message_thread_id
    assert created["message_thread_id"] == topic.message_thread_id
    assert created["is_topic_message"] is True
    assert created["forum_topic_created"] == {"name": topic.name, "icon_color": 7322096}
    assert forum.fake.topics(FORUM) == [
        {
            "message_thread_id": topic.message_thread_id,
            "name": topic.name,
            "icon_color": 7322096,
            "is_closed": False,
        }
    ]
    chat = await forum.bot.get_chat(FORUM)
    assert chat.is_forum is True


async def test_messages_sent_in_a_topic_are_topic_messages_replying_to_its_start(forum: Sandbox):
    topic = await forum.bot.create_forum_topic(FORUM, "Club A")
    sent = await forum.bot.send_message(FORUM, "A card", message_thread_id=topic.message_thread_id)
    assert sent.message_thread_id == topic.message_thread_id
    assert sent.is_topic_message is True
    assert sent.reply_to_message.message_id == topic.message_thread_id
    assert sent.reply_to_message.forum_topic_created.name == "Club A"
    general = await forum.bot.send_message(FORUM, "The summary")
    assert general.message_thread_id is None and not general.is_topic_message
    # A reply to a message of a topic lands in that topic.
    answer = await forum.bot.send_message(FORUM, "Answer", reply_to_message_id=sent.message_id)
    assert answer.message_thread_id == topic.message_thread_id


async def test_a_person_writes_in_a_topic_and_the_bot_receives_it(forum: Sandbox):
    topic = await forum.bot.create_forum_topic(FORUM, "Club A")
    await forum.fake.send_text(
        ALICE, "plain answer", chat_id=FORUM, message_thread_id=topic.message_thread_id
    )
    [update] = await forum.bot.get_updates()
    message = update.message
    assert message.text == "plain answer"
    assert message.is_topic_message and message.message_thread_id == topic.message_thread_id
    assert message.reply_to_message.message_id == topic.message_thread_id
    assert message.chat.is_forum is True


async def test_edit_close_reopen_each_leave_a_service_message_and_refuse_no_change(
    forum: Sandbox,
):
    topic = await forum.bot.create_forum_topic(FORUM, "Club A")
    thread = topic.message_thread_id
    assert await forum.bot.edit_forum_topic(FORUM, thread, name="⏳ 1 · Club A")
    with pytest.raises(BadRequest, match="Topic_not_modified"):
        await forum.bot.edit_forum_topic(FORUM, thread, name="⏳ 1 · Club A")
    assert await forum.bot.close_forum_topic(FORUM, thread)
    with pytest.raises(BadRequest, match="Topic_not_modified"):
        await forum.bot.close_forum_topic(FORUM, thread)
    with pytest.raises(ValueError, match="closed"):
        await forum.fake.send_text(ALICE, "hello?", chat_id=FORUM, message_thread_id=thread)
    assert await forum.bot.reopen_forum_topic(FORUM, thread)
    await forum.bot.send_message(FORUM, "open again", message_thread_id=thread)
    services = [
        next(k for k in m if k.startswith("forum_topic_"))
        for m in forum.fake.messages(FORUM)
        if any(k.startswith("forum_topic_") for k in m)
    ]
    assert services == [
        "forum_topic_created",
        "forum_topic_edited",
        "forum_topic_closed",
        "forum_topic_reopened",
    ]
    assert forum.fake.topics(FORUM)[0]["name"] == "⏳ 1 · Club A"


async def test_a_deleted_topic_takes_its_messages_and_its_thread_is_then_not_found(
    forum: Sandbox,
):
    topic = await forum.bot.create_forum_topic(FORUM, "Club A")
    thread = topic.message_thread_id
    await forum.bot.send_message(FORUM, "in the topic", message_thread_id=thread)
    await forum.bot.send_message(FORUM, "in General")
    assert await forum.bot.delete_forum_topic(FORUM, thread)
    assert [m.get("text") for m in forum.fake.messages(FORUM)] == ["in General"]
    assert forum.fake.topics(FORUM) == []
    with pytest.raises(BadRequest, match="Message thread not found"):
        await forum.bot.send_message(FORUM, "again", message_thread_id=thread)
    with pytest.raises(BadRequest, match="Message thread not found"):
        await forum.bot.edit_forum_topic(FORUM, thread, name="x")


async def test_an_administrator_closes_or_deletes_a_topic_from_the_app(forum: Sandbox):
    topic = await forum.bot.create_forum_topic(FORUM, "Club A")
    forum.fake.close_topic(ALICE, FORUM, topic.message_thread_id)
    [update] = await forum.bot.get_updates()
    assert update.message.forum_topic_closed is not None
    assert update.message.from_user.id == ALICE
    forum.fake.delete_topic(ALICE, FORUM, topic.message_thread_id)
    with pytest.raises(BadRequest, match="Message thread not found"):
        await forum.bot.send_message(FORUM, "x", message_thread_id=topic.message_thread_id)


async def test_groups_that_are_not_forums_refuse_topics(forum: Sandbox):
    for chat_id in (STAFF, PLAIN_GROUP):
        with pytest.raises(BadRequest, match="The chat is not a forum"):
            await forum.bot.create_forum_topic(chat_id, "Club A")
        with pytest.raises(BadRequest, match="Message thread not found"):
            await forum.bot.send_message(chat_id, "x", message_thread_id=2)
    with pytest.raises(BadRequest, match="Chat not found"):
        await forum.bot.create_forum_topic(-100111, "Club A")
    with pytest.raises(ValueError, match="supergroups"):
        forum.fake.set_forum(PLAIN_GROUP)
    with pytest.raises(ValueError, match="supergroups"):
        forum.fake.add_group(-4002, "Small group", members=[ALICE], forum=True)


async def test_a_supergroup_turned_into_a_forum_accepts_topics_from_then_on(forum: Sandbox):
    with pytest.raises(BadRequest, match="not a forum"):
        await forum.bot.create_forum_topic(STAFF, "Club A")
    assert not (await forum.bot.get_chat(STAFF)).is_forum
    forum.fake.set_forum(STAFF)
    forum.fake.set_bot_member(STAFF, "administrator", announce=False, can_manage_topics=True)
    assert (await forum.bot.get_chat(STAFF)).is_forum
    topic = await forum.bot.create_forum_topic(STAFF, "Club A")
    sent = await forum.bot.send_message(STAFF, "card", message_thread_id=topic.message_thread_id)
    assert sent.chat.is_forum and sent.is_topic_message


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"name": ""}, "Bad Request: TOPIC_TITLE_EMPTY"),
        ({"name": "x" * 129}, "Bad Request: TOPIC_TITLE_TOO_LONG"),
        ({"name": "ok", "icon_color": 123}, "Bad Request: TOPIC_ICON_COLOR_INVALID"),
    ],
)
async def test_topic_names_and_colours_are_checked(forum: Sandbox, params, description):
    async with httpx.AsyncClient() as client:
        response = await client.post(
            forum.api("createForumTopic"), json={"chat_id": FORUM, **params}
        )
    assert response.status_code == 400
    assert response.json()["description"] == description
    assert forum.fake.topics(FORUM) == []


async def test_a_128_character_name_is_accepted(forum: Sandbox):
    topic = await forum.bot.create_forum_topic(FORUM, "é" * 128)
    assert topic.name == "é" * 128


async def test_topic_methods_need_a_valid_thread_id(forum: Sandbox):
    async with httpx.AsyncClient() as client:
        missing = await client.post(forum.api("closeForumTopic"), json={"chat_id": FORUM})
        wrong = await client.post(
            forum.api("closeForumTopic"), json={"chat_id": FORUM, "message_thread_id": "x"}
        )
        unknown = await client.post(
            forum.api("closeForumTopic"), json={"chat_id": FORUM, "message_thread_id": 999}
        )
    assert missing.json()["description"] == "Bad Request: message_thread_id is empty"
    assert wrong.json()["description"] == "Bad Request: invalid message thread identifier specified"
    assert unknown.json()["description"] == "Bad Request: message thread not found"


async def test_the_user_side_http_api_turns_topics_on_closes_and_deletes(forum: Sandbox):
    topic = await forum.bot.create_forum_topic(FORUM, "Club A")
    thread = topic.message_thread_id
    async with httpx.AsyncClient(base_url=forum.url) as client:
        turned = await client.post("/sandbox/forum", json={"chat_id": STAFF, "enabled": True})
        sent = await client.post(
            "/sandbox/send",
            json={"user_id": ALICE, "chat_id": FORUM, "text": "hi", "message_thread_id": thread},
        )
        closed = await client.post(
            "/sandbox/topics/close",
            json={"user_id": ALICE, "chat_id": FORUM, "message_thread_id": thread},
        )
        deleted = await client.post(
            "/sandbox/topics/delete",
            json={"user_id": ALICE, "chat_id": FORUM, "message_thread_id": thread},
        )
        chats = (await client.get("/sandbox/chats")).json()["chats"]
        refused = await client.post(
            "/sandbox/send",
            json={"user_id": JEANNE, "chat_id": FORUM, "text": "not a member"},
        )
    assert turned.json()["is_forum"] is True
    assert sent.json()["message_thread_id"] == thread
    assert closed.json()["forum_topic_closed"] == {}
    assert deleted.json() == {"ok": True}
    by_id = {c["chat"]["id"]: c for c in chats}
    assert by_id[FORUM]["topics"] == [] and by_id[STAFF]["chat"]["is_forum"] is True
    assert refused.status_code == 400


async def test_the_user_api_reads_a_groups_messages_and_menu_by_its_negative_id(forum: Sandbox):
    """Groups have negative chat ids: every `/sandbox/chats/{chat_id}/…` route takes them."""
    await forum.bot.send_message(FORUM, "Bonjour l’équipe")
    async with httpx.AsyncClient(base_url=forum.url) as client:
        messages = await client.get(f"/sandbox/chats/{FORUM}/messages")
        plain = await client.get(f"/sandbox/chats/{PLAIN_GROUP}/messages?after=0")
        menu = await client.get(f"/sandbox/chats/{FORUM}/commands?user_id={ALICE}")
        bad_after = await client.get(f"/sandbox/chats/{FORUM}/messages?after=x")
        unknown = await client.get("/sandbox/chats/-1001/messages")
    assert messages.status_code == 200
    assert [m["text"] for m in messages.json()] == ["Bonjour l’équipe"]
    assert plain.status_code == 200 and plain.json() == []
    assert menu.status_code == 200 and menu.json() == {"commands": []}
    assert bad_after.status_code == 400 and "error" in bad_after.json()
    assert unknown.status_code == 400


async def test_topic_service_messages_count_in_the_group_s_twenty_a_minute(forum: Sandbox):
    """Creating or renaming a topic posts a service message in the group: counted with the
    messages (the stricter reading: Telegram does not say), before anything changes."""
    topic = await forum.bot.create_forum_topic(FORUM, "Club A")
    for n in range(9):
        await forum.bot.edit_forum_topic(FORUM, topic.message_thread_id, name=f"Club A {n}")
    for n in range(10):
        await forum.bot.send_message(FORUM, f"card {n}")
    with pytest.raises(RetryAfter):
        await forum.bot.create_forum_topic(FORUM, "Club B")
    with pytest.raises(RetryAfter):
        await forum.bot.edit_forum_topic(FORUM, topic.message_thread_id, name="Club A again")
    assert [t["name"] for t in forum.fake.topics(FORUM)] == ["Club A 8"]


async def test_an_administrator_that_manages_topics_posts_in_a_closed_topic_others_cannot(
    forum: Sandbox,
):
    """Telegram lets an administrator with can_manage_topics post in a closed topic (its apps
    offer it; TOPIC_CLOSED is for the others): a topic staff close keeps taking the bot's
    messages unless the bot reopens it (docs/SANDBOX.md, "Forums")."""
    topic = await forum.bot.create_forum_topic(FORUM, "Club A")
    thread = topic.message_thread_id
    forum.fake.close_topic(ALICE, FORUM, thread)
    sent = await forum.bot.send_message(FORUM, "still here", message_thread_id=thread)
    assert sent.message_thread_id == thread
    assert forum.fake.topics(FORUM)[0]["is_closed"] is True  # posting does not reopen it
    forum.fake.set_bot_member(FORUM, "administrator", can_delete_messages=True)
    with pytest.raises(BadRequest, match="Topic_closed"):
        await forum.bot.send_message(FORUM, "x", message_thread_id=thread)
    forum.fake.set_bot_member(FORUM, "member")
    with pytest.raises(BadRequest, match="Topic_closed"):
        await forum.bot.copy_message(FORUM, FORUM, sent.message_id, message_thread_id=thread)
    # General takes the bot's messages whatever its rights.
    assert (await forum.bot.send_message(FORUM, "in General")).message_thread_id is None


@pytest.mark.parametrize(
    ("status", "rights"),
    [
        ("member", {}),
        ("restricted", {"can_send_messages": True, "can_manage_topics": True}),
        ("administrator", {"can_delete_messages": True, "can_pin_messages": True}),
    ],
)
async def test_only_an_administrator_with_can_manage_topics_manages_topics(
    forum: Sandbox, status, rights
):
    """Bot API createForumTopic…reopenForumTopic: "The bot must be an administrator in the chat
    for this to work and must have the can_manage_topics administrator rights"; the errors are
    TDLib's (ForumTopicManager). Stricter reading: the topic's creator gets no exception."""
    made = await forum.bot.create_forum_topic(FORUM, "Club A")
    thread = made.message_thread_id
    forum.fake.set_bot_member(FORUM, status, **rights)
    with pytest.raises(BadRequest, match=r"^Not enough rights to create a topic$"):
        await forum.bot.create_forum_topic(FORUM, "Club B")
    with pytest.raises(BadRequest, match=r"^Not enough rights to edit the topic$"):
        await forum.bot.edit_forum_topic(FORUM, thread, name="Club A, renamed")
    with pytest.raises(BadRequest, match=r"^Not enough rights to close or open the topic$"):
        await forum.bot.close_forum_topic(FORUM, thread)
    forum.fake.close_topic(ALICE, FORUM, thread)
    with pytest.raises(BadRequest, match=r"^Not enough rights to close or open the topic$"):
        await forum.bot.reopen_forum_topic(FORUM, thread)
    if not rights.get("can_delete_messages"):
        with pytest.raises(BadRequest, match=r"^Not enough rights to delete the topic$"):
            await forum.bot.delete_forum_topic(FORUM, thread)
    assert [t["name"] for t in forum.fake.topics(FORUM)] == ["Club A"]
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            forum.api("createForumTopic"), json={"chat_id": FORUM, "name": "x"}
        )
    assert answer.status_code == 400
    assert answer.json() == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: not enough rights to create a topic",
    }


async def test_a_bot_outside_the_forum_is_forbidden_there(forum: Sandbox):
    forum.fake.set_bot_member(FORUM, "left")
    with pytest.raises(Forbidden, match="bot is not a member of the supergroup chat"):
        await forum.bot.create_forum_topic(FORUM, "Club A")


async def test_rights_given_back_let_the_bot_manage_topics_again(forum: Sandbox):
    forum.fake.set_bot_member(FORUM, "administrator", can_manage_topics=False)
    with pytest.raises(BadRequest, match="Not enough rights"):
        await forum.bot.create_forum_topic(FORUM, "Club A")
    forum.fake.set_bot_member(FORUM, "administrator", can_manage_topics=True)
    updates = await forum.bot.get_updates(allowed_updates=["my_chat_member"])
    assert [u.my_chat_member.new_chat_member.can_manage_topics for u in updates] == [False, True]
    assert (await forum.bot.create_forum_topic(FORUM, "Club A")).name == "Club A"


async def test_the_user_side_http_api_sets_the_bots_rights_and_reopens_topics(forum: Sandbox):
    topic = await forum.bot.create_forum_topic(FORUM, "Club A")
    thread = topic.message_thread_id
    where = {"user_id": ALICE, "chat_id": FORUM, "message_thread_id": thread}
    async with httpx.AsyncClient(base_url=forum.url) as client:
        demoted = await client.post(
            "/sandbox/bot_member", json={"chat_id": FORUM, "status": "member"}
        )
        nonsense = await client.post(
            "/sandbox/bot_member",
            json={"chat_id": FORUM, "status": "administrator", "rights": {"can_fly": True}},
        )
        await client.post("/sandbox/topics/close", json=where)
        reopened = await client.post("/sandbox/topics/reopen", json=where)
        again = await client.post("/sandbox/topics/reopen", json=where)
        promoted = await client.post(
            "/sandbox/bot_member",
            json={
                "chat_id": FORUM,
                "status": "administrator",
                "rights": {"can_manage_topics": True},
            },
        )
    assert demoted.json()["status"] == "member"
    assert nonsense.status_code == 400
    assert reopened.json()["forum_topic_reopened"] == {}
    assert again.status_code == 400 and "open" in again.json()["error"]
    assert forum.fake.topics(FORUM)[0]["is_closed"] is False
    assert promoted.json()["can_manage_topics"] is True
    updates = await forum.bot.get_updates(allowed_updates=["my_chat_member", "message"])
    kinds = [
        u.my_chat_member.new_chat_member.status if u.my_chat_member else "service" for u in updates
    ]
    assert kinds == ["member", "service", "service", "administrator"]
