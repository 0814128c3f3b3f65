"""Files: photos and documents sent by the bot or by people, `getFile` and the file download path.

File ids are opaque and typed (a photo id is refused as a document), as Telegram's are."""

from __future__ import annotations

import dataclasses
import mimetypes
import secrets
from typing import ClassVar

from starlette.requests import Request
from starlette.responses import Response

from bot.sandbox.telegram.errors import ApiError, bad_request
from bot.sandbox.telegram.params import Upload


@dataclasses.dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # "photo" or "document"
    data: bytes
    file_name: str
    mime_type: str
    file_path: str


def _image_size(data: bytes) -> tuple[int, int] | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data) and data[i] == 0xFF:
            marker, size = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(
                    data[i + 5 : i + 7], "big"
                )
            i += 2 + size
        return 0, 0
    if data.startswith((b"GIF87a", b"GIF89a")) and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return 0, 0
    return None


class FilesMixin:
    """Stored files: uploads, file ids, `getFile` and `/file/bot<token>/<path>`."""

    api_methods: ClassVar[dict[str, str]] = {
        "getfile": "_get_file",
    }

    def file(self, file_id: str) -> StoredFile:
        if file_id not in self._files:
            raise KeyError(f"no file {file_id}")
        return self._files[file_id]

    def document_bytes(self, message: dict) -> bytes:
        """The bytes of the document (or largest photo) a message carries."""
        if "document" in message:
            return self.file(message["document"]["file_id"]).data
        if message.get("photo"):
            return self.file(message["photo"][-1]["file_id"]).data
        raise ValueError(f"message {message.get('message_id')} carries no file")

    def _store_file(self, kind: str, data: bytes, file_name: str, mime_type: str) -> StoredFile:
        number = next(self._file_numbers)
        prefix = "AgAC" if kind == "photo" else "BQAC"
        file_id = f"{prefix}{number:04d}{secrets.token_urlsafe(24)}"
        folder = "photos" if kind == "photo" else "documents"
        extension = mimetypes.guess_extension(mime_type) or ""
        if kind == "document" and "." in file_name:
            extension = "." + file_name.rsplit(".", 1)[1]
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=f"AQAD{number:04d}{secrets.token_urlsafe(6)}",
            kind=kind,
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            file_path=f"{folder}/file_{number}{extension}",
        )
        self._files[file_id] = stored
        self._file_paths[stored.file_path] = file_id
        return stored

    def _photo_sizes(self, stored: StoredFile) -> list[dict]:
        width, height = _image_size(stored.data) or (0, 0)
        return [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": width or 640,
                "height": height or 480,
                "file_size": len(stored.data),
            }
        ]

    @staticmethod
    def _document(stored: StoredFile) -> dict:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": stored.file_name,
            "mime_type": stored.mime_type,
            "file_size": len(stored.data),
        }

    def _input_file(self, p: dict, files: dict[str, Upload], field: str, kind: str) -> StoredFile:
        upload = files.get(field)
        if upload is None:
            value = p.get(field)
            if value in (None, ""):
                raise bad_request(f"there is no {field} in the request")
            if not isinstance(value, str):
                raise bad_request("wrong file identifier/HTTP URL specified")
            if value.startswith("attach://"):
                upload = files.get(value.removeprefix("attach://"))
                if upload is None:
                    raise bad_request("wrong file identifier/HTTP URL specified")
            elif value.startswith(("http://", "https://")):
                raise bad_request("failed to get HTTP URL content")  # no network in the sandbox
            else:
                stored = self._files.get(value)
                if stored is None:
                    raise bad_request("wrong file identifier/HTTP URL specified")
                if stored.kind != kind:
                    raise bad_request(
                        f"can't use file of type {stored.kind.title()} as {kind.title()}"
                    )
                return stored
        if not upload.data:
            raise bad_request("file must be non-empty")
        if kind == "photo":
            if _image_size(upload.data) is None:
                raise bad_request("IMAGE_PROCESS_FAILED")
            return self._store_file("photo", upload.data, upload.filename, "image/jpeg")
        mime = upload.mime_type
        if mime == "application/octet-stream":
            mime = mimetypes.guess_type(upload.filename)[0] or mime
        return self._store_file("document", upload.data, upload.filename, mime)

    def _get_file(self, p: dict, files: dict) -> dict:
        stored = self._files.get(str(p.get("file_id") or ""))
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    async def _http_file(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        file_id = self._file_paths.get(request.path_params["path"])
        if file_id is None:
            return ApiError(404, "Not Found").response()
        stored = self._files[file_id]
        return Response(stored.data, media_type=stored.mime_type)
