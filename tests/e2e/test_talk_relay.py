"""Talk to staff (SPEC §3.7) end to end: club texts, photos and documents copied to the staff group
with the club named, staff replies copied back to the right chat — with the club user's forwards
hidden in Telegram's privacy settings — closing, leaving, the locked-out help, and /forget."""

from __future__ import annotations

import inspect

from tests.conftest import (
    CLUB_USER_2,
    CLUB_USER_EN,
    CLUB_USER_FR,
    OUTSIDER,
    STAFF_CHAT,
    STAFF_USERS,
    Chat,
    sample_club,
    verify,
)

MERMOZ = sample_club("mermoz")
PDF = b"%PDF-1.4\n% sandbox test document\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x02\0\0\0\x02"


def staff_messages(telegram, after: int = 0) -> list[dict]:
    return [m for m in telegram.bot_messages(STAFF_CHAT) if m["message_id"] > after]


def last_staff_id(telegram) -> int:
    return max((m["message_id"] for m in telegram.messages(STAFF_CHAT)), default=0)


async def staff_reply(bot, telegram, staff_id: int, message_id: int, text: str) -> None:
    await telegram.send_text(staff_id, text, chat_id=STAFF_CHAT, reply_to_message_id=message_id)
    await bot.idle()


async def staff_reply_with_file(bot, telegram, staff_id: int, message_id: int, **fields) -> None:
    """A staff reply carrying a photo or a document. The stand-in's send_photo/send_document take
    no reply target (yet); when they do, this uses them, else it builds the same update."""
    kind = "photo" if "photo" in fields else "document"
    method = telegram.send_photo if kind == "photo" else telegram.send_document
    if "reply_to_message_id" in inspect.signature(method).parameters:
        await method(staff_id, chat_id=STAFF_CHAT, reply_to_message_id=message_id, **fields[kind])
    else:
        chat = telegram._user_chat(staff_id, STAFF_CHAT)
        if kind == "photo":
            stored = telegram._store_file("photo", fields[kind]["data"], "photo.jpg", "image/jpeg")
            content = {"photo": telegram._photo_sizes(stored)}
        else:
            spec = fields[kind]
            stored = telegram._store_file("document", spec["data"], spec["filename"], "text/plain")
            content = {"document": telegram._document(stored)}
        if fields[kind].get("caption"):
            content["caption"] = fields[kind]["caption"]
        telegram._user_message(chat, staff_id, content, message_id)
    await bot.idle()


async def open_talk(chat: Chat) -> list[dict]:
    return await chat.press("Parler à l’équipe")


async def test_relay_both_ways_with_forwards_hidden(chat, smtp, bot, telegram, alice):
    telegram.set_forward_privacy(CLUB_USER_FR, True)
    await verify(chat, smtp, "mermoz")
    mark = last_staff_id(telegram)
    replies = await open_talk(chat)
    assert "Écrivez votre message" in replies[-1]["text"]
    [header] = staff_messages(telegram, mark)
    assert "Conversation n°" in header["text"] and MERMOZ["name"] in header["text"]
    assert "Jeanne" in header["text"] and "@jeanne" in header["text"]

    # Club → staff: a text, a photo and a document, each with the club named.
    question = await telegram.send_text(CLUB_USER_FR, "Bonjour, où trouver la facture <2025> ?")
    await bot.idle()
    assert "Transmis" in chat.last()["text"]
    photo = await telegram.send_photo(CLUB_USER_FR, caption="Capture de l’écran", data=PNG)
    document = await telegram.send_document(
        CLUB_USER_FR, filename="releve.pdf", data=PDF, caption="Relevé"
    )
    await bot.idle()
    relayed_text, relayed_photo, relayed_doc = staff_messages(telegram, header["message_id"])
    assert "forward_origin" not in relayed_text and "forward_from" not in relayed_text
    assert MERMOZ["name"] in relayed_text["text"] and "mermoz" in relayed_text["text"]
    assert "Bonjour, où trouver la facture <2025> ?" in relayed_text["text"]
    assert relayed_photo["photo"] and MERMOZ["name"] in relayed_photo["caption"]
    assert "Capture de l’écran" in relayed_photo["caption"]
    assert telegram.document_bytes(relayed_photo) == PNG
    assert relayed_doc["document"]["file_name"] == "releve.pdf"
    assert telegram.document_bytes(relayed_doc) == PDF
    assert "Relevé" in relayed_doc["caption"] and "mermoz" in relayed_doc["caption"]
    assert (
        sum("Transmis" in m["text"] for m in telegram.bot_messages(CLUB_USER_FR) if "text" in m)
        == 1
    )

    # Staff → club: replies to the relayed messages land in the club chat, threaded.
    club_mark = max(m["message_id"] for m in telegram.messages(CLUB_USER_FR))
    await staff_reply(
        bot, telegram, STAFF_USERS[0], relayed_text["message_id"], "Dans « Mes factures »."
    )
    await staff_reply_with_file(
        bot,
        telegram,
        STAFF_USERS[1],
        relayed_photo["message_id"],
        photo={"data": PNG, "caption": "Ici"},
    )
    await staff_reply_with_file(
        bot,
        telegram,
        STAFF_USERS[0],
        relayed_doc["message_id"],
        document={"data": b"guide", "filename": "guide.txt"},
    )
    answers = [m for m in telegram.bot_messages(CLUB_USER_FR) if m["message_id"] > club_mark]
    assert [("text" in m, "photo" in m, "document" in m) for m in answers] == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ]
    assert answers[0]["text"] == "Dans « Mes factures »."
    assert answers[0]["reply_to_message"]["message_id"] == question["message_id"]
    assert answers[1]["reply_to_message"]["message_id"] == photo["message_id"]
    assert answers[1]["caption"] == "Ici" and telegram.document_bytes(answers[1]) == PNG
    assert answers[2]["reply_to_message"]["message_id"] == document["message_id"]
    assert telegram.document_bytes(answers[2]) == b"guide"
    assert "Répondre" in " ".join(chat.buttons(answers[0]))
    # Nothing leaked to the other club chats.
    assert telegram.bot_messages(CLUB_USER_EN) == [] and telegram.bot_messages(CLUB_USER_2) == []

    # The club answers back, still in the conversation: threaded under the staff reply.
    mark = last_staff_id(telegram)
    await telegram.send_text(CLUB_USER_FR, "Merci !", reply_to_message_id=answers[0]["message_id"])
    await bot.idle()
    [thanks] = staff_messages(telegram, mark)
    assert "Merci !" in thanks["text"]
    assert thanks["reply_to_message"]["message_id"] == alice_reply_id(telegram, mark)


