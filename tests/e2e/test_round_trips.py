"""Bot API requests per person's update in the renewal flow (issue 19 item 2): at most 1.5,
polling aside. A step answers with one message; a pressed button's message is edited into the
answer (answerCallbackQuery + editMessageText, sent together) instead of the answer, the removal
of the pressed keyboard and a new message."""

from __future__ import annotations

from bot.command_menu import TASK
from tests.conftest import Chat, read_code, sample_club

MERMOZ = sample_club("mermoz")


def requests_so_far(telegram) -> dict[str, int]:
    """Bot API calls by method, polling aside (getUpdates is counted apart by the benchmark)."""
    return {m: n for m, n in telegram.calls.items() if m != "getupdates"}


async def test_the_renewal_flow_costs_at_most_one_and_a_half_requests_per_update(
    chat: Chat, smtp, bot, telegram
):
    await bot.idle()
    await bot.services.extra[TASK]  # start-up's setMyCommands, sent in the background
    before = requests_so_far(telegram)
    updates_before = telegram.update_count
    await chat.say("/start")
    await chat.say("mermoz")
    await chat.say(MERMOZ["structure_email"])
    replies = await chat.say(await read_code(smtp, MERMOZ["structure_email"]))
    assert len(replies) == 1 and "Renouveler" in " ".join(chat.buttons(replies[0]))  # one message
    for label in ("Renouveler", "(minimum)", "Confirmer", "Virement"):
        replies = await chat.press(label)
        assert replies, chat.transcript()
    assert "IBAN" in replies[-1]["text"], chat.transcript()
    after = requests_so_far(telegram)
    spent = {m: n - before.get(m, 0) for m, n in after.items() if n != before.get(m, 0)}
    updates = telegram.update_count - updates_before
    assert updates == 8
    assert sum(spent.values()) / updates <= 1.5, spent
    # Each press: its answer and the edit that answers it, nothing else.
    assert spent.get("editmessagereplymarkup", 0) == 0, spent
    assert spent.get("answercallbackquery", 0) == 4, spent
    assert spent.get("editmessagetext", 0) == 4, spent
    # One message in the chat carries the renewal from the menu to the bank details.
    assert len(telegram.bot_messages(chat.chat_id)) == 4, chat.transcript()


async def test_bank_details_stay_and_a_press_under_them_answers_below(
    chat: Chat, smtp, bot, telegram
):
    """Payment instructions are kept: "I have sent it" leaves them readable (keyboard removed)
    and the thanks and the menu come as a new message."""
    await bot.idle()
    await chat.say("/start")
    await chat.say("mermoz")
    await chat.say(MERMOZ["structure_email"])
    await chat.say(await read_code(smtp, MERMOZ["structure_email"]))
    for label in ("Renouveler", "(minimum)", "Confirmer"):
        await chat.press(label)
    details = (await chat.press("Virement"))[-1]
    assert "IBAN" in details["text"]
    replies = await chat.press("envoyé", details)
    assert replies and replies[-1]["message_id"] > details["message_id"], chat.transcript()
    kept = chat.message(details["message_id"])
    assert kept["text"] == details["text"] and not kept.get("reply_markup"), kept


async def test_a_press_answers_below_a_message_that_is_not_the_chats_latest_or_a_notice(
    chat: Chat, smtp, bot, telegram
):
    """Only the chat's latest message, and only one of the conversation's own answers, becomes
    the answer: under an older message, or under a notice sent outside the conversation (a
    reminder, a receipt), the answer comes below and the pressed text stays as it was."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    from tests.conftest import verify

    menu = await verify(chat, smtp, "mermoz")
    tg_bot = bot.runtime.app.bot
    await tg_bot.send_message(chat.chat_id, "Rappel : votre abonnement se termine bientôt.")
    replies = await chat.press("Renouveler", menu)
    assert replies and replies[0]["message_id"] > menu["message_id"], chat.transcript()
    assert chat.message(menu["message_id"])["text"] == menu["text"]
    assert "Pour combien" in replies[-1]["text"]

    # A notice with a button of its own, pressed while it is the latest: kept as sent.
    notice = await tg_bot.send_message(
        chat.chat_id,
        "Rappel : votre abonnement se termine bientôt.",
        reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("Menu", callback_data="renew:start")]]
        ),
    )
    replies = await chat.press("Menu", chat.message(notice.message_id))
    assert replies and replies[0]["message_id"] > notice.message_id, chat.transcript()
    assert chat.message(notice.message_id)["text"] == notice.text


async def test_a_press_answers_below_a_notice_another_ofbot_process_sent(
    chat: Chat, smtp, bot, telegram, settings
):
    """`ofbot reminders run` or `ofbot payments reconcile`, run by hand while the bot runs, is
    another process: its message is not among those the bot sent. Recorded in the database
    (bot/notices.py), it still keeps a press under the message above it from being answered in
    place, out of sight above the notice."""
    from bot.notices import CommandBot, record_into
    from storage.db import open_database
    from tests.conftest import TOKEN, verify

    menu = await verify(chat, smtp, "mermoz")
    db = await open_database(settings.db)  # the command's own connection, as another process
    command_bot = CommandBot(TOKEN, base_url=f"{telegram.url}/bot")
    record_into(command_bot, db)
    async with command_bot:
        notice = await command_bot.send_message(chat.chat_id, "Rappel : votre abonnement…")
    await db.close()
    replies = await chat.press("Renouveler", menu)
    assert replies and replies[0]["message_id"] > notice.message_id, chat.transcript()
    assert chat.message(menu["message_id"])["text"] == menu["text"]
    assert "Pour combien" in replies[-1]["text"]
    # The next press, under the answer now below the notice, is answered in place again.
    answer = replies[-1]
    replies = await chat.press("(minimum)", answer)
    assert replies[-1]["message_id"] == answer["message_id"], chat.transcript()


async def test_an_edit_telegram_fails_to_make_is_answered_by_a_new_message(
    chat: Chat, smtp, bot, telegram
):
    """editMessageText answered 500 (Telegram surely did not edit): the answer comes as a new
    message, as before edits in place, and the flow goes on; no apology."""
    from tests.conftest import verify

    menu = await verify(chat, smtp, "mermoz")
    telegram.inject_fault("editMessageText", "500", 1)
    replies = await chat.press("Renouveler", menu)
    assert replies and replies[-1]["message_id"] > menu["message_id"], chat.transcript()
    assert "Pour combien" in replies[-1]["text"]
    assert not chat.message(menu["message_id"]).get("reply_markup")
    assert not any(
        "référence" in (m.get("text") or "") for m in telegram.bot_messages(chat.chat_id)
    )
    replies = await chat.press("(minimum)")
    assert "Devis" in replies[-1]["text"], chat.transcript()
