"""`peduli audit [--since YYYY-MM-DD] [--action NAME] [--format table|csv]`: the audit log.

Entries oldest first: id, time (the programme's time zone, named: WIB, WITA or WIT), actor
(a Telegram id, or "cli"), channel, action, scope ("*" or agency codes), rows, detail. --since
is a day in the programme's time zone. CSV cells that a spreadsheet would run as a formula
(= + - @) are neutralized.

Exit status: 0, or 2 when the database cannot be used (not migrated: run `peduli db upgrade`;
DATA_KEY not the database's key: see `peduli keys check`). No aiogram.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from typing import TextIO

from sqlalchemy.orm import Session

from bot.catalog import CatalogError, load_programme
from bot.i18n import zone_name
from bot.settings import Settings
from bot.storage import audit
from bot.storage.db import create_db_engine
from bot.storage.keys import command_sealer
from bot.storage.models import AuditEntry

COLUMNS = ("id", "at", "actor", "channel", "action", "scope", "rows", "detail")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def main(
    *,
    since: date | None = None,
    action: str | None = None,
    output_format: str = "table",
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    settings = settings or Settings()
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        zone = load_programme(settings.programme_file).timezone
    except (CatalogError, OSError) as error:
        print(f"peduli: {error}", file=err)
        return 2
    engine = create_db_engine(settings.database_url)
    try:
        sealer = command_sealer(settings, engine, err)
        if sealer is None:
            return 2
        start = datetime.combine(since, datetime.min.time(), zone) if since else None
        with Session(engine) as session:
            rows = [
                _row(entry, zone) for entry in audit.entries(session, since=start, action=action)
            ]
    finally:
        engine.dispose()
    if output_format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows([_neutral(cell) for cell in row] for row in rows)
    else:
        out.write(render_table(rows))
    out.flush()
    return 0


def _row(entry: AuditEntry, zone: tzinfo) -> tuple[str, ...]:
    return (
        str(entry.id),
        _at(entry.at.astimezone(zone)),
        str(entry.actor_user_id) if entry.actor_user_id is not None else entry.channel,
        entry.channel,
        entry.action,
        entry.scope,
        "" if entry.row_count is None else str(entry.row_count),
        entry.detail or "",
    )


def _at(local: datetime) -> str:
    """The local time with its zone's name (WIB, WITA, WIT): one deployment may span zones."""
    return f"{local:%Y-%m-%d %H:%M:%S} {zone_name(local)}"


def render_table(rows: Sequence[tuple[str, ...]]) -> str:
    if not rows:
        return "(no audit entries)\n"
    table = [COLUMNS, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
    ]
    return "\n".join(lines) + "\n"


def _neutral(cell: str) -> str:
    """A cell a spreadsheet shows as text, never runs (CSV injection)."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell
