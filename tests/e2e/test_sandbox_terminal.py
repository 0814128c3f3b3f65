"""`ofbot sandbox` driven as a person would, through a pseudo-terminal: start it, verify a club
with the code printed from the mailbox, press a button by number, then quit."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Terminal:
    def __init__(self, cwd: Path) -> None:
        self.master, slave = pty.openpty()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OFBOT_")}
        env["TERM"] = "dumb"
        env["NO_COLOR"] = "1"  # plain text to match (the colours are shown by a real terminal)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "sandbox", "--port", "0"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        self.output = ""
        self.seen = 0  # read_until looks past what an earlier read_until matched

    def read_until(self, pattern: str, timeout: float = 30.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.compile(pattern).search(self.output, self.seen)
            if match:
                self.seen = match.end()
                return match
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.output += os.read(self.master, 65536).decode("utf-8", "replace")
                except OSError:
                    break
        raise AssertionError(
            f"{pattern!r} not seen; screen:\n{self.output[max(0, self.seen - 500) :]}"
        )

    def read_both(self, first: str, second: str) -> None:
        """Both patterns, in either order: switching chats prints what arrived while away, and a
        message still on its way prints after the "now: …" line."""
        self.read_until(rf"(?s)(?:{first}.*?{second}|{second}.*?{first})")

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
        os.close(self.master)


def test_a_person_verifies_a_club_in_the_terminal(tmp_path):
    terminal = Terminal(tmp_path)
    try:
        terminal.read_until(r"Say /start")
        terminal.type("/start")
        terminal.read_until(r"adresse de la plateforme")
        terminal.type("mermos")
        terminal.read_until(r"\[#1\] Aéroclub Jean Mermoz")
        terminal.type("#1")
        terminal.read_until(r"adresses e-mail de la fiche client")
        terminal.type("bureau@mermoz.example.fr")
        # The answer comes at once; the mail right after it (bot/outbox.py).
        terminal.read_until(r"Tapez-le ici")
        code = terminal.read_until(r"Votre code : (\d{6})").group(1)
        terminal.type(code)
        terminal.read_until(r"c’est vérifié")
        terminal.read_until(r"Que voulez-vous faire")
        terminal.type(":quit")
        assert terminal.process.wait(30) == 0
        assert "Traceback" not in terminal.output
    finally:
        terminal.close()


def test_the_readme_walkthrough_works_in_order(tmp_path):
    """README "Trying it: the sandbox", each step as written there (issue 17 item 1: the /paid
    step answered "already paid" and the reminder step sent nothing)."""
    terminal = Terminal(tmp_path)
    try:
        terminal.read_until(r"Say /start")
        # 1. Jeanne verifies mermoz.
        terminal.type("/start")
        terminal.read_until(r"adresse de la plateforme")
        terminal.type("mermoz")
        terminal.read_until(r"adresses e-mail de la fiche client")
        terminal.type("bureau@mermoz.example.fr")
        terminal.type(terminal.read_until(r"Votre code : (\d{6})").group(1))
        terminal.read_until(r"Que voulez-vous faire")
        # 2. Renew (the label typed with a straight apostrophe and no emoji), 3 refused, pay by card.
        terminal.type("Renouveler l'abonnement")
        # The menu pressed becomes the answer (edited in place): printed again, as edited.
        menu = terminal.output.rindex("Que voulez-vous faire")
        number = re.findall(r"bot #(\d+):", terminal.output[:menu])[-1]
        terminal.read_until(rf"bot #{number} \(edited\):[^#]*Au minimum 4")
        terminal.type("3")
        terminal.read_until(r"moins de 4 ressources")
        terminal.type("4")
        terminal.read_until(r"Confirmer et créer la facture")
        terminal.type("#1")
        first = terminal.read_until(r"Facture créée : (OF-\d{4}-\d{6})").group(1)
        terminal.type("carte bancaire")
        terminal.read_until(r"lien de paiement")
        terminal.type(":pay 4000 0000 0000 0002")
        terminal.read_until(r"card declined")
        terminal.type(":pay")
        terminal.read_until(r"Paiement reçu")
        terminal.read_until(rf"{first} : [^\n]*payée par carte")
        # 3. John verifies dublin; 20 days later the reminder; Renew now; pay by cheque.
        terminal.type(":john")
        terminal.read_until(r"now: John")
        terminal.type("/start")
        terminal.type("dublin")
        terminal.read_until(r"e-mail addresses on the customer record")
        terminal.type("office@dublin.example.ie")
        terminal.type(terminal.read_until(r"Your code: (\d{6})").group(1))
        terminal.read_until(r"What would you like to do")
        terminal.type(":date +20")
        terminal.read_until(r"sandbox date is now")
        terminal.type(":reminders")
        terminal.read_until(r"Your subscription ends in 23 days")
        terminal.read_until(r"sent 1,")
        terminal.type("Renew now")
        terminal.read_until(r"At least 6")
        terminal.type("#1")
        terminal.read_until(r"Confirm and create the invoice")
        terminal.type("#1")
        second = terminal.read_until(r"Invoice created: (OF-\d{4}-\d{6})").group(1)
        assert second != first
        terminal.type("Cheque")
        terminal.read_until(rf"Write the invoice number {second} on the back")
        # 4. Staff see it waiting and record the cheque; John gets the receipt.
        terminal.type(":staff")
        terminal.read_until(r"now: Alice")
        terminal.type("/pending")
        terminal.read_until(rf"• {second} dublin")
        terminal.type(f"/paid {second} cheque")
        terminal.read_until(rf"Paiement par chèque enregistré pour la facture {second}")
        terminal.type(":john")
        terminal.read_both(rf"Invoice {second}: [^\n]*paid by cheque", r"now: John")
        # 5. Jeanne: password help, then a message to staff answered with :reply.
        terminal.type(":club")
        terminal.read_until(r"now: Jeanne")
        terminal.type("/menu")
        terminal.read_until(r"Que voulez-vous faire")
        terminal.type("Mot de passe")
        terminal.read_until(r"Mot de passe oublié")
        terminal.type("Retour")
        terminal.read_until(r"Que voulez-vous faire")
        terminal.type("Parler à l’équipe")
        terminal.read_until(r"Écrivez votre message ici")
        terminal.type("Bonjour, une question sur la facture")
        terminal.read_until(r"Transmis à l’équipe")
        terminal.type(":staff")
        terminal.read_both(r"Bonjour, une question sur la facture", r"now: Alice")
        terminal.type(":reply Bonjour Jeanne, nous regardons.")
        terminal.type(":club")
        terminal.read_until(r"Bonjour Jeanne, nous regardons\.")
        terminal.type(":quit")
        assert terminal.process.wait(30) == 0
        assert "Traceback" not in terminal.output
    finally:
        terminal.close()


def test_a_bad_terminal_command_gets_an_error_and_the_chat_goes_on(tmp_path):
    """`:date abc` used to kill the chat: every later line, :quit included, was ignored."""
    terminal = Terminal(tmp_path)
    try:
        terminal.read_until(r"Say /start")
        terminal.type(":date abc")
        terminal.read_until(r"not a number of days: 'abc'")
        terminal.type(":date +2")
        terminal.read_until(r"sandbox date is now")
        terminal.type("/start")
        terminal.read_until(r"adresse de la plateforme")
        terminal.type(":quit")
        assert terminal.process.wait(30) == 0
    finally:
        terminal.close()


def test_older_buttons_notices_reply_to_the_relayed_message_and_line_editing(tmp_path):
    """Issue 17 item 3: `#M.N` presses a button of an older message, a button's notice is shown,
    `:reply` answers the latest relayed message (not the bot's latest), lines are editable."""
    terminal = Terminal(tmp_path)
    try:
        terminal.read_until(r"Say /start")
        # Line editing: "start", then Ctrl-A (start of line) and "/" typed there → "/start".
        os.write(terminal.master, b"start\x01/\n")
        terminal.read_until(r"adresse de la plateforme")
        terminal.type("mermoz")
        terminal.type("bureau@mermoz.example.fr")
        sent = int(terminal.read_until(r"bot #(\d+):\s+Un code à 6 chiffres").group(1))
        code = terminal.read_until(r"Votre code : (\d{6})").group(1)
        terminal.type(code)
        terminal.read_until(r"Que voulez-vous faire")
        terminal.type("💬 Parler à l'équipe")
        terminal.read_until(r"Écrivez votre message ici")
        terminal.type("Première question")
        terminal.read_until(r"Transmis à l’équipe")
        terminal.type(":staff")
        terminal.read_both(r"💬 Aéroclub[^\n]*\s+Première", r"now: Alice")
        relayed = int(
            re.findall(r"bot #(\d+):\s+💬 Aéroclub[^\n]*\s+Première", terminal.output)[-1]
        )
        # The staff group's latest bot message is an answer to /pending, not the relayed one.
        terminal.type("/pending")
        terminal.read_until(r"En attente")
        terminal.type(":reply Réponse à la question")
        terminal.read_until(rf"replying to bot #{relayed}\)")
        terminal.type(":club")
        terminal.read_both(r"Réponse à la question", r"now: Jeanne")
        # "Send a new code" under the code message far above: pressed by number, and Telegram's
        # notice for a button of an earlier step is shown.
        terminal.type(f"#{sent}.9")
        terminal.read_until(rf"message #{sent} has no button 9")
        terminal.type(f"#{sent}.1")
        terminal.read_until(r"\(notice: Ce (bouton|message) n’est plus (actif|à jour)")
        terminal.type(":quit")
        assert terminal.process.wait(30) == 0
        assert "Traceback" not in terminal.output
    finally:
        terminal.close()
