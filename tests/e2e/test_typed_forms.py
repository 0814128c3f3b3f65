"""What a person types as an identifier is read in Unicode NFKC form, then case-folded: a
full-width subdomain, e-mail address, code or count (a phone's full-width keyboard, a copy from a
CJK document) means the same as its plain spelling (tester's finding: `ｍｅｒｍｏｚ` got "not
found" without a suggestion)."""

from __future__ import annotations

from tests.conftest import Chat, read_code, sample_club

MERMOZ = sample_club("mermoz")


def full_width(text: str) -> str:
    """ASCII letters, digits and signs as their full-width forms (U+FF01–U+FF5E)."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


async def test_full_width_subdomain_address_code_and_count(chat: Chat, smtp, bot):
    await chat.say("/start")
    replies = await chat.say(full_width("Mermoz"))
    assert "e-mail" in replies[-1]["text"], chat.transcript()  # found: the verify step
    address = MERMOZ["structure_email"]
    count = len(smtp.mailbox.messages_to(address))
    replies = await chat.say(full_width(address.upper()))
    assert "code" in replies[-1]["text"], chat.transcript()
    code = await read_code(smtp, address, after_count=count)
    replies = await chat.say(full_width(code))
    assert "vérifié" in " ".join(m["text"] for m in replies), chat.transcript()
    await chat.press("Renouveler")
    await chat.press("Autre nombre")
    wanted = int(MERMOZ["active_resources"]) + 3
    replies = await chat.say(full_width(str(wanted)))
    assert "Devis" in replies[-1]["text"], chat.transcript()
    assert f"{wanted} ressources" in replies[-1]["text"].replace("\u00a0", " "), replies[-1]["text"]


async def test_full_width_subdomain_with_a_typo_gets_suggestions(chat: Chat, smtp, bot):
    await chat.say("/start")
    replies = await chat.say(full_width("mermos"))
    assert "mermoz" in " ".join(chat.buttons(replies[-1])), chat.transcript()


async def test_an_address_copied_as_a_mailto_link_or_with_a_name_is_the_address(
    chat: Chat, smtp, bot
):
    """Addresses are copied from a web page's `mailto:` link (RFC 6068) or a mail client's
    `Name <address>` (RFC 5322 name-addr). `mailto:bureau@…` was counted as a wrong address
    (« not on the record », with a hint showing that very address); `Bureau <bureau@…>` got
    « I need an e-mail address ». Both are the registered address; nothing counts as a miss."""
    await chat.say("/start")
    await chat.say("mermoz")
    for typed, address in (
        ("mailto:{}", MERMOZ["structure_email"]),
        ("Trésorier du club <{}>", MERMOZ["contact_email"].upper()),
    ):
        count = len(smtp.mailbox.messages_to(address))
        replies = await chat.say(typed.format(address))
        assert "code" in replies[-1]["text"], chat.transcript()
        code = await read_code(smtp, address, after_count=count)
        if address == MERMOZ["structure_email"]:
            await chat.press("Autre adresse")
    assert not await bot.services.db.fetchval(
        "SELECT count(*) FROM verification_attempts WHERE kind = 'miss'"
    )
    replies = await chat.say(code)
    assert "vérifié" in " ".join(m["text"] for m in replies), chat.transcript()
    # A new address for the record, typed the same way, is read the same way.
    await chat.press("Changer les e-mails")
    await chat.press("E-mail de la structure")
    replies = await chat.say("Nouveau bureau <nouveau.bureau@mermoz.example.fr>")
    assert "→ nouveau.bureau@mermoz.example.fr" in replies[-1]["text"], chat.transcript()
