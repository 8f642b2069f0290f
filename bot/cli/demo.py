"""`peduli demo [--reset]`: load the playground's sample data set (bot.demo) into its database.

The playground's database (PLAYGROUND_DATABASE_URL, var/playground.sqlite3 by default) is created
and migrated when needed. Running it again adds nothing; --reset empties the database first (it
holds test data only, so nothing is asked). Prints what was loaded and the personas' Telegram
user ids. Exit status 0; 2 when the data key does not fit the database (--reset starts afresh)
or the sample data do not fit data already there.
"""

from __future__ import annotations

import sys
from typing import TextIO

from bot.demo import DemoError, load_demo
from bot.security.crypto import DataKeyError
from bot.settings import Settings
from bot.storage.db import shown_url


def run(
    *,
    reset: bool = False,
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    settings = settings or Settings().for_playground()
    try:
        report = load_demo(settings, reset=reset)
    except (DataKeyError, DemoError) as error:
        shown = shown_url(settings.database_url)
        print(f"peduli demo: {error}\n(the database: {shown}; --reset empties it)", file=err)
        return 2
    out.write(report.render())
    out.write("Start the playground with `make run` (no BOT_TOKEN) or `peduli playground`.\n")
    out.flush()
    return 0
