"""`peduli ledger open --month YYYY-MM` and `peduli ledger mark --month YYYY-MM --agency CODE
[--reference REF ...]`: the monthly ledger by hand.

open: creates the month's deduction rows (flows.ledger decides which sponsorships owe it; the
running bot opens the current month by itself) and prints how many it created (0 when the month
was already open). mark: marks the agency's unmarked rows of the month as deducted (or only the
named sponsorships) and prints how many. Each writes an audit entry with its row count in the
same transaction.

Exit status 0 when done, 2 when the arguments or the database cannot be used (not migrated:
run `peduli db upgrade`; DATA_KEY not the database's: see `peduli keys check`). No aiogram.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from datetime import date
from typing import TextIO

from sqlalchemy.orm import Session

from bot.settings import Settings
from bot.storage import audit
from bot.storage.db import create_db_engine, immediate
from bot.storage.keys import command_sealer
from bot.storage.ledger import mark_deducted, open_month
from bot.storage.models import utc_now

_MONTH = re.compile(r"(\d{4})-(\d{2})")


class UsageError(ValueError):
    """A command-line argument that cannot be used; the message says which and why."""


def parse_month(text: str) -> date:
    """ "2026-12" -> date(2026, 12, 1); UsageError otherwise."""
    match = _MONTH.fullmatch(text.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise UsageError(f"--month must be YYYY-MM (e.g. 2026-12), not {text!r}")
    return date(int(match.group(1)), int(match.group(2)), 1)


def run(
    action: str,
    month_text: str,
    *,
    agency: str | None = None,
    references: Sequence[str] | None = None,
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """`open` or `mark`; prints the row count, returns the exit status."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        month = parse_month(month_text)
        if action == "mark" and not (agency or "").strip():
            raise UsageError("mark needs --agency CODE")
    except UsageError as error:
        print(f"peduli ledger: {error}", file=err)
        return 2
    settings = settings or Settings()
    engine = create_db_engine(settings.database_url)
    try:
        sealer = command_sealer(settings, engine, err)
        if sealer is None:
            return 2
        now = utc_now()
        actor = audit.Actor.cli()
        with Session(immediate(engine)) as session, session.begin():
            if action == "open":
                count = open_month(session, month, now)
                audit.record(
                    session, actor, "ledger.open", now, detail=f"{month:%Y-%m}", row_count=count
                )
                print(f"{month:%Y-%m}: {count} rows created", file=out)
            else:
                code = (agency or "").strip()
                chosen = list(references) if references else None
                count = mark_deducted(session, month, frozenset({code}), None, now, chosen)
                detail = f"{month:%Y-%m} {code}"
                if chosen:
                    detail += " " + ",".join(sorted(set(chosen)))
                audit.record(session, actor, "ledger.mark", now, detail=detail, row_count=count)
                print(f"{month:%Y-%m} {code}: {count} rows marked", file=out)
        return 0
    finally:
        engine.dispose()
