"""The bytes of an outgoing mail, built once (bot/mail.py: prepare_mail, issue 19) with the email
package's compat32 API: the same Date, From, To, Message-ID, Subject and text as the EmailMessage
aiosmtplib's send_message was handed before, read back by the email package; 7-bit, CRLF line
ends, lines of at most 78 characters, one line per header whatever the input; the Subject in
RFC 2047 encoded words where it is not plain ASCII."""

from __future__ import annotations

import dataclasses
import email
import email.header
import email.policy
import io
import re
from email.generator import BytesGenerator

import aiosmtplib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import mail
from bot.addresses import ascii_email
from bot.mail import Mailer, build_message, header_value, prepare_mail
from bot.sandbox.smtp import start_smtp
from bot.settings import Settings

SENDER = "OpenFlyers <no-reply@openflyers.example>"
DATE = "Mon, 30 Nov 2026 14:05:09 +0100"
MESSAGE_ID = "<178654.4242.1234567890123456789@openflyers.example>"
FR_SUBJECT = "Votre code de vérification OpenFlyers — Aéroclub d'Évreux-Normandie"
FR_BODY = (
    "Bonjour,\n\nQuelqu’un demande à relier une conversation Telegram au compte client "
    "OpenFlyers de l’Aéroclub d’Évreux (evreux).\n\nVotre code : 042137\n\n"
    "https://t.me/ofbot?start=c_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_\n\nL’équipe OpenFlyers"
)
EW = re.compile(r"=\?([^?]+)\?([bBqQ])\?([^?]*)\?=")

SUBJECTS = [
    "Votre code",
    FR_SUBJECT,
    "Your OpenFlyers verification code — " + "Air & Passion " * 12,  # folded
    "A" * 69,  # fills the line exactly
    "A" * 70 + " " + "B" * 300,  # ASCII too long for a line
    "Code pour Aéroclub\r\nBcc: x@evil.example",  # a line break typed into a club name
    "=?utf-8?q?Pay_now?= is not an encoded word here",
    "日本語のクラブ 🛩️ " * 6,  # 3- and 4-octet characters across word boundaries
    "é" * 100,
    "",
]
BODIES = [
    "Code : 123456",
    FR_BODY,
    "x" * 400,  # one long line: soft breaks
    "a = b\n.leading dot\nFrom the start\n trailing space \ntab\t\n",
    "lines\r\nin\rall\nforms\r\n\r\n",
    "Å…\u2028\x85\x0b\x0c 😀",  # octets of multi-byte characters that are line breaks in latin-1
    "",
]
SENDERS = [
    SENDER,
    "no-reply@openflyers.example",
    "Aéroclub d'Évreux — OpenFlyers <bureau@openflyers.example>",
    '"OpenFlyers, the team" <no-reply@openflyers.example>',
    "OpenFlyers <no-reply@aéroclub-évreux.fr>",  # IDN sender domain: the EmailMessage way
]
RECIPIENTS = [
    "club@mermoz.example",
    "Bureau.Chef+codes@Mermoz.EXAMPLE.fr",
    "bureau@aéroclub-évreux.fr",  # IDNA domain, written in ASCII
    "o'brien@club.example",
    "a" * 60 + "@club.example",  # the To field longer than a line: the EmailMessage way
    '"a b"@club.example',  # a quoted local part: the EmailMessage way
]


@pytest.fixture
def fixed_date(monkeypatch):
    monkeypatch.setattr(mail, "formatdate", lambda localtime=False: DATE)


def flattened(message) -> bytes:
    """What aiosmtplib's send_message made of an EmailMessage (aiosmtplib.email.flatten_message,
    no SMTPUTF8 needed): the email package's SMTP policy, CRLF line ends."""
    out = io.BytesIO()
    BytesGenerator(out, policy=email.policy.SMTP).flatten(message)
    return out.getvalue()


def check_lines(raw: bytes) -> None:
    """7-bit, every line ends with CRLF, none over 78 characters (RFC 5322 §2.1.1, §2.3)."""
    assert raw.isascii()
    assert raw.endswith(b"\r\n")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


