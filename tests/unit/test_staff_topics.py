"""The staff forum's bookkeeping (bot/staff_topics.py, storage/staff_topics.py): topic names that
follow the open requests within Telegram's 128 characters, one topic per club and staff chat, and
plain writing in a topic that answers only a verified contact's conversation."""

from __future__ import annotations

import pytest

from bot import relay, staff_topics
from storage import clubs as club_rows
from storage import relay as relay_rows
from storage import staff_topics as topic_rows
from storage.staff_topics import StaffTopic
from tests.unit.test_invoices import services_on

STAFF_CHAT = -1001234567890


@pytest.fixture
async def services(tmp_path):
    async with services_on(tmp_path) as built:
        yield built


async def club(services, subdomain="mermoz"):
    return await club_rows.get_by_subdomain(services.db, subdomain)


async def test_the_name_says_subdomain_and_club_then_the_open_conversations(services):
    mermoz = await club(services)
    assert await staff_topics.topic_name(services, mermoz.id) == f"mermoz — {mermoz.name}"
    for chat_id in (1001, 1002):
        await relay_rows.open_talk(
            services.db,
            chat_id=chat_id,
            user_id=chat_id,
            club_id=mermoz.id,
            verified=True,
            lang="fr",
        )
    assert await staff_topics.topic_name(services, mermoz.id) == f"💬2 mermoz — {mermoz.name}"


async def test_a_long_club_name_is_cut_to_telegrams_128_characters(services):
    mermoz = await club(services)
    await services.db.execute("UPDATE clubs SET name = ? WHERE id = ?", ("É" * 300, mermoz.id))
    name = await staff_topics.topic_name(services, mermoz.id)
    assert len(name) == staff_topics.MAX_NAME and name.endswith("…")


async def test_one_topic_per_club_and_staff_chat_a_new_staff_chat_gets_its_own(services):
    mermoz, lesailes = await club(services), await club(services, "lesailes")
    await topic_rows.save(services.db, StaffTopic(STAFF_CHAT, mermoz.id, 5, "a"))
    await topic_rows.save(services.db, StaffTopic(STAFF_CHAT, lesailes.id, 9, "b"))
    await topic_rows.save(services.db, StaffTopic(STAFF_CHAT, mermoz.id, 12, "a"))  # made anew
    assert (await topic_rows.get(services.db, STAFF_CHAT, mermoz.id)).thread_id == 12
    assert await topic_rows.club_of(services.db, STAFF_CHAT, 5) is None
    assert await topic_rows.club_of(services.db, STAFF_CHAT, 9) == lesailes.id
    # A migrated staff group (a new chat id) starts without topics.
    assert await topic_rows.get(services.db, -1009999999999, mermoz.id) is None


async def test_plain_writing_in_a_topic_answers_a_verified_contact_never_a_stranger(services):
    mermoz = await club(services)
    await topic_rows.save(services.db, StaffTopic(STAFF_CHAT, mermoz.id, 5, "mermoz"))
    # A locked-out stranger asked for help about this club: answered only by replying.
    await relay_rows.open_talk(
        services.db, chat_id=6666, user_id=6666, club_id=mermoz.id, verified=False, lang="fr"
    )
    assert await relay.topic_target(services, STAFF_CHAT, 5) is None
    talk, _ = await relay_rows.open_talk(
        services.db, chat_id=1001, user_id=1001, club_id=mermoz.id, verified=True, lang="fr"
    )
    target = await relay.topic_target(services, STAFF_CHAT, 5)
    assert target.club_chat_id == 1001 and target.talk_id == talk.id
    assert await relay.topic_target(services, STAFF_CHAT, None) is None  # General
    assert await relay.topic_target(services, -1009999999999, 5) is None  # another chat


async def test_a_closed_topic_is_recorded_and_a_topic_made_anew_starts_open(services):
    mermoz = await club(services)
    await topic_rows.save(services.db, StaffTopic(STAFF_CHAT, mermoz.id, 5, "mermoz"))
    assert await topic_rows.set_closed(services.db, STAFF_CHAT, 5, True) == mermoz.id
    assert (await topic_rows.get(services.db, STAFF_CHAT, mermoz.id)).closed is True
    assert await topic_rows.set_closed(services.db, STAFF_CHAT, 77, True) is None  # not a club's
    await topic_rows.save(services.db, StaffTopic(STAFF_CHAT, mermoz.id, 12, "mermoz"))
    assert (await topic_rows.get(services.db, STAFF_CHAT, mermoz.id)).closed is False


async def test_a_refusal_to_manage_topics_is_remembered_until_the_rights_change(services):
    from telegram import ChatMemberMember, User
    from telegram.error import BadRequest

    assert staff_topics.may_manage_topics(services, STAFF_CHAT)
    refusal = BadRequest("Not enough rights to create a topic")
    assert staff_topics.lacks_rights(refusal)
    assert staff_topics.lacks_rights(BadRequest("Chat_admin_required"))
    assert not staff_topics.lacks_rights(BadRequest("Message thread not found"))
    staff_topics._remember_refusal(services, STAFF_CHAT, refusal)
    assert not staff_topics.may_manage_topics(services, STAFF_CHAT)
    assert staff_topics.may_manage_topics(services, -1009999999999)  # another chat
    me = ChatMemberMember(User(1, "ofbot", is_bot=True))
    staff_topics.rights_changed(services, STAFF_CHAT, me)
    assert staff_topics.may_manage_topics(services, STAFF_CHAT)
