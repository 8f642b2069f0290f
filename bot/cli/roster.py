"""`peduli roster import FILE.csv [--dry-run]`: the civil servants of each agency (columns nip,
name, agency), to turn sign-ups into participation (`peduli stats`, /statistik).

The whole file is read and checked (flows.roster) before anything is written; the good rows are
then stored in one transaction (bot.storage.roster): added, updated (another name or agency),
unchanged. Bad rows are reported with their line numbers and reasons, NIPs masked; they do not
stop the good ones. Importing the same file twice adds nothing. --dry-run writes nothing.

Exit status: 0 when every row was good, 1 when some were bad, 2 when the file or the database
cannot be used (not migrated, DATA_KEY not the database's: see `peduli keys check`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from bot.catalog import load_programme
from bot.settings import Settings
from bot.storage import audit
from bot.storage.db import create_db_engine
from bot.storage.keys import command_sealer
from bot.storage.models import utc_now
from bot.storage.roster import store_roster
from flows.roster import RosterFileError, RosterParse, parse_roster

MAX_FILE_BYTES = 50 * 1024 * 1024  # a regency's roster is a few MB; refuse anything absurd


def _read(path: Path) -> str:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise RosterFileError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise RosterFileError("not UTF-8 text") from error


def run_import(
    path: Path,
    *,
    dry_run: bool = False,
    settings: Settings | None = None,
    clock: Callable[[], datetime] = utc_now,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    settings = settings or Settings()
    programme = load_programme(settings.programme_file)
    now = clock().astimezone(programme.timezone)
    try:
        parsed = parse_roster(_read(path), [a.code for a in programme.catalog.agencies], now.date())
    except (OSError, RosterFileError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        print(f"cannot import {path.name}: {reason}", file=err)
        return 2
    engine = create_db_engine(settings.database_url)
    try:
        sealer = command_sealer(settings, engine, err)
        if sealer is None:
            return 2
        counts = store_roster(
            engine,
            sealer,
            parsed.rows,
            now=now,
            actor=audit.Actor.cli(),
            dry_run=dry_run,
            problems=len(parsed.problems),
        )
    finally:
        engine.dispose()
    out.write(_report(path, parsed, counts.added, counts.updated, counts.unchanged, dry_run))
    out.flush()
    return 1 if parsed.problems else 0


def _report(
    path: Path, parsed: RosterParse, added: int, updated: int, unchanged: int, dry_run: bool
) -> str:
    heading = f"Roster import of {path.name!r}"
    if dry_run:
        heading += " (dry run: nothing was written)"
    would = "would be " if dry_run else ""
    lines = [
        heading,
        f"  {would + 'added:':<19}{added}",
        f"  {would + 'updated:':<19}{updated}",
        f"  {'unchanged:':<19}{unchanged}",
        f"  {'bad rows:':<19}{len(parsed.problems)}",
    ]
    if parsed.problems:
        lines.append("Bad rows:")
        lines.extend(
            f"  line {p.line}: NIP {p.nip_masked or '(empty)'}: {', '.join(p.reasons)}"
            for p in parsed.problems
        )
    return "\n".join(lines) + "\n"