def read(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def subject_lines(raw: bytes) -> str:
    """The Subject field as sent, its folded lines included."""
    return re.search(rb"^Subject:.*?\r\n(?! )", raw, flags=re.S | re.M).group(0).decode()


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("subject", SUBJECTS)
def test_the_mail_reads_back_as_the_email_message_did(fixed_date, subject, body):
    """Date, From, To, Message-ID, Subject and the text as the EmailMessage sent before."""
    prepared = prepare_mail(SENDER, "club@mermoz.example", subject, body, MESSAGE_ID)
    assert prepared.message is None  # the common case: bytes built once, no EmailMessage
    assert (prepared.sender, prepared.recipient) == (
        "no-reply@openflyers.example",
        "club@mermoz.example",
    )
    before = read(
        flattened(build_message(SENDER, "club@mermoz.example", subject, body, MESSAGE_ID))
    )
    check_lines(prepared.data)
    kept = read(prepared.data)
    for name in ("Date", "From", "To", "Message-ID"):
        assert str(kept[name]) == str(before[name])
    assert kept["Subject"] == header_value(subject)
    assert kept.get_content() == before.get_content()
    assert not kept.defects and not kept["Subject"].defects


@pytest.mark.parametrize("to", RECIPIENTS)
@pytest.mark.parametrize("sender", SENDERS)
def test_every_sender_and_recipient_reads_back_as_before(fixed_date, sender, to):
    prepared = prepare_mail(sender, to, FR_SUBJECT, FR_BODY, MESSAGE_ID)
    before = build_message(sender, to, FR_SUBJECT, FR_BODY, MESSAGE_ID)
    assert prepared.message is None
    check_lines(prepared.data)
    kept = read(prepared.data)
    for name in ("Date", "To", "Message-ID"):
        assert str(kept[name]) == str(before[name])
    (was,), (now,) = before["From"].addresses, kept["From"].addresses
    assert now.display_name == was.display_name
    assert now.addr_spec == ascii_email(was.addr_spec) == prepared.sender
    assert kept["Subject"] == header_value(FR_SUBJECT)
    for field in ("From", "To"):  # IDNA: no SMTPUTF8 needed for a domain
        assert kept[field].addresses[0].domain.isascii()


def test_the_common_mail_and_what_falls_back():
    assert prepare_mail(SENDER, "bureau@aéroclub-évreux.fr", "s", "b").message is None
    assert prepare_mail(SENDER, '"a b"@club.example', "s", "b").message is None
    assert prepare_mail(SENDER, "bürö@club.example", "s", "b").message is not None  # SMTPUTF8
    idn_sender = "OpenFlyers <no-reply@aéroclub-évreux.fr>"
    prepared = prepare_mail(idn_sender, "a@club.example", "s", "b")
    assert prepared.message is None and prepared.sender == "no-reply@xn--aroclub-vreux-bhbh.fr"


def test_a_mail_without_a_fixed_message_id_gets_one_on_the_senders_domain():
    kept = read(prepare_mail(SENDER, "a@club.example", "s", "b").data)
    assert re.fullmatch(r"<[^@<>]+@openflyers\.example>", kept["Message-ID"])


def test_a_subject_is_plain_ascii_or_encoded_words():
    """Plain when it can be; else RFC 2047 encoded words, also for a literal `=?…?=`, which a
    mail reader would otherwise decode into other text."""
    plain = prepare_mail(SENDER, "a@club.example", "Votre code", "b", MESSAGE_ID).data
    assert subject_lines(plain) == "Subject: Votre code\r\n"
    for subject in (FR_SUBJECT, "=?utf-8?q?Pay_now?= is not an encoded word here"):
        raw = prepare_mail(SENDER, "a@club.example", subject, "b", MESSAGE_ID).data
        assert subject_lines(raw).startswith("Subject: =?utf-8?")
        assert read(raw)["Subject"] == subject


def encoded_words_are_rfc_2047(field: str) -> None:
    """Each encoded word at most 75 characters, on a line of at most 76, holding whole UTF-8
    characters (RFC 2047 §2, §5)."""
    for line in field.split("\r\n")[:-1]:
        if EW.search(line):
            assert len(line) <= 76
    for charset, encoding, text in EW.findall(field):
        word = f"=?{charset}?{encoding}?{text}?="
        assert len(word) <= 75
        [(octets, _)] = email.header.decode_header(word)
        octets.decode("utf-8")  # raises on a split character


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=st.text(max_size=300), body=st.text(max_size=600))
def test_any_subject_and_body_read_back_the_same(subject, body):
    prepared = prepare_mail(SENDER, "a@club.example", subject, body, MESSAGE_ID)
    check_lines(prepared.data)
    field = subject_lines(prepared.data)
    assert field.count("\r\n") == field.count("\r\n ") + 1  # one field, folded only
    encoded_words_are_rfc_2047(field)
    kept = read(prepared.data)
    assert kept["Subject"] == header_value(subject)
    assert not kept.defects and not kept["Subject"].defects
    # Line breaks as the email package reads them (CR, LF, CRLF: bytes.splitlines), each a CRLF.
    lines = body.encode("utf-8").splitlines()
    assert kept.get_content() == (b"\r\n".join(lines) + b"\r\n").decode("utf-8")
    assert list(kept.keys()) == [
        "Content-Type",
        "MIME-Version",
        "Content-Transfer-Encoding",
        "Date",
        "From",
        "To",
        "Subject",
        "Message-ID",
    ]


