"""Fixtures for the emulator's own tests: a started emulator and a raw Bot API HTTP client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from emulator import BotApiEmulator

TOKEN = "123456:TEST"


class RawClient:
    """Speaks the Bot API to the emulator the way client libraries do, without one."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str = TOKEN):
        self.session = session
        self.base_url = base_url
        self.token = token

    def url(self, method: str, token: str | None = None) -> str:
        return f"{self.base_url}/bot{token or self.token}/{method}"

    async def json(self, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
        """POST a JSON body (what most raw HTTP clients do)."""
        async with self.session.post(self.url(method), json=params) as response:
            return response.status, await response.json()

    async def form(self, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
        """POST urlencoded strings, nested values as JSON (python-telegram-bot's style)."""
        data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
        async with self.session.post(self.url(method), data=data) as response:
            return response.status, await response.json()

    async def multipart(
        self, method: str, fields: dict[str, str], files: dict[str, tuple[str, bytes]]
    ) -> tuple[int, dict[str, Any]]:
        """POST multipart/form-data (aiogram's style): string fields plus file parts."""
        form = aiohttp.FormData(quote_fields=False)
        for key, value in fields.items():
            form.add_field(key, value)
        for key, (filename, data) in files.items():
            form.add_field(key, data, filename=filename)
        async with self.session.post(self.url(method), data=form) as response:
            return response.status, await response.json()

    async def ok(self, method: str, **params: Any) -> Any:
        """Call (JSON) and return the result, failing the test on any refusal."""
        status, body = await self.json(method, **params)
        assert status == 200 and body["ok"], body
        return body["result"]


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    emulator = BotApiEmulator(TOKEN, quiet_period=0.1, webhook_retry_delays=(0.02, 0.05))
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def client(emulator: BotApiEmulator) -> AsyncIterator[RawClient]:
    assert emulator.base_url is not None
    async with aiohttp.ClientSession() as session:
        yield RawClient(session, emulator.base_url)
