"""aiogram's HTTP session without two costs it pays on every Bot API call.

- The answer's type: `BaseSession.check_response` validates each answer with
  `Response[method.__returning__]`, and pydantic keeps parametrized generics only weakly, so once
  the garbage collector has run the next call builds the class and its validator again (about
  7 ms of CPU here, 7-15 % of the bot's CPU under load, bench/). `PinnedSession` keeps each
  answer type it built, strongly: one per Bot API result type, a few dozen at most.
- The request body: aiogram sends every call as a form, and aiohttp's FormData starts a
  multipart writer (a uuid4 boundary from os.urandom) even for one with no file in it. A call
  without files goes as a JSON body instead, which the Bot API takes as well
  (https://core.telegram.org/bots/api#making-requests); uploads stay multipart.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods.base import Response, TelegramType
from aiohttp import ClientError, ClientTimeout
from pydantic import ValidationError

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import TelegramMethod

JSON_HEADERS = {"Content-Type": "application/json"}

_ANSWER_TYPES: dict[Any, type[Response[Any]]] = {}
"""Response[T] by T, held strongly (pydantic's own cache lets them go at the next collection)."""


def answer_type(returning: Any) -> type[Response[Any]]:
    """Response[returning], built once per process."""
    found = _ANSWER_TYPES.get(returning)
    if found is None:
        found = _ANSWER_TYPES[returning] = Response[returning]
    return found


class PinnedSession(AiohttpSession):
    """An AiohttpSession that validates answers with pinned Response types and sends calls
    without files as JSON. Anything unusual (an error answer, an upload) takes aiogram's own
    path, so its errors and retries are aiogram's."""

    def check_response(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        status_code: int,
        content: str,
    ) -> Response[TelegramType]:
        if not HTTPStatus.OK <= status_code <= HTTPStatus.IM_USED:
            return super().check_response(bot, method, status_code, content)
        try:
            data = self.json_loads(content)
            response = answer_type(method.__returning__).model_validate(data, context={"bot": bot})
        except (ValueError, ValidationError):  # aiogram raises its own error for it
            return super().check_response(bot, method, status_code, content)
        if not response.ok:
            return super().check_response(bot, method, status_code, content)
        return cast(Response[TelegramType], response)

    def json_payload(self, bot: Bot, method: TelegramMethod[TelegramType]) -> str | None:
        """The call as a JSON body, or None when it carries a file. The same fields as aiogram's
        form (build_form_data): None and empty strings left out (False and 0 are sent),
        defaults resolved, nested objects as JSON objects rather than strings."""
        files: dict[str, Any] = {}
        payload: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is None or prepared == "":
                continue
            payload[key] = prepared
        if files:
            return None
        return self.json_dumps(payload)

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> TelegramType:
        body = self.json_payload(bot, method)
        if body is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(
                url,
                data=body,
                headers=JSON_HEADERS,
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as answer:
                raw = await answer.text()
        except TimeoutError as error:
            raise TelegramNetworkError(method=method, message="Request timeout error") from error
        except ClientError as error:
            message = f"{type(error).__name__}: {error}"
            raise TelegramNetworkError(method=method, message=message) from error
        response = self.check_response(
            bot=bot, method=method, status_code=answer.status, content=raw
        )
        return cast(TelegramType, response.result)
