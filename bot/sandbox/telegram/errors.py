"""The Bot API's failures as the sandbox answers them: `{"ok": false, "error_code", "description"}`.

Their texts are Telegram's own, so a client sees the same errors as from api.telegram.org."""

from __future__ import annotations

from typing import Any, NamedTuple

from starlette.responses import JSONResponse


class ApiError(Exception):
    """A Bot API failure, answered as `{"ok": false, "error_code": ..., "description": ...}`."""

    def __init__(
        self,
        code: int,
        description: str,
        retry_after: int | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after
        self.parameters = parameters  # ResponseParameters, e.g. migrate_to_chat_id

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        parameters = dict(self.parameters or {})
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if parameters:
            body["parameters"] = parameters
        return JSONResponse(body, status_code=self.code)


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


class _Described(NamedTuple):
    """A result that Telegram answers with a `description` next to it (setWebhook and friends)."""

    result: Any
    description: str