# -- over SMTP: what the relay receives --------------------------------------------------------


def mailer_for(server, sender: str = SENDER) -> Mailer:
    settings = Settings(smtp_host=server.host, smtp_port=server.port, smtp_from=sender)
    return Mailer(dataclasses.replace(settings), tls_context=server.client_tls)


def record_mail_commands(server) -> list[list[str]]:
    """The MAIL command's parameters of each message the relay takes."""
    seen: list[list[str]] = []
    handle_data = server.mailbox.handle_DATA

    async def handle_DATA(smtp, session, envelope):
        seen.append(sorted(option.split("=")[0].upper() for option in envelope.mail_options))
        return await handle_data(smtp, session, envelope)

    server.mailbox.handle_DATA = handle_DATA
    return seen


@pytest.mark.parametrize("smtputf8", [True, False])
async def test_the_relay_receives_what_send_message_sent(fixed_date, smtputf8):
    """The same MAIL command (SIZE, BODY=8BITMIME as offered), envelope and message, the
    Subject aside, as the EmailMessage handed to aiosmtplib's send_message before."""
    server = await start_smtp(smtputf8=smtputf8)
    try:
        commands = record_mail_commands(server)
        to = "Bureau@AÉROCLUB-évreux.fr"
        await mailer_for(server).send(to, FR_SUBJECT, FR_BODY, message_id=MESSAGE_ID)
        client = aiosmtplib.SMTP(
            hostname=server.host, port=server.port, local_hostname="[127.0.0.1]"
        )
        async with client:
            await client.send_message(build_message(SENDER, to, FR_SUBJECT, FR_BODY, MESSAGE_ID))
        now, before = server.mailbox.messages
        assert commands[0] == commands[1] == ["BODY", "SIZE"]
        assert now["mail_from"] == before["mail_from"] == "no-reply@openflyers.example"
        assert now["rcpt_tos"] == before["rcpt_tos"] == ["Bureau@xn--aroclub-vreux-bhbh.fr"]
        for name in ("Date", "From", "To", "Message-ID"):
            assert read(now["raw"].encode())[name] == read(before["raw"].encode())[name]
        assert now["subject"] == before["subject"] == FR_SUBJECT
        assert now["text"] == before["text"]
    finally:
        server.stop()


async def test_accents_in_the_senders_name_and_a_resent_mail(fixed_date):
    """A display name with accents is RFC 2047-encoded as before; a mail sent again with its
    Message-ID (the outbox after a crash) is the same message."""
    server = await start_smtp(smtputf8=False)
    try:
        mailer = mailer_for(server, "Aéroclub d'Évreux <bureau@openflyers.example>")
        for _ in range(2):
            await mailer.send("a@club.example", FR_SUBJECT, FR_BODY, message_id=MESSAGE_ID)
        await mailer.close()
        first, again = server.mailbox.messages
        assert first["raw"] == again["raw"]
        assert first["from"] == "Aéroclub d'Évreux <bureau@openflyers.example>"
        assert re.search(r"^From: =\?utf-8\?[bq]\?", first["raw"], flags=re.M)  # RFC 2047
        assert read(first["raw"].encode())["Message-ID"] == MESSAGE_ID
    finally:
        server.stop()


async def test_an_address_only_smtputf8_carries_goes_the_email_package_way():
    server = await start_smtp(smtputf8=True)
    try:
        await mailer_for(server).send("bürö@club.example", FR_SUBJECT, FR_BODY)
        (kept,) = server.mailbox.messages
        assert kept["rcpt_tos"] == ["bürö@club.example"]
        assert kept["subject"] == FR_SUBJECT
    finally:
        server.stop()
