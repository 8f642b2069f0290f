"""`peduli db upgrade`: bring the configured database to the newest schema."""

from __future__ import annotations

import sys

from sqlalchemy.engine import make_url

from bot.settings import Settings
from bot.storage.db import head_revision, upgrade_database


def upgrade(settings: Settings | None = None) -> int:
    """Apply the migrations to Settings().database_url; prints one line, returns the exit code."""
    url = (settings or Settings()).database_url
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        upgrade_database(url)
    except Exception as error:  # one readable line for the operator, not a traceback
        print(
            f"database upgrade failed for {shown}: {type(error).__name__}: {error}", file=sys.stderr
        )
        return 1
    print(f"database {shown} is at revision {head_revision()}")
    return 0
