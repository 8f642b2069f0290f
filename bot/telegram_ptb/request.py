"""python-telegram-bot's HTTP requests over aiohttp instead of httpx.

python-telegram-bot lets an application bring its own request class (telegram.request.BaseRequest:
the Bot builds the parameters, parses the answer and raises its errors; the request class only
moves bytes). Its default, httpx, cost about 3 ms of CPU per Bot API call on these 2-core machines
(bench/fake_api.py; aiohttp about 0.25 ms): with several calls per turn that was most of a turn's
CPU, and about half the throughput of the aiogram transport. aiohttp is already the project's
HTTP library (the webhook server, aiogram's session).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, FormData, TCPConnector
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

JSON_HEADERS = {"Content-Type": "application/json"}


def _seconds(value: object, default: float | None) -> float | None:
    """A timeout python-telegram-bot passed: seconds, None (no limit), or its DEFAULT_NONE."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default


class AiohttpRequest(BaseRequest):
    """A BaseRequest over one aiohttp session (created by initialize, closed by shutdown)."""

    def __init__(
        self,
        *,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        media_read_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._media_read_timeout = media_read_timeout
        self._session: ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = ClientSession(connector=TCPConnector(limit=self._pool_size))

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data is not None else {}
        data: Any = None
        headers: dict[str, str] | None = None
        if request_data is not None and not files:
            # JSON rather than the form python-telegram-bot's httpx request sends: aiohttp
            # builds a FormData for a dict, and every FormData starts a multipart writer (a
            # uuid4 boundary from os.urandom) even when it ends up urlencoded.
            data = json.dumps(request_data.parameters)
            headers = JSON_HEADERS
        if files and request_data is not None:
            form = FormData()
            for name, value in request_data.json_parameters.items():
                form.add_field(name, value)
            for name, (filename, content, mimetype) in files.items():
                form.add_field(name, content, filename=filename, content_type=mimetype)
            data = form
        default_read = self._media_read_timeout if files else self._read_timeout
        timeout = ClientTimeout(
            total=None,
            sock_connect=_seconds(connect_timeout, self._connect_timeout),
            sock_read=_seconds(read_timeout, default_read),
        )
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut from error
        except ClientError as error:
            # The error type only: its text may quote what was sent.
            raise NetworkError(f"aiohttp.{type(error).__name__}") from error
