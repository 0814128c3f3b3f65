"""A Telegram client in the terminal for the sandbox: write as a club contact or a staff member,
see the bot's messages with numbered buttons, press them, read the mailbox, move the date."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import textwrap
import threading

HELP = """\
Type a message to send it to the bot. Commands:
  #N              press button N of the latest message that has buttons (or type its label)
  :club | :john   write as Jeanne (French club contact) or John (English club contact)
  :staff | :bruno write in the staff group as Alice or Bruno (staff members)
  :reply TEXT     (staff) reply to the latest relayed or card message with TEXT
  :mail           list the e-mails the bot sent; :mail N shows e-mail N
  :pay [CARD]     pay the latest card-payment link with a test card (default 4242 4242 4242 4242)
  :date +N        move the sandbox date N days forward; :date shows it
  :reminders      run the renewal reminders now, as the 09:00 job does
  :history        the whole current chat
  :help | :quit"""

BOLD, DIM, CYAN, YELLOW, RESET = "\033[1m", "\033[2m", "\033[36m", "\033[33m", "\033[0m"


class TerminalChat:
    def __init__(self, sandbox, on_quit) -> None:
        from bot.sandbox.run import CLUB_CONTACT

        self.sandbox = sandbox
        self.telegram = sandbox.telegram
        self.on_quit = on_quit
        self.user_id = CLUB_CONTACT
        self.chat_id = CLUB_CONTACT
        self.colour = sys.stdout.isatty()
        self.shown: dict[int, str | None] = {}

    def _style(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.colour else text

    def _who(self) -> str:
        from bot.sandbox.run import STAFF, STAFF_CHAT

        names = {1001: "Jeanne (club)", 1002: "John (club)", STAFF[0]: "Alice", STAFF[1]: "Bruno"}
        place = "staff group" if self.chat_id == STAFF_CHAT else "private chat with the bot"
        return f"{names.get(self.user_id, self.user_id)} in the {place}"

    def show(self, message: dict, edited: bool = False) -> None:
        sender = message.get("from", {})
        who = "bot" if sender.get("is_bot") else sender.get("first_name", "?")
        tag = " (edited)" if edited else ""
        body = message.get("text") or message.get("caption") or ""
        if message.get("document"):
            body = f"[document {message['document'].get('file_name', '')}] " + body
        if message.get("photo"):
            body = "[photo] " + body
        head = self._style(BOLD + CYAN, f"{who}{tag}:") if who == "bot" else f"{who}:"
        print(f"\n{head}\n" + textwrap.indent(body, "  "))
        markup = message.get("reply_markup") or {}
        number = 0
        for row in markup.get("inline_keyboard", []):
            for button in row:
                number += 1
                target = f" → {button['url']}" if button.get("url") else ""
                print(self._style(YELLOW, f"  [#{number}] {button['text']}{target}"))

    def _latest_with_buttons(self) -> dict | None:
        for message in reversed(self.telegram.bot_messages(self.chat_id)):
            if (message.get("reply_markup") or {}).get("inline_keyboard"):
                return message
        return None

    def _buttons(self, message: dict) -> list[dict]:
        return [b for row in message["reply_markup"]["inline_keyboard"] for b in row]

    async def press(self, choice: str) -> bool:
        message = self._latest_with_buttons()
        if message is None:
            return False
        buttons = self._buttons(message)
        button = None
        if choice.startswith("#") and choice[1:].isdigit():
            index = int(choice[1:]) - 1
            button = buttons[index] if 0 <= index < len(buttons) else None
            if button is None:
                print(f"no button {choice}")
                return True
        else:
            matches = [b for b in buttons if b["text"].strip().lower() == choice.strip().lower()]
            button = matches[0] if matches else None
        if button is None:
            return False
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
            print(f"now: {self._who()}")
        elif name in ("staff", "bruno"):
            self.user_id, self.chat_id = (STAFF[0] if name == "staff" else STAFF[1]), STAFF_CHAT
            print(f"now: {self._who()}")
        elif name == "history":
            for message in self.telegram.messages(self.chat_id):
                self.show(message)
        elif name == "mail":
            self.show_mail(rest.strip())
        elif name == "date":
            if rest.strip():
                days = int(rest.strip().lstrip("+"))
                print(f"sandbox date is now {advance_clock(self.sandbox, days).isoformat()}")
            else:
                print(f"sandbox date: {self.sandbox.clock.today().isoformat()}")
        elif name == "reminders":
            print(await self.sandbox.run_reminders())
        elif name == "reply":
            await self.reply(rest)
        elif name == "pay":
            await self.pay(rest.strip() or "4242424242424242")
        else:
            print(f"unknown command :{name} — :help lists them")

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

    async def reply(self, text: str) -> None:
        for message in reversed(self.telegram.messages(self.chat_id)):
            if message.get("from", {}).get("is_bot"):
                await self.telegram.send_text(
                    self.user_id,
                    text,
                    chat_id=self.chat_id,
                    reply_to_message_id=message["message_id"],
                )
                return
        print("nothing to reply to")

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
            key = message.get("message_id")
            text = message.get("text") or message.get("caption")
            if event["kind"] == "message" and message.get("from", {}).get("is_bot"):
                self.shown[key] = text
                self.show(message)
            elif event["kind"] == "edit" and self.shown.get(key) != text:
                # An edit that only removes a pressed keyboard is not worth reprinting.
                self.shown[key] = text
                self.show(message, edited=True)
            elif event["kind"] == "callback_answer" and event.get("text"):
                print(self._style(DIM, f"  ({event['text']})"))

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
                if line.startswith(":"):
                    if line.split()[0] in (":quit", ":exit", ":q"):
                        self.on_quit()
                        return
                    await self.command(line)
                elif not await self.press(line):
                    await self.telegram.send_text(self.user_id, line, chat_id=self.chat_id)
        finally:
            for task in watchers:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
