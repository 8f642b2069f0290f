"""The aiogram transport: the only package that imports aiogram."""
