"""Reading Bot API requests and webhook replies off the wire, and sizing images.

Clients encode calls three ways: JSON bodies, urlencoded forms (python-telegram-bot) and
multipart forms where nested objects are JSON strings and files are parts named by
``attach://<name>`` (aiogram). Everything here returns plain parameters plus the file parts;
conversion to the declared types happens in ``emulator.schema``.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, hdrs, web

from emulator.models import UploadedFile, bad_request


async def read_parts(reader: MultipartReader) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    params: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader) or part.name is None:
            raise bad_request("unsupported multipart structure")
        if part.filename is not None:
            data = await part.read(decode=True)
            content_type = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
            files[part.name] = UploadedFile(bytes(data), part.filename, content_type)
        else:
            params[part.name] = await part.text()
    return params, files


async def read_request(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Parameters from the query string and a JSON, urlencoded or multipart body."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.body_exists:
        content_type = request.content_type
        if content_type == "multipart/form-data":
            body, files = await read_parts(await request.multipart())
            params.update(body)
        elif content_type == "application/x-www-form-urlencoded":
            params.update(dict(await request.post()))
        else:
            raw = await request.read()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise bad_request("can't parse JSON body") from None
                if not isinstance(body, dict):
                    raise bad_request("the JSON body must be an object")
                params.update(body)
    return params, files


async def read_webhook_reply(
    response: Any,
) -> tuple[str | None, dict[str, Any], dict[str, UploadedFile]]:
    """A method call in a webhook response (JSON or multipart), as Telegram executes it."""
    content_type = response.content_type
    files: dict[str, UploadedFile] = {}
    if content_type == "multipart/form-data":
        params, files = await read_parts(MultipartReader(response.headers, response.content))
    else:
        raw = await response.read()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return None, {}, {}
        params = body if isinstance(body, dict) else {}
    method = params.pop("method", None)
    if method is None:
        return None, {}, {}
    return str(method), params, files


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG, GIF or WebP image, None if it is not one of those."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        if data[12:16] == b"VP8X":
            width = int.from_bytes(data[24:27], "little") + 1
            height = int.from_bytes(data[27:30], "little") + 1
            return width, height
        return 320, 320
    if data[:2] == b"\xff\xd8":
        index = 2
        while index + 9 < len(data):
            if data[index] != 0xFF:
                index += 1
                continue
            marker = data[index + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                index += 2
                continue
            length = struct.unpack(">H", data[index + 2 : index + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[index + 5 : index + 9])
                return int(width), int(height)
            index += 2 + length
    return None
