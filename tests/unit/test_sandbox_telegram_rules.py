"""The sandbox Bot API held to Telegram's rules for groups, edits, callback queries, copies, URL
buttons and webhooks (issue 14; each rule and its source in docs/TELEGRAM.md), driven over
loopback HTTP by python-telegram-bot itself."""

from __future__ import annotations

import pytest
from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, ChatMigrated

from tests.unit.test_sandbox_telegram import ALICE, JEANNE, JOHN, OUTSIDER, STAFF, Sandbox, sandbox

BASIC = -4242


@pytest.fixture
async def tg():
    async with sandbox() as s:
        s.fake.add_group(STAFF, "OpenFlyers staff", members=[ALICE, OUTSIDER, JEANNE])
        yield s


async def updates(tg: Sandbox) -> list:
    found = await tg.bot.get_updates(timeout=0)
    if found:
        await tg.bot.get_updates(offset=found[-1].update_id + 1, timeout=0)
    return found


async def test_privacy_mode_delivers_only_commands_replies_and_mentions(tg: Sandbox):
    me = await tg.bot.get_me()
    assert tg.fake.privacy_mode and me.can_read_all_group_messages is False
    mine = await tg.bot.send_message(STAFF, "Carte")
    await updates(tg)
    await tg.fake.send_text(ALICE, "on discute entre nous", chat_id=STAFF)
    await tg.fake.send_text(ALICE, "réponse", chat_id=STAFF, reply_to_message_id=mine.message_id)
    await tg.fake.send_text(ALICE, "/pending", chat_id=STAFF)
    await tg.fake.send_text(ALICE, "/pending@ofbot_sandbox_bot", chat_id=STAFF)
    await tg.fake.send_text(ALICE, "/pending@another_bot", chat_id=STAFF)
    await tg.fake.send_text(ALICE, "dis @ofbot_sandbox_bot, tu es là ?", chat_id=STAFF)
    got = [u.message.text for u in await updates(tg)]
    assert got == [
        "réponse",
        "/pending",
        "/pending@ofbot_sandbox_bot",
        "dis @ofbot_sandbox_bot, tu es là ?",
    ]
    # Private chats are not concerned; with privacy mode off every group message arrives.
    await tg.fake.send_text(JEANNE, "bonjour")
    tg.fake.set_privacy_mode(False)
    await tg.fake.send_text(ALICE, "on discute encore", chat_id=STAFF)
    assert [u.message.text for u in await updates(tg)] == ["bonjour", "on discute encore"]
    assert (await tg.bot.get_me()).can_read_all_group_messages is True


async def test_a_bot_that_administers_the_group_receives_every_message(tg: Sandbox):
    """Bot features, "Privacy mode": bots added as administrators always receive all messages
    (a forum's staff group, where the bot must manage topics, is such a group)."""
    tg.fake.set_bot_member(STAFF, "administrator", can_manage_topics=True)
    await updates(tg)
    await tg.fake.send_text(ALICE, "on discute entre nous", chat_id=STAFF)
    assert [u.message.text for u in await updates(tg)] == ["on discute entre nous"]
    assert (await tg.bot.get_me()).can_read_all_group_messages is False  # the bot's own setting
    tg.fake.set_bot_member(STAFF, "member")
    await updates(tg)
    await tg.fake.send_text(ALICE, "plus entre nous", chat_id=STAFF)
    assert list(await updates(tg)) == []


async def test_a_bare_command_goes_to_the_last_bot_that_posted(tg: Sandbox):
    tg.fake.add_user(7777, "Other bot")
    tg.fake._users[7777]["is_bot"] = True
    tg.fake._chats[STAFF].members.add(7777)
    await tg.bot.send_message(STAFF, "moi d'abord")
    await tg.fake.send_text(7777, "l'autre bot ensuite", chat_id=STAFF)
    await updates(tg)
    await tg.fake.send_text(ALICE, "/pending", chat_id=STAFF)
    assert not await updates(tg)


