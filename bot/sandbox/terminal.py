"""A Telegram client in the terminal for the sandbox: write as a club contact or a staff member,
see the bot's messages with numbered buttons, press them, read the mailbox, move the date."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import textwrap
import threading
import unicodedata
from pathlib import Path

with contextlib.suppress(ImportError):  # not built on every platform (Windows)
    # Imported for its side effect: input() gains line editing (arrows, Home/End) and a history.
    import readline  # noqa: F401

HELP = """\
Type a message to send it to the bot. Commands:
  #N              press button N of the latest message that has buttons
  #M.N            press button N of an older message: M is the number in its heading (bot #M)
  LABEL           typing a button's label presses it (latest message first, then older ones;
                  emoji, case and the apostrophe's style do not matter)
  :club | :john   write as Jeanne (French club contact) or John (English club contact)
  :staff | :bruno write in the staff group as Alice or Bruno (staff members)
  :reply TEXT     staff group: answer the latest message relayed from a club (else the latest
                  request card); club chat: answer the latest message from staff
  :mail           list the e-mails the bot sent; :mail N shows e-mail N
  :pay [CARD]     pay the latest card-payment link with a test card (default 4242 4242 4242 4242)
  :date +N        move the sandbox date N days forward (N from 1 to 3660); :date shows it
  :reminders      run the renewal reminders now, as the 09:00 job does
  :history        the whole current chat
  :help | :quit
