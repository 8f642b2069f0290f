"""The project's own Telegram Bot API emulator (no aiogram import here, by design).

``BotApiEmulator`` serves the Bot API over real HTTP and validates every call against the schema
and Telegram's documented limits; ``FakeUser`` is the person's side of a chat for tests. See
``bot/emulator/server.py`` and ``bot/emulator/users.py``.
"""

from bot.emulator.models import (
    ApiCall,
    ApiError,
    CallbackAnswer,
    ChatMessage,
    Rejection,
    StoredFile,
    UploadedFile,
    WebhookDelivery,
)
from bot.emulator.schema import BotApiSchema
from bot.emulator.server import BotApiEmulator
from bot.emulator.users import FakeUser, make_png

__all__ = [
    "ApiCall",
    "ApiError",
    "BotApiEmulator",
    "BotApiSchema",
    "CallbackAnswer",
    "ChatMessage",
    "FakeUser",
    "Rejection",
    "StoredFile",
    "UploadedFile",
    "WebhookDelivery",
    "make_png",
]