async def test_force_reply_targets_mentioned_users_and_the_replied_sender(tg: Sandbox):
    card = await tg.bot.send_message(STAFF, "Carte")
    nobody = await tg.bot.send_message(
        STAFF,
        "Répondez avec le motif",
        reply_to_message_id=card.message_id,
        reply_markup=ForceReply(selective=True),
    )
    assert tg.fake.force_reply_targets(STAFF, nobody.message_id) == set()
    mention = await tg.bot.send_message(
        STAFF,
        f'<a href="tg://user?id={ALICE}">Alice</a>, le motif ?',
        parse_mode="HTML",
        reply_markup=ForceReply(selective=True),
    )
    assert tg.fake.force_reply_targets(STAFF, mention.message_id) == {ALICE}
    asked = await tg.fake.send_text(JEANNE, "/refuse", chat_id=STAFF)
    replied = await tg.bot.send_message(
        STAFF, "Le motif ?", reply_to_message_id=asked["message_id"], reply_markup=ForceReply(True)
    )
    assert tg.fake.force_reply_targets(STAFF, replied.message_id) == {JEANNE}
    everyone = await tg.bot.send_message(STAFF, "Tous", reply_markup=ForceReply())
    assert tg.fake.force_reply_targets(STAFF, everyone.message_id) == {ALICE, OUTSIDER, JEANNE}


async def test_a_user_edit_is_an_edited_message_update(tg: Sandbox):
    sent = await tg.fake.send_text(JEANNE, "mermoz")
    await updates(tg)
    await tg.fake.edit_text(JEANNE, sent["message_id"], "12")
    [update] = await updates(tg)
    assert update.message is None and update.edited_message.text == "12"
    assert update.edited_message.message_id == sent["message_id"]
    assert update.edited_message.edit_date is not None
    with pytest.raises(ValueError):  # an edit that changes nothing sends nothing
        await tg.fake.edit_text(JEANNE, sent["message_id"], "12")
    with pytest.raises((KeyError, ValueError)):  # only one's own messages
        await tg.fake.edit_text(JOHN, sent["message_id"], "13", chat_id=JEANNE)
    # In a group, privacy mode hides the edit as it hid the message.
    chatter = await tg.fake.send_text(ALICE, "entre nous", chat_id=STAFF)
    await tg.fake.edit_text(ALICE, chatter["message_id"], "toujours entre nous", chat_id=STAFF)
    assert not await updates(tg)


async def test_group_migration_answers_400_with_the_new_id_and_service_messages(tg: Sandbox):
    tg.fake.add_group(BASIC, "Staff", members=[ALICE])
    old = await tg.bot.send_message(BASIC, "Avant")
    new_id = tg.fake.migrate_group(BASIC)
    assert str(new_id).startswith("-100")
    with pytest.raises(ChatMigrated) as caught:
        await tg.bot.send_message(BASIC, "Après")
    assert caught.value.new_chat_id == new_id
    with pytest.raises(ChatMigrated):
        await tg.bot.edit_message_text("Modifié", BASIC, old.message_id)
    moved = await tg.bot.send_message(new_id, "Après")
    assert moved.chat.id == new_id and moved.chat.type == "supergroup"
    service = [u.message for u in await updates(tg)]
    assert [(m.chat.id, m.migrate_to_chat_id, m.migrate_from_chat_id) for m in service] == [
        (BASIC, new_id, None),
        (new_id, None, BASIC),
    ]
    with pytest.raises(ValueError):  # people write in the new chat only
        await tg.fake.send_text(ALICE, "encore ici ?", chat_id=BASIC)


async def test_anonymous_admins_write_as_the_group(tg: Sandbox):
    sent = await tg.fake.send_text(
        ALICE, "@ofbot_sandbox_bot bonjour", chat_id=STAFF, anonymous=True
    )
    [update] = await updates(tg)
    message = update.message
    assert message.from_user.id == 1087968824 and message.from_user.username == "GroupAnonymousBot"
    assert message.sender_chat.id == STAFF and sent["sender_chat"]["id"] == STAFF
    with pytest.raises(ValueError):
        await tg.fake.send_text(JEANNE, "anonyme en privé ?", anonymous=True)


