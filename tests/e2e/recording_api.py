"""A Bot API stand-in that records how each call came (its method, content type and parameters),
for tests of how a transport encodes its requests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

MESSAGE = {
    "message_id": 7,
    "date": 1_700_000_000,
    "chat": {"id": 501, "type": "private"},
    "text": "halo",
}


class RecordingApi:
    """Answers every call with a message (or the error queued next) and keeps what came."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.errors: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = {key: value for key, value in (await request.post()).items()}
        self.calls.append((method, request.content_type, params))
        if self.errors:
            error = self.errors.pop(0)
            return web.json_response(error, status=error["error_code"])
        return web.json_response({"ok": True, "result": MESSAGE})


@contextlib.asynccontextmanager
async def recording_api() -> AsyncIterator[tuple[RecordingApi, str]]:
    """A RecordingApi served on a free local port, and its base URL."""
    recording = RecordingApi()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", recording.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield recording, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
