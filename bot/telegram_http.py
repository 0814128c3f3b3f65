"""The Bot API's HTTP transport: python-telegram-bot's `BaseRequest` on an aiohttp session.

PTB's default (httpx) costs ~2.7 ms of CPU per request over loopback, aiohttp ~0.4 ms (bench/README.md,
"Bot overhead"); every update costs one to three requests, so the transport is the bot's hot path."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# Bot API methods whose second delivery changes nothing (RFC 9110 §9.2.2's "idempotent"): reads,
# and settings that replace a whole value. Only these are sent again after a kept-alive
# connection the server had already closed; a send (sendMessage, copyMessage…) may have reached
# Telegram, so it is never repeated here: its caller records it and tries again later.
IDEMPOTENT_METHODS = frozenset(
    {
        "getme",
        "getupdates",
        "getchat",
        "getchatmember",
        "getchatadministrators",
        "getfile",
        "getmycommands",
        "getwebhookinfo",
        "setmycommands",
        "deletemycommands",
        "setwebhook",
        "deletewebhook",
        "setchatmenubutton",
        "setmydescription",
        "setmyshortdescription",
        "setmyname",
    }
)


class AiohttpRequest(BaseRequest):
    """One keep-alive connection pool of `pool_size` connections to the Bot API.

    Timeouts mean what they mean for PTB's HTTPXRequest: `pool_timeout` waits for a free
    connection, `connect_timeout` opens one, `read_timeout` waits between bytes of the answer
    (aiohttp has no write timeout: `write_timeout` bounds the whole request with the others)."""

    def __init__(
        self,
        *,
        pool_size: int = 1,
        connect_timeout: float | None = 5.0,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._pool_size = pool_size
        self._timeouts = {
            "connect": connect_timeout,
            "read": read_timeout,
            "write": write_timeout,
            "pool": pool_timeout,
        }
        self._media_write_timeout = media_write_timeout
        self._tls = tls if tls is not None else ssl.create_default_context()
        self._session: aiohttp.ClientSession | None = None
        # Called with (Bot API method, HTTP status) after each answer: bot.metrics counts them.
        self.observe: Callable[[str, int], None] | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._timeouts["read"]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ssl=self._tls)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def _timeout(self, name: str, value: ODVInput[float], files: bool = False) -> float | None:
        if isinstance(value, DefaultValue):
            if name == "write" and files:
                return self._media_write_timeout
            return self._timeouts[name]
        return value

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = bool(request_data and request_data.contains_files)
        read = self._timeout("read", read_timeout)
        write = self._timeout("write", write_timeout, files)
        connect = self._timeout("connect", connect_timeout)
        pool = self._timeout("pool", pool_timeout)
        parts = (read, write, connect, pool)
        timeout = aiohttp.ClientTimeout(
            # aiohttp's `connect` is waiting for a pooled connection plus opening a new one.
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
            total=None if None in parts else sum(parts),
        )
        api_method = url.rsplit("/", 1)[-1].lower()
        # One more try, only for an idempotent method, only when the connection dropped before
        # any answer (a kept-alive connection the server closed while idle: RFC 9112 §9.3.1).
        retries = 1 if api_method in IDEMPOTENT_METHODS else 0
        while True:
            answered = False
            try:
                body = self._body(request_data, files)
                async with self._session.request(
                    method, url, data=body, timeout=timeout
                ) as response:
                    answered = True
                    payload = await response.read()
                break
            except TimeoutError as err:
                raise TimedOut from err
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as err:
                connecting = isinstance(err, aiohttp.ClientConnectorError)
                if retries and not answered and not connecting:
                    retries -= 1
                    continue
                raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err
            except aiohttp.ClientError as err:
                raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err
        if self.observe is not None:
            self.observe(url.rsplit("/", 1)[-1], response.status)
        return response.status, payload

    @staticmethod
    def _body(request_data: RequestData | None, files: bool) -> aiohttp.FormData | None:
        """The request's form, built afresh for each try (aiohttp consumes a FormData once)."""
        if request_data is None:
            return None
        # Unquoted: aiohttp would percent-encode a non-ASCII file name ("facture-%C3%A9…"),
        # Telegram (and httpx, PTB's default) take it as UTF-8 (RFC 7578).
        body = aiohttp.FormData(quote_fields=False)
        for name, value in request_data.json_parameters.items():
            body.add_field(name, value)
        if files:
            for name, (filename, content, mimetype) in request_data.multipart_data.items():
                body.add_field(name, content, filename=filename, content_type=mimetype)
        return body
