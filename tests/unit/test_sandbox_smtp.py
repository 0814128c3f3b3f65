"""The sandbox SMTP server: it keeps what aiosmtplib sends, with or without AUTH, decodes bodies,
wakes asyncio waiters from its own thread, and refuses a fourth connection at once."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
import pytest

from bot.sandbox.smtp import Mailbox, parse_message, start_smtp

# The sandbox refuses a HELO name that is not a fully-qualified domain name or an address
# literal (aiosmtplib sends socket.getfqdn(): `localhost` here).
HELO = "[127.0.0.1]"


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
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = make_msgid(domain="openflyers.example")
    mail.set_content(body)
    return mail


async def test_a_plain_send_is_kept_with_decoded_text(smtp):
    await aiosmtplib.send(
        message("Club@Mermoz.example", "Code de vérification", "Bonjour,\nvotre code : 123456 — é"),
        hostname=smtp.host,
        local_hostname=HELO,
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
        local_hostname=HELO,
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
        local_hostname=HELO,
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
    await aiosmtplib.send(
        message(address, "premier"), hostname=smtp.host, local_hostname=HELO, port=smtp.port
    )
    count = len(smtp.mailbox.messages_to(address))
    waiting = asyncio.create_task(smtp.mailbox.wait_for(to=address, after_count=count))
    await asyncio.sleep(0)
    assert not waiting.done()
    await aiosmtplib.send(
        message(address, "second"), hostname=smtp.host, local_hostname=HELO, port=smtp.port
    )
    assert (await waiting)["subject"] == "second"
    # Without after_count, what is already there answers at once: the newest.
    assert (await smtp.mailbox.wait_for(to=address))["subject"] == "second"


async def test_wait_for_times_out_with_what_the_mailbox_holds(smtp):
    await aiosmtplib.send(
        message("x@club.example", "autre"), hostname=smtp.host, local_hostname=HELO, port=smtp.port
    )
    with pytest.raises(TimeoutError, match=r"no message to nobody@club\.example") as caught:
        await smtp.mailbox.wait_for(to="nobody@club.example", timeout=0.05)
    assert "autre" in str(caught.value)


async def test_subscribers_receive_each_new_message(smtp):
    queue = smtp.mailbox.subscribe()
    await aiosmtplib.send(
        message("x@club.example", "pour l'interface"),
        hostname=smtp.host,
        local_hostname=HELO,
        port=smtp.port,
    )
    received = await asyncio.wait_for(queue.get(), 5)
    assert received["subject"] == "pour l'interface"
    smtp.mailbox.unsubscribe(queue)


async def test_two_servers_get_their_own_ports_and_mailboxes():
    first, second = await start_smtp(), await start_smtp()
    try:
        assert first.port != second.port
        await aiosmtplib.send(
            message("x@club.example"), hostname=first.host, local_hostname=HELO, port=first.port
        )
        assert len(first.mailbox.messages) == 1
        assert second.mailbox.messages == []
    finally:
        first.stop()
        second.stop()


async def test_a_connection_beyond_three_at_once_is_refused_as_microsoft_365_does(smtp):
    clients = [
        aiosmtplib.SMTP(hostname=smtp.host, local_hostname=HELO, port=smtp.port) for _ in range(4)
    ]
    try:
        for client in clients[:3]:
            await client.connect()
        with pytest.raises(aiosmtplib.SMTPConnectResponseError) as refused:
            await clients[3].connect()
        assert refused.value.code == 421
        await clients[0].quit()
        for _ in range(100):  # the server sees the connection end a moment later
            if smtp.controller.open_connections < 3:
                break
            await asyncio.sleep(0.02)
        fresh = aiosmtplib.SMTP(hostname=smtp.host, local_hostname=HELO, port=smtp.port)
        await fresh.connect()
        await fresh.send_message(message("x@club.example"))
        await fresh.quit()
        assert smtp.controller.most_connections == 3
    finally:
        for client in clients:
            client.close()


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


# --- as strict as production relays -----------------------------------------------------------


@pytest.mark.parametrize(
    ("drop", "add", "why"),
    [
        ("Date", None, "Date"),
        ("Message-ID", None, "Message-ID"),
        (None, "From: Other <other@openflyers.example>", "From"),
        (None, "Subject: twice", "Subject"),
        ("Date", "Date: yesterday at noon", "date-time"),
        ("Message-ID", "Message-ID: no-angle-brackets", "Message-ID"),
    ],
)
async def test_a_message_without_the_headers_rfc_5322_requires_is_refused(smtp, drop, add, why):
    mail = message("club@mermoz.example")
    if drop:
        del mail[drop]
    raw = mail.as_bytes()
    if add:
        raw = add.encode() + b"\n" + raw
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        client = aiosmtplib.SMTP(hostname=smtp.host, local_hostname=HELO, port=smtp.port)
        async with client:
            await client.sendmail("no-reply@openflyers.example", ["club@mermoz.example"], raw)
    assert refused.value.code == 554 and why in refused.value.message
    assert smtp.mailbox.messages == []


async def rcpt_raw(client: aiosmtplib.SMTP, address: str):
    return await client.execute_command(b"RCPT TO:<" + address.encode() + b">")


async def test_without_smtputf8_a_non_ascii_address_is_refused():
    server = await start_smtp(smtputf8=False)
    try:
        smtp = aiosmtplib.SMTP(hostname=server.host, local_hostname=HELO, port=server.port)
        async with smtp:
            assert not smtp.supports_extension("smtputf8")
            await smtp.mail("no-reply@openflyers.example")
            answer = await rcpt_raw(smtp, "bureau@aéroclub-évreux.fr")
            assert answer.code >= 500
        with pytest.raises(aiosmtplib.SMTPNotSupported):
            await aiosmtplib.send(
                message("bureau@aéroclub-évreux.fr"),
                hostname=server.host,
                local_hostname=HELO,
                port=server.port,
            )
        await aiosmtplib.send(
            message("bureau@xn--aroclub-vreux-bhbh.fr"),
            hostname=server.host,
            local_hostname=HELO,
            port=server.port,
        )
        assert server.mailbox.messages[0]["rcpt_tos"] == ["bureau@xn--aroclub-vreux-bhbh.fr"]
    finally:
        server.stop()


async def test_with_smtputf8_offered_a_non_ascii_address_still_needs_the_smtputf8_parameter(smtp):
    client = aiosmtplib.SMTP(hostname=smtp.host, local_hostname=HELO, port=smtp.port)
    async with client:
        assert client.supports_extension("smtputf8")
        await client.mail("no-reply@openflyers.example")  # no SMTPUTF8 parameter
        answer = await rcpt_raw(client, "bureau@aéroclub-évreux.fr")
    assert answer.code == 553 and "SMTPUTF8" in answer.message


async def test_starttls_and_auth_can_be_required():
    server = await start_smtp(require_starttls=True, credentials=("ofbot", "s3cret-relay"))
    try:
        with pytest.raises(aiosmtplib.SMTPException):  # no TLS: refused before MAIL
            await aiosmtplib.send(
                message("a@club.example"),
                hostname=server.host,
                local_hostname=HELO,
                port=server.port,
                start_tls=False,
            )
        with pytest.raises(aiosmtplib.SMTPException):  # TLS but no AUTH
            await aiosmtplib.send(
                message("a@club.example"),
                hostname=server.host,
                local_hostname=HELO,
                port=server.port,
                tls_context=server.client_tls,
            )
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await aiosmtplib.send(
                message("a@club.example"),
                hostname=server.host,
                local_hostname=HELO,
                port=server.port,
                tls_context=server.client_tls,
                username="ofbot",
                password="wrong",
            )
        await aiosmtplib.send(
            message("a@club.example"),
            hostname=server.host,
            local_hostname=HELO,
            port=server.port,
            tls_context=server.client_tls,
            username="ofbot",
            password="s3cret-relay",
        )
        assert [m["login"] for m in server.mailbox.messages] == ["ofbot"]
    finally:
        server.stop()


@pytest.mark.parametrize("name", ["localhost", "vm", "[not-an-address]", "localhost.localdomain"])
async def test_a_helo_name_that_is_not_a_fqdn_or_an_address_literal_is_refused(smtp, name):
    """RFC 5321 §4.1.1.1: EHLO gives a fully-qualified domain name or an address literal; relays
    refuse anything else (Postfix `reject_non_fqdn_helo_hostname`: 504 5.5.2), and a refused
    EHLO and HELO leave the session unable to send."""
    client = aiosmtplib.SMTP(
        hostname=smtp.host, port=smtp.port, local_hostname=name, start_tls=False
    )
    await client.connect()  # no EHLO yet (aiosmtplib sends one on connect to look for STARTTLS)
    try:
        with pytest.raises(aiosmtplib.SMTPHeloError) as refused:
            await client.ehlo()
        assert refused.value.code == 504
        with pytest.raises(aiosmtplib.SMTPHeloError):
            await client.helo()
        with pytest.raises(aiosmtplib.SMTPResponseException):
            await client.mail("no-reply@openflyers.example")
    finally:
        client.close()
    assert smtp.mailbox.messages == []


@pytest.mark.parametrize("name", ["[127.0.0.1]", "[IPv6:::1]", "bot.openflyers.example"])
async def test_a_fqdn_or_an_address_literal_is_taken(smtp, name):
    await aiosmtplib.send(
        message("x@club.example"), hostname=smtp.host, port=smtp.port, local_hostname=name
    )
    assert smtp.mailbox.messages[-1]["helo"] == name
