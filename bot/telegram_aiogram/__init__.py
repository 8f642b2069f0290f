"""The aiogram transport: the only package that imports aiogram.

aiogram is imported here first, with its Telegram types built on first use (lazy_types: 128 MB
less than building all 404 at import)."""

from bot.telegram_aiogram.lazy_types import import_aiogram

import_aiogram()
