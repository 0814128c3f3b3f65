"""Mail as real relays take it (issue 13, case 6): the headers RFC 5322 asks for, internationalised
domains through a relay without SMTPUTF8, STARTTLS and AUTH, one line per header, one form per
address, and club names with line breaks refused at import."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import socket
import unicodedata

import pytest

from bot.addresses import ascii_email, same_email
from bot.clubs import ClubImportError, parse_clubs_csv
from bot.mail import Mailer, MailError
from bot.sandbox.smtp import start_smtp
from bot.settings import Settings

IDN = "bureau@aéroclub-évreux.fr"
IDN_ASCII = "bureau@xn--aroclub-vreux-bhbh.fr"


def mailer_for(server, **changes) -> Mailer:
    settings = Settings(
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_from="OpenFlyers <no-reply@openflyers.example>",
    )
    return Mailer(dataclasses.replace(settings, **changes), tls_context=server.client_tls)


@pytest.fixture
async def relay():
    server = await start_smtp(smtputf8=False)  # as Amazon SES: no SMTPUTF8
    yield server
    server.stop()


async def test_a_mail_carries_date_and_message_id(relay):
    await mailer_for(relay).send("club@mermoz.example", "Votre code", "Code : 123456")
    (kept,) = relay.mailbox.messages
    parsed = email.message_from_string(kept["raw"], policy=email.policy.default)
    assert parsed["Date"].datetime is not None
    assert parsed["Message-ID"].startswith("<") and parsed["Message-ID"].endswith(
        "@openflyers.example>"
    )


async def test_an_internationalised_domain_reaches_a_relay_without_smtputf8(relay):
    await mailer_for(relay).send(IDN, "Votre code", "Code : 123456 — à bientôt")
    (kept,) = relay.mailbox.messages
    assert kept["rcpt_tos"] == [IDN_ASCII]
    assert kept["to"] == IDN_ASCII
    assert "à bientôt" in kept["text"]


async def test_a_non_ascii_local_part_without_smtputf8_is_refused_for_good(relay):
    with pytest.raises(MailError) as refused:
        await mailer_for(relay).send("bürö@example.fr", "Votre code", "Code : 123456")
    assert refused.value.permanent


async def test_a_relay_that_cannot_be_reached_is_worth_another_try():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_from="bot@openflyers.example")
    with pytest.raises(MailError) as failed:
        await Mailer(settings, timeout=5).send("a@club.example", "Votre code", "Code : 123456")
    assert not failed.value.permanent


async def test_a_line_break_in_the_subject_stays_on_one_line(relay):
    await mailer_for(relay).send("a@club.example", "Code pour Aéroclub\r\nBcc: x@evil.example", "x")
    (kept,) = relay.mailbox.messages
    assert kept["subject"] == "Code pour Aéroclub Bcc: x@evil.example"
    assert kept["rcpt_tos"] == ["a@club.example"]


async def test_a_relay_that_requires_starttls_and_auth():
    server = await start_smtp(require_starttls=True, credentials=("ofbot", "relay-password-1"))
    try:
        await mailer_for(server, smtp_user="ofbot", smtp_password="relay-password-1").send(
            "a@club.example", "Votre code", "Code : 123456"
        )
        assert [m["login"] for m in server.mailbox.messages] == ["ofbot"]
        with pytest.raises(MailError):
            await mailer_for(server, smtp_user="ofbot", smtp_password="wrong").send(
                "a@club.example", "Votre code", "Code : 123456"
            )
    finally:
        server.stop()


@pytest.mark.parametrize(
    "typed",
    [
        IDN,
        IDN_ASCII,
        "Bureau@XN--AROCLUB-VREUX-BHBH.FR",
        unicodedata.normalize("NFD", IDN),
        unicodedata.normalize("NFD", "BUREAU@AÉROCLUB-ÉVREUX.FR"),
    ],
)
def test_one_address_in_all_its_spellings(typed):
    assert same_email(typed, IDN)
    assert same_email(IDN, typed)
    assert not same_email(typed, "bureau@aeroclub-evreux.fr")


def test_ascii_email():
    assert ascii_email(IDN) == IDN_ASCII
    assert ascii_email("a@b.example") == "a@b.example"


HEADER = "subdomain,name,structure_email,contact_email,plan,active_resources,subscription_ends"


@pytest.mark.parametrize(
    "bad", ["Aéroclub\nd'Évreux", "Aéroclub\rd'Évreux", "Tab\there", "A\u2028B"]
)
def test_a_control_character_in_an_imported_field_is_refused_with_its_line(bad):
    data = "\n".join(
        [
            HEADER,
            "mermoz,Aéroclub Mermoz,bureau@mermoz.example.fr,chef@mermoz.example.fr,business,4,2027-01-15",
            f'evreux,"{bad}",bureau@evreux.example.fr,chef@evreux.example.fr,business,2,2027-01-15',
        ]
    )
    with pytest.raises(ClubImportError) as error:
        parse_clubs_csv(data + "\n", {"business"})
    assert error.value.problems == [(3, "name contains a line break or another control character")]


async def test_the_ehlo_name_is_one_a_relay_takes_on_a_host_without_a_domain_name(
    relay, monkeypatch
):
    """`socket.getfqdn()` says `localhost` here (a bare container name elsewhere), which relays
    refuse in EHLO: the bot gives the address literal of the address it connects from."""
    from bot import mail

    for bare in ("localhost", "ofbot-7d9f", "localhost.localdomain"):
        monkeypatch.setattr(socket, "getfqdn", lambda name="", bare=bare: bare)
        assert mail.ehlo_name(relay.host, relay.port) == "[127.0.0.1]"
        await mailer_for(relay).send("club@mermoz.example", "Votre code", "Code : 123456")
        assert relay.mailbox.messages[-1]["helo"] == "[127.0.0.1]"
    monkeypatch.setattr(socket, "getfqdn", lambda name="": "bot.openflyers.fr")
    assert mail.ehlo_name(relay.host, relay.port) == "bot.openflyers.fr"
    assert mail.ehlo_name("::1", relay.port) == "bot.openflyers.fr"
    monkeypatch.setattr(socket, "getfqdn", lambda name="": "localhost")
    assert mail.ehlo_name("::1", relay.port) == "[IPv6:::1]"
