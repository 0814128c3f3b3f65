"""A fake Telegram Bot API server for the sandbox and the end-to-end tests (SPEC §7).

It speaks `/bot<token>/<method>` like api.telegram.org, rejects what Telegram rejects, and plays the
users. One module per concern: `entities` (HTML and UTF-16), `limits` (lengths, rate buckets),
`params` (request forms), `files`, a mixin per family of Bot API methods (`sending`, `editing`,
`callbacks`, `chats`, `commands`, `updates`), the people (`users`, `observe`, `user_http`), and the
HTTP server (`bot_api`, `server`); `fake` assembles them into `FakeTelegram`."""

from bot.sandbox.telegram.callbacks import CALLBACK_QUERY_TTL, QUERY_TOO_OLD
from bot.sandbox.telegram.commands import (
    MAX_COMMAND,
    MAX_COMMAND_DESCRIPTION,
    MAX_COMMANDS,
    CommandsKey,
)
from bot.sandbox.telegram.editing import NOT_MODIFIED
from bot.sandbox.telegram.entities import (
    EntityParseError,
    format_text,
    is_valid_url,
    parse_html,
    utf16_len,
)
from bot.sandbox.telegram.errors import ApiError, bad_request
from bot.sandbox.telegram.fake import FakeTelegram
from bot.sandbox.telegram.files import StoredFile
from bot.sandbox.telegram.limits import MAX_CALLBACK_DATA, MAX_CAPTION, MAX_TEXT, RateLimits
from bot.sandbox.telegram.markup import check_reply_markup
from bot.sandbox.telegram.params import Upload, parse_multipart, read_params
from bot.sandbox.telegram.server import FakeTelegramServer, start_fake_telegram
from bot.sandbox.telegram.updates import (
    MAX_LONG_POLL,
    OPT_IN_UPDATES,
    POLL_CONFLICT,
    UPDATE_TYPES,
    WEBHOOK_CONFLICT,
)

__all__ = [
    "CALLBACK_QUERY_TTL",
    "MAX_CALLBACK_DATA",
    "MAX_CAPTION",
    "MAX_COMMAND",
    "MAX_COMMANDS",
    "MAX_COMMAND_DESCRIPTION",
    "MAX_LONG_POLL",
    "MAX_TEXT",
    "NOT_MODIFIED",
    "OPT_IN_UPDATES",
    "POLL_CONFLICT",
    "QUERY_TOO_OLD",
    "UPDATE_TYPES",
    "WEBHOOK_CONFLICT",
    "ApiError",
    "CommandsKey",
    "EntityParseError",
    "FakeTelegram",
    "FakeTelegramServer",
    "RateLimits",
    "StoredFile",
    "Upload",
    "bad_request",
    "check_reply_markup",
    "format_text",
    "is_valid_url",
    "parse_html",
    "parse_multipart",
    "read_params",
    "start_fake_telegram",
    "utf16_len",
]
