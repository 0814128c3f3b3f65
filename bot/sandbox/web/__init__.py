"""The sandbox's web page (`ofbot sandbox`): a Telegram-like client for the sandbox's chats, its
mailbox, the checkout links and a clock, on its own loopback port.

app.py serves it (Starlette routes); entities.py renders messages' entities as safe HTML, page.py
reduces messages and mails to what the page draws, hub.py streams changes, reset.py resets."""

from bot.sandbox.web.app import SandboxWeb, WebServer, start_web
from bot.sandbox.web.entities import entities_to_html, safe_href
from bot.sandbox.web.hub import Hub
from bot.sandbox.web.page import page_mail, page_message, topic_service
from bot.sandbox.web.reset import reset_sandbox

__all__ = [
    "Hub",
    "SandboxWeb",
    "WebServer",
    "entities_to_html",
    "page_mail",
    "page_message",
    "reset_sandbox",
    "safe_href",
    "start_web",
    "topic_service",
]
