"""`peduli coverage import FILE.csv [--dry-run]`: record BPJS results (KPJ number, coverage start).

Builds Settings, the programme, the engine and the Repository the way bot/app.py does, without
the bot: no aiogram (the programme's labels word the coverage notices). Prints the report
(bot.coverage) on standard output.

Exit status: 0 when no row was invalid, 1 when some were, 2 when the file or the database could
not be used at all (missing file or column, database not migrated: run `peduli db upgrade`,
DATA_KEY not the key the database is sealed with: see `peduli keys check`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from bot.catalog import load_programme
from bot.coverage import CoverageFileError, import_file
from bot.notifications import notices_for
from bot.settings import Settings
from bot.storage.db import create_db_engine
from bot.storage.keys import command_sealer
from bot.storage.repository import Repository


def main(argv: Sequence[str] | None = None) -> int:
    """`import FILE.csv [--dry-run]`, the words after `peduli coverage`."""
    parser = argparse.ArgumentParser(prog="peduli coverage")
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("import", help="activate coverage from a CSV file")
    command.add_argument("file", type=Path, metavar="FILE.csv")
    command.add_argument("--dry-run", action="store_true", help="write nothing")
    args = parser.parse_args(argv)
    return run_import(args.file, dry_run=args.dry_run)


def run_import(
    path: Path,
    *,
    dry_run: bool = False,
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Import the file into the configured database; prints the report, returns the exit
    status."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    settings = settings or Settings()
    engine = create_db_engine(settings.database_url)
    try:
        sealer = command_sealer(settings, engine, err)
        if sealer is None:
            return 2
        programme = load_programme(settings.programme_file)
        repository = Repository(
            engine,
            sealer,
            notify=notices_for(programme.catalog, programme.catalog_of),
            invitation_ttl=timedelta(days=settings.invitation_days),
            admin_ids=settings.admin_id_set,
        )
        try:
            report = import_file(repository, path, dry_run=dry_run)
        except CoverageFileError as error:
            print(f"cannot import {path}: {error}", file=err)
            return 2
        out.write(report.render(str(path)))
        out.flush()
        return report.exit_code
    finally:
        engine.dispose()
