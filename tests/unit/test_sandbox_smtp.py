"""The sandbox SMTP server: it keeps what aiosmtplib sends, with or without AUTH, decodes bodies,
and wakes asyncio waiters from its own thread."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import aiosmtplib
import pytest

from bot.sandbox.smtp import Mailbox, parse_message, start_smtp


@pytest.fixture
async def smtp():
    sandbox = await start_smtp()
    yield sandbox
    sandbox.stop()


def message(to: str, subject: str = "Votre code", body: str = "Code : 123456") -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "OpenFlyers <no-reply@openflyers.example>"
    mail["To"] = to
    mail["Subject"] = subject
    mail.set_content(body)
    return mail


async def test_a_plain_send_is_kept_with_decoded_text(smtp):
    await aiosmtplib.send(
        message("Club@Mermoz.example", "Code de vérification", "Bonjour,\nvotre code : 123456 — é"),
        hostname=smtp.host,
        port=smtp.port,
    )
    (kept,) = smtp.mailbox.messages_to("club@mermoz.example")
    assert kept["id"] == 1
    assert kept["mail_from"] == "no-reply@openflyers.example"
    assert kept["rcpt_tos"] == ["Club@Mermoz.example"]
    assert kept["subject"] == "Code de vérification"
    assert kept["text"] == "Bonjour,\nvotre code : 123456 — é\n"
    assert kept["html"] is None
    assert kept["login"] is None
    assert "Subject:" in kept["raw"]


async def test_an_authenticated_send_is_accepted_with_any_credentials(smtp):
    await aiosmtplib.send(
        message("tresorier@club.example"),
        hostname=smtp.host,
        port=smtp.port,
        username="ofbot",
        password="whatever",
    )
    kept = await smtp.mailbox.wait_for(to="TRESORIER@club.example", timeout=5)
    assert kept["login"] == "ofbot"


async def test_html_alternative_and_several_recipients(smtp):
    mail = message("a@club.example", body="texte")
    mail.add_alternative("<p>texte <b>riche</b></p>", subtype="html")
    await aiosmtplib.send(
        mail,
        hostname=smtp.host,
        port=smtp.port,
        recipients=["a@club.example", "b@club.example"],
    )
    for address in ("a@club.example", "b@club.example"):
        (kept,) = smtp.mailbox.messages_to(address)
        assert kept["text"] == "texte\n"
        assert kept["html"] == "<p>texte <b>riche</b></p>\n"
    assert smtp.mailbox.messages_to("c@club.example") == []


async def test_wait_for_wakes_on_a_message_sent_meanwhile(smtp):
    address = "contact@club.example"
    await aiosmtplib.send(message(address, "premier"), hostname=smtp.host, port=smtp.port)
    count = len(smtp.mailbox.messages_to(address))
    waiting = asyncio.create_task(smtp.mailbox.wait_for(to=address, after_count=count))
    await asyncio.sleep(0)
    assert not waiting.done()
    await aiosmtplib.send(message(address, "second"), hostname=smtp.host, port=smtp.port)
    assert (await waiting)["subject"] == "second"
    # Without after_count, what is already there answers at once: the newest.
    assert (await smtp.mailbox.wait_for(to=address))["subject"] == "second"


async def test_wait_for_times_out_with_what_the_mailbox_holds(smtp):
    await aiosmtplib.send(message("x@club.example", "autre"), hostname=smtp.host, port=smtp.port)
    with pytest.raises(TimeoutError, match=r"no message to nobody@club\.example") as caught:
        await smtp.mailbox.wait_for(to="nobody@club.example", timeout=0.05)
    assert "autre" in str(caught.value)


async def test_subscribers_receive_each_new_message(smtp):
    queue = smtp.mailbox.subscribe()
    await aiosmtplib.send(
        message("x@club.example", "pour l'interface"), hostname=smtp.host, port=smtp.port
    )
    received = await asyncio.wait_for(queue.get(), 5)
    assert received["subject"] == "pour l'interface"
    smtp.mailbox.unsubscribe(queue)


async def test_two_servers_get_their_own_ports_and_mailboxes():
    first, second = await start_smtp(), await start_smtp()
    try:
        assert first.port != second.port
        await aiosmtplib.send(message("x@club.example"), hostname=first.host, port=first.port)
        assert len(first.mailbox.messages) == 1
        assert second.mailbox.messages == []
    finally:
        first.stop()
        second.stop()


def test_parse_message_reads_encoded_bodies():
    raw = (
        b"From: a@b.example\r\nTo: c@d.example\r\nSubject: =?utf-8?q?R=C3=A9sum=C3=A9?=\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nw6l0w6k=\r\n"
    )
    record = parse_message(raw, "a@b.example", ["c@d.example"])
    assert record["subject"] == "Résumé"
    assert record["text"] == "été"
    assert Mailbox().messages == []
