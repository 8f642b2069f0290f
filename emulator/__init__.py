"""The project's own Telegram Bot API emulator (no aiogram import here, by design).

``BotApiEmulator`` serves the Bot API over real HTTP and validates every call against the schema
and Telegram's documented limits; ``FakeUser`` is the person's side of a chat for tests. See
``emulator/server.py`` and ``emulator/users.py``.
"""

from emulator.models import (
    ApiCall,
    ApiError,
    CallbackAnswer,
    ChatMessage,
    Rejection,
    StoredFile,
    UploadedFile,
    WebhookDelivery,
)
from emulator.schema import BotApiSchema
from emulator.server import BotApiEmulator
from emulator.users import FakeUser, make_png

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
