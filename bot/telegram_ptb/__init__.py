"""The python-telegram-bot transport: the only package that imports `telegram`."""