def alice_reply_id(telegram, before: int) -> int:
    """The staff member's reply "Dans « Mes factures »." in the staff group."""
    for message in telegram.messages(STAFF_CHAT):
        if message.get("text") == "Dans « Mes factures »." and message["message_id"] < before + 1:
            return message["message_id"]
    raise AssertionError(telegram.transcript(STAFF_CHAT))


async def test_two_clubs_at_once_each_get_their_own_answers(chat, chat_en, smtp, bot, telegram):
    await verify(chat, smtp, "mermoz")
    await verify(chat_en, smtp, "blagnac")
    await open_talk(chat)
    await chat_en.press("Talk to the team")
    await chat.say("Question Mermoz")
    await chat_en.say("Question Blagnac")
    relayed = {
        m["text"].split("\n\n")[-1]: m
        for m in staff_messages(telegram)
        if "\n\n" in m.get("text", "")
    }
    await staff_reply(
        bot, telegram, STAFF_USERS[0], relayed["Question Blagnac"]["message_id"], "Pour Blagnac"
    )
    await staff_reply(
        bot, telegram, STAFF_USERS[1], relayed["Question Mermoz"]["message_id"], "Pour Mermoz"
    )
    assert chat.last()["text"] == "Pour Mermoz" and chat_en.last()["text"] == "Pour Blagnac"
    assert "Reply to staff" in " ".join(chat_en.buttons(chat_en.last()))


async def test_staff_close_the_conversation_and_the_club_is_told(chat, smtp, bot, telegram, alice):
    await verify(chat, smtp, "mermoz")
    await open_talk(chat)
    await chat.say("Une question")
    header = next(m for m in staff_messages(telegram) if "Conversation n°" in m.get("text", ""))
    await alice.press("Clore", header)
    assert "a clos cette conversation" in chat.last()["text"]
    assert any("close par Alice" in m.get("text", "") for m in staff_messages(telegram))
    assert "Conversation close" in telegram.callback_answers[-1]["text"]
    mark = last_staff_id(telegram)
    replies = await chat.say("Encore une chose")
    assert "n’a pas été transmis" in replies[0]["text"]
    assert "Renouveler" in " ".join(chat.buttons(replies[-1]))  # back to the menu
    assert staff_messages(telegram, mark) == []
    now = next(m for m in telegram.messages(STAFF_CHAT) if m["message_id"] == header["message_id"])
    assert not (now.get("reply_markup") or {}).get("inline_keyboard")  # the close button is gone


