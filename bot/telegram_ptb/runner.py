"""Runs the service on python-telegram-bot 22 (bot.hosting.Runtime). TO BE WRITTEN (issue 10)."""

from __future__ import annotations

from typing import Any

from bot.hosting import HandledHook
from bot.service import ConversationService, Handled
from bot.transport import Transport


class PtbRuntime:
    """The service on python-telegram-bot (bot.hosting.Runtime)."""

    def __init__(
        self,
        service: ConversationService,
        token: str,
        api_url: str,
        *,
        on_handled: HandledHook | None = None,
    ) -> None:
        self.service = service
        raise NotImplementedError("the python-telegram-bot transport is being written")

    @property
    def transport(self) -> Transport:
        raise NotImplementedError

    async def prepare(self) -> None:
        raise NotImplementedError

    async def poll(self, *, polling_timeout: int = 30) -> None:
        raise NotImplementedError

    async def stop_polling(self) -> None:
        raise NotImplementedError

    async def feed(self, raw: dict[str, Any]) -> Handled | None:
        raise NotImplementedError

    async def register_webhook(self, url: str, secret: str | None) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


def _framework_version() -> str:  # a placeholder import until the adapter is written
    import telegram

    return telegram.__version__
