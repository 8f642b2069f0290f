"""Every user-facing text: `id.toml` (Indonesian, the default) and `en.toml`.

A package only so that the catalogues ship in the wheel as package data; `bot.i18n` reads them
with importlib.resources, wherever the package is installed.
"""