Notices a button shows briefly in Telegram appear in brackets under the message. Documents
(invoices) and photos are saved in .sandbox/files/: the line shows the path to open.
Lines are editable (arrow keys, Home/End) and ↑ recalls earlier lines."""

# Older messages whose buttons a typed label may press: Telegram shows about this many at once.
RECENT_WITH_BUTTONS = 10
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})


def label_key(text: str) -> str:
    """A button label or typed text reduced to what a person means by it: emoji and other
    symbols dropped, apostrophes straightened, case ignored, spaces collapsed (accents kept)."""
    kept = []
    for char in unicodedata.normalize("NFC", text.translate(APOSTROPHES)):
        category = unicodedata.category(char)
        if category in ("So", "Sk", "Cf", "Mn") and char not in "'":
            continue  # emoji, skin tones, variation selectors, zero-width joiners
        kept.append(char)
    return " ".join("".join(kept).casefold().split())


def service_text(message: dict) -> str | None:
    """What a service message says (Telegram shows them centred, without a sender), or None
    for an ordinary message: a forum topic created, renamed, closed, reopened, people joining or
    leaving, a group renamed or upgraded, a message pinned."""
    if "forum_topic_created" in message:
        return f"[topic created: “{message['forum_topic_created'].get('name', '')}”]"
    if "forum_topic_edited" in message:
        edited = message["forum_topic_edited"]
        if "name" in edited:
            return f"[topic renamed: “{edited['name']}”]"
        return "[topic icon changed]"
    simple = {
        "forum_topic_closed": "[topic closed]",
        "forum_topic_reopened": "[topic reopened]",
        "general_forum_topic_hidden": "[General topic hidden]",
        "general_forum_topic_unhidden": "[General topic shown]",
        "group_chat_created": "[group created]",
        "supergroup_chat_created": "[supergroup created]",
    }
    for key, text in simple.items():
        if key in message:
            return text
    if "new_chat_members" in message:
        names = ", ".join(m.get("first_name", "?") for m in message["new_chat_members"])
        return f"[joined the group: {names}]"
    if "left_chat_member" in message:
        return f"[left the group: {message['left_chat_member'].get('first_name', '?')}]"
    if "new_chat_title" in message:
        return f"[group renamed: “{message['new_chat_title']}”]"
    if "pinned_message" in message:
        return f"[pinned message #{message['pinned_message'].get('message_id')}]"
    if "migrate_to_chat_id" in message:
        return f"[group upgraded to the supergroup {message['migrate_to_chat_id']}]"
    if "migrate_from_chat_id" in message:
        return f"[supergroup upgraded from the group {message['migrate_from_chat_id']}]"
    return None


def safe_file_name(name: str, fallback: str) -> str:
    """A file name to save under, from one a sender chose: no folders, no hidden file."""
    name = re.sub(r"[^\w.@+-]+", "_", Path(name.replace("\\", "/")).name).lstrip(".")
    return name or fallback


BOLD, DIM, CYAN, YELLOW, RESET = "\033[1m", "\033[2m", "\033[36m", "\033[33m", "\033[0m"


class TerminalChat:
    def __init__(self, sandbox, on_quit) -> None:
        from bot.sandbox.run import CLUB_CONTACT

        self.sandbox = sandbox
        self.telegram = sandbox.telegram
        self.on_quit = on_quit
        self.user_id = CLUB_CONTACT
        self.chat_id = CLUB_CONTACT
        # https://no-color.org: NO_COLOR set (to anything) turns colours off.
        self.colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        # (chat id, message id) → (text, buttons) shown; message ids are counted per chat, as in
        # Telegram.
        self.shown: dict[tuple[int, int], tuple] = {}
        self.seen_upto: dict[int, int] = {}  # chat id → the last message id shown there

    def _style(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.colour else text

    def _who(self) -> str:
        from bot.sandbox.run import STAFF, STAFF_CHAT

        names = {1001: "Jeanne (club)", 1002: "John (club)", STAFF[0]: "Alice", STAFF[1]: "Bruno"}
        place = "staff group" if self.chat_id == STAFF_CHAT else "private chat with the bot"
        return f"{names.get(self.user_id, self.user_id)} in the {place}"

    def show(self, message: dict, edited: bool = False) -> None:
        chat_id = message.get("chat", {}).get("id", self.chat_id)
        self.seen_upto[chat_id] = max(self.seen_upto.get(chat_id, 0), message["message_id"])
        sender = message.get("from", {})
        who = "bot" if sender.get("is_bot") else sender.get("first_name", "?")
        tag = " (edited)" if edited else ""
        body = message.get("text") or message.get("caption") or ""
        if message.get("document") or message.get("photo"):
            body = f"{self._saved_file(message)} " + body
        service = service_text(message)
        if service is not None and not body:
            body = service
        if who == "bot":
            head = self._style(BOLD + CYAN, f"bot #{message['message_id']}{tag}:")
        else:
            head = f"{who}:"
        print(f"\n{head}\n" + textwrap.indent(body, "  "))
        markup = message.get("reply_markup") or {}
        number = 0
        for row in markup.get("inline_keyboard", []):
            for button in row:
                number += 1
                target = f" → {button['url']}" if button.get("url") else ""
                print(self._style(YELLOW, f"  [#{number}] {button['text']}{target}"))

    def files_dir(self) -> Path:
        """Where the terminal saves the documents and photos it shows (the sandbox's folder)."""
        return Path(self.sandbox.settings.db).resolve().parent / "files"

    def _saved_file(self, message: dict) -> str:
        """Save the message's document (an invoice PDF…) or photo where it can be opened, and
        say where: `[document OF-2026-000001.pdf, 23 KB: saved as /…/files/OF-….pdf]`."""
        chat_id = message.get("chat", {}).get("id", self.chat_id)
        document = message.get("document")
        if document:
            kind = "document"
            fallback = f"document-{chat_id}-{message['message_id']}"
            name = safe_file_name(document.get("file_name") or "", fallback)
        else:
            kind = "photo"
            name = f"photo-{chat_id}-{message['message_id']}.jpg"
        try:
            data = self.telegram.document_bytes(message)
            if kind == "photo" and data.startswith(b"\x89PNG"):
                name = name.removesuffix(".jpg") + ".png"
            folder = self.files_dir()
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_bytes(data)
        except (OSError, KeyError, ValueError) as exc:
            return f"[{kind} {name}: not saved ({exc})]"
        size = f"{len(data) / 1024:.0f} KB" if len(data) >= 1024 else f"{len(data)} bytes"
        return f"[{kind} {name}, {size}: saved as {path}]"

    def _with_buttons(self) -> list[dict]:
        """The chat's bot messages that carry inline buttons, latest first."""
        return [
            message
            for message in reversed(self.telegram.bot_messages(self.chat_id))
            if (message.get("reply_markup") or {}).get("inline_keyboard")
        ]

    def _buttons(self, message: dict) -> list[dict]:
        return [b for row in message["reply_markup"]["inline_keyboard"] for b in row]

    def _pick(self, choice: str) -> tuple[dict, dict] | str | None:
        """(message, button) for `#N`, `#M.N` or a label; a string explains a bad number;
        None when the text is no button (it is then sent as a message)."""
        recent = self._with_buttons()
        numbered = re.fullmatch(r"#(?:(\d+)\.)?(\d+)", choice.strip())
        if numbered:
            if numbered.group(1) is None:
                message = recent[0] if recent else None
                if message is None:
                    return "no message with buttons in this chat yet"
            else:
                wanted = int(numbered.group(1))
                message = next((m for m in recent if m["message_id"] == wanted), None)
                if message is None:
                    return f"message #{wanted} has no buttons (any more)"
            buttons = self._buttons(message)
            index = int(numbered.group(2)) - 1
            if not 0 <= index < len(buttons):
                return f"message #{message['message_id']} has no button {index + 1}"
            return message, buttons[index]
        wanted = label_key(choice)
        if not wanted:
            return None
        for message in recent[:RECENT_WITH_BUTTONS]:
            for button in self._buttons(message):
                if label_key(button["text"]) == wanted:
                    return message, button
        return None

    async def press(self, choice: str) -> bool:
        """Press the button `choice` names; False when it names none (send it as text)."""
        picked = self._pick(choice)
        if picked is None:
            return False
        if isinstance(picked, str):
            print(picked)
            return True
        message, button = picked
        if button.get("url"):
            print(f"open this link in a browser: {button['url']}  (or type :pay)")
            return True
        await self.telegram.press(
            self.user_id, message["message_id"], button["callback_data"], chat_id=self.chat_id
        )
        return True

    async def command(self, line: str) -> None:
        from bot.sandbox.run import CLUB_CONTACT, SECOND_CONTACT, STAFF, STAFF_CHAT, advance_clock

        name, _, rest = line[1:].partition(" ")
        if name in ("quit", "exit", "q"):
            self.on_quit()
        elif name == "help":
            print(HELP)
        elif name in ("club", "john"):
            self.user_id = self.chat_id = CLUB_CONTACT if name == "club" else SECOND_CONTACT
            self.switched()
        elif name in ("staff", "bruno"):
            self.user_id, self.chat_id = (STAFF[0] if name == "staff" else STAFF[1]), STAFF_CHAT
            self.switched()
        elif name == "history":
            for message in self.telegram.messages(self.chat_id):
                self.show(message)
        elif name == "mail":
            self.show_mail(rest.strip())
        elif name == "date":
            if not rest.strip():
                print(f"sandbox date: {self.sandbox.clock.today().isoformat()}")
                return
            days = re.fullmatch(r"\+?(\d{1,4})", rest.strip())
            if days is None or not 1 <= int(days.group(1)) <= 3660:
                print(
                    f"not a number of days: {rest.strip()!r} — write :date +N with N from 1 to"
                    " 3660 (the sandbox date only moves forward)"
                )
                return
            moved = advance_clock(self.sandbox, int(days.group(1)))
            print(f"sandbox date is now {moved.isoformat()}")
        elif name == "reminders":
            from bot.reminders.pacing import RunInProgress

            try:
                print(await self.sandbox.run_reminders())
            except RunInProgress:
                print("a reminders run is already in progress: nothing more was started")
        elif name == "reply":
            await self.reply(rest)
        elif name == "pay":
            await self.pay(rest.strip() or "4242424242424242")
        else:
            print(f"unknown command :{name} — :help lists them")

    def switched(self) -> None:
        """Now in another chat: what arrived there while you were away, then who you are."""
        with contextlib.suppress(KeyError):  # a private chat the person never opened
            missed, edited = [], []
            for message in self.telegram.messages(self.chat_id):
                key = (self.chat_id, message["message_id"])
                now = (message.get("text") or message.get("caption"), message.get("reply_markup"))
                if message["message_id"] > self.seen_upto.get(self.chat_id, 0):
                    if message.get("from", {}).get("id") != self.user_id:
                        missed.append(message)
                elif key in self.shown and self.shown[key] != now:
                    before = self.shown[key]
                    if before[0] != now[0] or (now[1] and now[1] != before[1]):
                        edited.append(message)  # edited into an answer while you were away
                if message.get("from", {}).get("is_bot"):
                    self.shown[key] = now
            if missed:
                print(self._style(DIM, f"\n({len(missed)} new while you were away)"))
            for message in edited:
                self.show(message, edited=True)
            for message in missed:
                self.show(message)
        print(f"now: {self._who()}")

    def show_mail(self, which: str) -> None:
        messages = list(self.sandbox.smtp.mailbox.messages)
        if which.isdigit() and 0 < int(which) <= len(messages):
            mail = messages[int(which) - 1]
            print(
                f"\nTo: {', '.join(mail['rcpt_tos'])}\nSubject: {mail['subject']}\n\n{mail['text']}"
            )
            return
        if not messages:
            print("the mailbox is empty")
        for number, mail in enumerate(messages, 1):
            print(f"  {number}. to {', '.join(mail['rcpt_tos'])}: {mail['subject']}")

    async def _reply_target(self) -> dict | None:
        """The message `:reply` answers. In the staff group: the latest message relayed from a
        club, else the latest one a reply reaches a club from (a talk's header, a request card);
        in a club chat: the latest answer from staff, else the bot's latest message."""
        from bot import relay
        from bot.sandbox.run import STAFF_CHAT

        bot_messages = list(reversed(self.telegram.bot_messages(self.chat_id)))
        services = self.sandbox.runtime.services
        if self.chat_id == STAFF_CHAT:
            fallback = None
            for message in bot_messages:
                target = await relay.target_of(services, self.chat_id, message["message_id"])
                if target is not None and target.kind == "club":
                    return message
                if target is not None and fallback is None:
                    fallback = message
            return fallback
        for message in bot_messages:
            # A staff answer reaches the club as a copy carrying the "reply" button.
            rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
            if any(b.get("callback_data") == "talk:reply" for row in rows for b in row):
                return message
        return bot_messages[0] if bot_messages else None

    async def reply(self, text: str) -> None:
        if not text.strip():
            print("write :reply followed by the answer")
            return
        message = await self._reply_target()
        if message is None:
            print("nothing to reply to")
            return
        print(self._style(DIM, f"  (replying to bot #{message['message_id']})"))
        await self.telegram.send_text(
            self.user_id, text, chat_id=self.chat_id, reply_to_message_id=message["message_id"]
        )

    async def pay(self, card: str) -> None:
        stripe = self.sandbox.stripe
        if stripe is None:
            print("the Stripe stand-in is not running")
            return
        for message in reversed(self.telegram.bot_messages(self.chat_id)):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    found = re.search(r"/checkout/(cs_[A-Za-z0-9_]+)", button.get("url", ""))
                    if found:
                        paid = await stripe.pay(found.group(1), card=card.replace(" ", ""))
                        print("payment accepted" if paid else "card declined")
                        return
        print("no card-payment link in this chat yet")

    async def watch(self) -> None:
        queue = self.telegram.subscribe()
        while True:
            event = await queue.get()
            if event.get("chat_id") != self.chat_id:
                continue
            message = event.get("message") or {}
            key = (event["chat_id"], message.get("message_id"))
            text = message.get("text") or message.get("caption")
            markup = message.get("reply_markup") or None
            if event["kind"] == "message" and message.get("from", {}).get("is_bot"):
                self.shown[key] = (text, markup)
                self.show(message)
            elif event["kind"] == "edit":
                # A pressed message edited into the bot's answer is printed again, with its new
                # buttons; an edit that only removes a pressed keyboard is not worth reprinting.
                before, shown_markup = self.shown.get(key, (None, None))
                self.shown[key] = (text, markup)
                if before != text or (markup and markup != shown_markup):
                    self.show(message, edited=True)
            elif event["kind"] == "callback_answer" and (event.get("answer") or {}).get("text"):
                # The notice Telegram shows over the chat (a toast, or a box with show_alert).
                answer = event["answer"]
                shape = "alert" if answer.get("show_alert") else "notice"
                print(self._style(YELLOW, f"  ({shape}: {answer['text']})"))

    async def watch_mail(self) -> None:
        queue = self.sandbox.smtp.mailbox.subscribe()
        while True:
            mail = await queue.get()
            print(
                self._style(BOLD, f"\n📧 mail to {', '.join(mail['rcpt_tos'])}: {mail['subject']}")
            )
            print(textwrap.indent(mail["text"].strip(), "  | "))

    def _read_lines(self, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue) -> None:
        """Blocking stdin reads in a daemon thread, so a pending read never holds up exit."""
        while True:
            try:
                line = input("> ")
            except (EOFError, OSError):
                loop.call_soon_threadsafe(lines.put_nowait, None)
                return
            loop.call_soon_threadsafe(lines.put_nowait, line)

    async def run(self) -> None:
        print(f"\nSandbox date: {self.sandbox.clock.today():%Y-%m-%d}. {HELP}\n")
        print(f"You are {self._who()}. Say /start.")
        watchers = [asyncio.create_task(self.watch()), asyncio.create_task(self.watch_mail())]
        lines: asyncio.Queue = asyncio.Queue()
        reader = threading.Thread(
            target=self._read_lines, args=(asyncio.get_running_loop(), lines), daemon=True
        )
        reader.start()
        try:
            while True:
                line = await lines.get()
                if line is None:
                    self.on_quit()
                    return
                line = line.strip()
                if not line:
                    continue
                if line.split()[0] in (":quit", ":exit", ":q"):
                    self.on_quit()
                    return
                try:
                    if line.startswith(":"):
                        await self.command(line)
                    elif not await self.press(line):
                        await self.telegram.send_text(self.user_id, line, chat_id=self.chat_id)
                except Exception as exc:  # one bad line must never end the chat
                    print(f"that did not work ({type(exc).__name__}: {exc}); the chat goes on")
        finally:
            for task in watchers:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