async def test_close_command_as_a_reply_and_the_club_leaving(
    chat, smtp, bot, telegram, alice, outsider
):
    await verify(chat, smtp, "mermoz")
    await open_talk(chat)
    await chat.say("Bonjour")
    relayed = staff_messages(telegram)[-1]
    # The club leaves with /cancel: back to the menu; its messages are no longer relayed.
    replies = await chat.say("/cancel")
    assert "Renouveler" in " ".join(chat.buttons(replies[-1]))
    mark = last_staff_id(telegram)
    await chat.say("hors conversation")
    assert staff_messages(telegram, mark) == []
    # Staff can still answer; the answer carries a button back into the conversation.
    await staff_reply(bot, telegram, STAFF_USERS[0], relayed["message_id"], "Une réponse tardive")
    assert chat.last()["text"] == "Une réponse tardive"
    await chat.press("Répondre")
    await chat.say("Merci")
    assert "Merci" in staff_messages(telegram, mark)[-1]["text"]
    # A non-staff member cannot close it, nor answer the club.
    replies = await outsider.say("/close")
    assert "réservé à l’équipe" in replies[-1]["text"]
    club_count = len(telegram.bot_messages(CLUB_USER_FR))
    await staff_reply(bot, telegram, OUTSIDER, relayed["message_id"], "je ne suis pas staff")
    assert len(telegram.bot_messages(CLUB_USER_FR)) == club_count
    # /close as a reply to a relayed message closes it.
    await telegram.send_text(
        STAFF_USERS[0], "/close", chat_id=STAFF_CHAT, reply_to_message_id=relayed["message_id"]
    )
    await bot.idle()
    assert "a clos cette conversation" in chat.last()["text"]
    replies = await alice.say("/close")
    assert "en réponse" in replies[-1]["text"]


async def test_back_button_leaves_the_conversation(chat, smtp, bot, telegram):
    await verify(chat, smtp, "mermoz")
    await open_talk(chat)
    replies = await chat.press("Retour")
    assert "Renouveler" in " ".join(chat.buttons(replies[-1]))


async def test_staff_reply_to_a_card_reaches_the_club(chat, smtp, bot, telegram):
    await verify(chat, smtp, "mermoz")
    await chat.press("Mot de passe")
    await chat.press("aucune des deux")
    await chat.press("Confirmer la demande")
    card = next(m for m in staff_messages(telegram) if m.get("text", "").startswith("🛎"))
    await staff_reply(
        bot, telegram, STAFF_USERS[1], card["message_id"], "Quel est votre rôle au club ?"
    )
    assert chat.last()["text"] == "Quel est votre rôle au club ?"


async def test_locked_out_help_is_a_conversation_staff_can_answer(chat, smtp, bot, telegram):
    await chat.say("/start")
    await chat.say("mermoz")
    for attempt in range(5):
        await chat.say(f"wrong{attempt}@else.example.org")
    await chat.press("équipe")
    help_card = staff_messages(telegram)[-1]
    assert "Vérification bloquée" in help_card["text"] and "mermoz" in help_card["text"]
    await staff_reply(
        bot, telegram, STAFF_USERS[0], help_card["message_id"], "Quelle adresse avez-vous ?"
    )
    answer = chat.last()
    assert answer["text"] == "Quelle adresse avez-vous ?"
    await chat.press("Répondre", answer)
    mark = last_staff_id(telegram)
    await chat.say("Je ne sais plus, c’est le trésorier qui gère")
    [relayed] = staff_messages(telegram, mark)
    assert "non vérifié" in relayed["text"] and "trésorier" in relayed["text"]


async def test_forget_then_start_must_verify_again(chat, smtp, bot, telegram):
    await verify(chat, smtp, "mermoz")
    await open_talk(chat)
    await chat.say("Un message à oublier")
    relayed = staff_messages(telegram)[-1]
    await chat.say("/forget")
    replies = await chat.press("Oui")
    text = replies[-1]["text"]
    assert "1 club" in text and "1 message relayé" in text
    row = await bot.services.db.fetchone(
        "SELECT count(*) AS n FROM relay_messages WHERE club_chat_id = ?", (CLUB_USER_FR,)
    )
    assert row["n"] == 0
    talk = await bot.services.db.fetchone("SELECT * FROM talks")
    assert talk["chat_id"] is None and talk["status"] == "closed"
    forgotten = await bot.services.db.fetchone(
        "SELECT * FROM audit WHERE action = 'relay.forgotten'"
    )
    assert forgotten["actor"] == "chat:forgotten"  # the audit keeps what, not who
    # The staff group's copy of the relayed message is gone (deleted within Telegram's 48 hours).
    assert relayed["message_id"] not in {m["message_id"] for m in staff_messages(telegram)}
    replies = await chat.say("/start")
    assert "adresse" in replies[-1]["text"] and not chat.buttons(replies[-1])
    replies = await chat.say("mermoz")
    assert "e-mail" in replies[-1]["text"]  # identify then verify again


async def test_a_header_telegram_could_not_take_goes_out_before_the_first_message(
    chat, smtp, bot, telegram, alice
):
    await verify(chat, smtp, "mermoz")
    mark = last_staff_id(telegram)
    telegram.inject_fault("sendMessage", "500", count=1)
    replies = await open_talk(chat)
    assert "Écrivez votre message" in replies[-1]["text"]  # not an error
    assert "Désolé" not in chat.transcript()
    assert staff_messages(telegram, mark) == []
    await telegram.send_text(CLUB_USER_FR, "Bonjour")
    await bot.idle()
    header, relayed = staff_messages(telegram, mark)
    assert "Conversation n°" in header["text"] and MERMOZ["name"] in header["text"]
    assert "Bonjour" in relayed["text"]
    await alice.press("Clore", header)
    talk = await bot.services.db.fetchone("SELECT status FROM talks")
    assert talk["status"] == "closed"