async def test_callback_queries_expire_within_seconds(tg: Sandbox):
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Oui", callback_data="yes")]])
    message = await tg.bot.send_message(JEANNE, "Sûr ?", reply_markup=markup)
    query_id = await tg.fake.press(JEANNE, message.message_id, "yes")
    tg.clock.now += 11
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await tg.bot.answer_callback_query(query_id)
    fresh = await tg.fake.press(JEANNE, message.message_id, "yes")
    tg.clock.now += 5
    assert await tg.bot.answer_callback_query(fresh, text="ok")
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):  # once only
        await tg.bot.answer_callback_query(fresh)


async def test_copy_message_copies_voice_stickers_and_videos(tg: Sandbox):
    voice = await tg.fake.send_voice(JEANNE, caption="écoutez")
    sticker = await tg.fake.send_sticker(JEANNE, emoji="✈️")
    video = await tg.fake.send_video(JEANNE, caption="la piste")
    for source, key in ((voice, "voice"), (sticker, "sticker"), (video, "video")):
        copied = await tg.bot.copy_message(STAFF, JEANNE, source["message_id"])
        stored = tg.fake._chats[STAFF].messages[copied.message_id]
        assert stored[key]["file_id"] == source[key]["file_id"]
        assert "forward_origin" not in stored
    assert tg.fake._chats[STAFF].messages[copied.message_id]["caption"] == "la piste"
    service = tg.fake.migrate_group  # a service message cannot be copied
    tg.fake.add_group(BASIC, "Staff", members=[ALICE])
    new_id = service(BASIC)
    with pytest.raises(BadRequest, match=r"(?i)can't be copied"):
        await tg.bot.copy_message(STAFF, new_id, 1)


async def test_copy_message_rechecks_the_caption(tg: Sandbox):
    long = "é" * 1500  # a Telegram Premium user may send it; a bot may not
    photo = await tg.fake.send_photo(JEANNE, caption=long)
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await tg.bot.copy_message(STAFF, JEANNE, photo["message_id"])
    copied = await tg.bot.copy_message(STAFF, JEANNE, photo["message_id"], caption="")
    assert "caption" not in tg.fake._chats[STAFF].messages[copied.message_id]


async def test_url_buttons_need_a_host_telegram_accepts(tg: Sandbox):
    for url in ("http://localhost:8080/pay", "https://intranet/pay", "http://checkout./x"):
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Payer", url=url)]])
        with pytest.raises(BadRequest, match=r"(?i)BUTTON_URL_INVALID"):
            await tg.bot.send_message(JEANNE, "Lien", reply_markup=markup)
    for url in ("https://checkout.stripe.com/c/pay/x", "http://127.0.0.1:8000/c", "tg://user?id=1"):
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Payer", url=url)]])
        assert await tg.bot.send_message(JEANNE, "Lien", reply_markup=markup)


async def test_set_webhook_needs_https_on_an_allowed_port(tg: Sandbox):
    tg.fake.route_webhook("https://bot.example.org:8443", "http://127.0.0.1:9")
    for url, error in (
        ("http://bot.example.org:8443/hook", "HTTPS URL must be provided"),
        ("https://bot.example.org:8080/hook", "ports 80, 88, 443 or 8443"),
        ("https://unknown.example.org/hook", "Failed to resolve host"),
    ):
        with pytest.raises(BadRequest, match=f"(?i){error}"):
            await tg.bot.set_webhook(url)
    assert await tg.bot.set_webhook("https://bot.example.org:8443/hook")
    assert (await tg.bot.get_webhook_info()).url == "https://bot.example.org:8443/hook"
    await tg.bot.delete_webhook()
