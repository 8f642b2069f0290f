"""`peduli stats [--agency CODE | --regency CODE] [--format table|csv|json|xlsx] [--output FILE]`:
the programme's statistics per agency (or per regency of a deployment of several) and per
kecamatan/desa of the workers, with participation against the roster (bot.storage.statistics).
Each run is recorded in the audit log (action "stats.export", the format and agencies, the row
count); the command line acts as a superadmin.

xlsx needs --output (a workbook is not for a terminal); the other formats print to standard
output unless --output is given. Exit status 0; 2 when the database cannot be used (not
migrated: run `peduli db upgrade`; DATA_KEY not the database's: see `peduli keys check`), the
agency is not in the catalog or the output cannot be written. No aiogram, no matplotlib.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from bot.catalog import load_programme
from bot.i18n import Renderer
from bot.settings import Settings
from bot.statistics_render.text_formats import render_csv, render_json, render_table
from bot.storage import audit
from bot.storage.db import create_db_engine
from bot.storage.keys import command_sealer
from bot.storage.models import utc_now
from bot.storage.statistics import view_statistics

FORMATS = ("table", "csv", "json", "xlsx")


def run_stats(
    *,
    agency: str | None = None,
    regency: str | None = None,
    output_format: str = "table",
    output: Path | None = None,
    language: str = "id",
    settings: Settings | None = None,
    clock: Callable[[], datetime] = utc_now,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    if output_format not in FORMATS:
        print(f"peduli stats: unknown format {output_format!r}", file=err)
        return 2
    if output_format == "xlsx" and output is None:
        print("peduli stats: --format xlsx needs --output FILE.xlsx", file=err)
        return 2
    settings = settings or Settings()
    programme = load_programme(settings.programme_file)
    catalog = programme.catalog
    if agency is not None and catalog.agency(agency) is None:
        print(f"peduli stats: no agency {agency!r} in the catalog", file=err)
        return 2
    listed = [a.code for a in catalog.agencies]
    asked = None if agency is None else [agency]
    if agency is not None:
        programme = programme.for_agency(agency)  # its regency's time zone (the month)
    if regency is not None:
        # One regency of a deployment of several: its agencies, its time zone (the month).
        regency_programme = programme.for_regency(regency)
        if regency_programme is None:
            print(f"peduli stats: no regency {regency!r} in the deployment", file=err)
            return 2
        programme = regency_programme
        listed = asked = [a.code for a in catalog.agencies_of(regency)]
    engine = create_db_engine(settings.database_url)
    try:
        sealer = command_sealer(settings, engine, err)
        if sealer is None:
            return 2
        detail = f"format={output_format} agencies={agency or regency or '*'}"
        stats = view_statistics(
            engine,
            audit.Actor.cli(),
            asked,
            now=clock().astimezone(programme.timezone),
            catalog_codes=listed,
            action="stats.export",
            detail=detail,
        )
    finally:
        engine.dispose()
    try:
        if output_format == "xlsx":
            from bot.statistics_render.workbook import write_workbook

            assert output is not None
            write_workbook(stats, catalog, Renderer(language), output)
            print(f"wrote {output} ({stats.row_count} rows)", file=out)
            return 0
        renderer = {"table": render_table, "csv": render_csv, "json": render_json}
        text = renderer[output_format](stats, catalog)
        if output is None:
            out.write(text)
            out.flush()
        else:
            output.write_text(text, encoding="utf-8")
            print(f"wrote {output} ({stats.row_count} rows)", file=out)
    except OSError as error:
        print(f"peduli stats: cannot write {output}: {error.strerror or error}", file=err)
        return 2
    return 0
