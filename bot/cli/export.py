"""`peduli export deductions|bpjs|transfers`: the treasurers' workbook, the BPJS registration
list, and what sponsors without a salary deduction pay (villages, BAZNAS, companies; issue 12).

    peduli export deductions --month YYYY-MM [--agency CODE | --regency CODE] [--output FILE]
    peduli export bpjs [--since DATE] [--format csv|xlsx] [--output FILE]
    peduli export transfers --month YYYY-MM [--output FILE]

Each writes to FILE, or to a named file in the current folder, and prints the path. The command
line acts as a superadmin (whoever can run it holds the database and the key): full NIPs in the
deduction workbook (the treasurer cuts that salary) and full NIKs in the BPJS list, each export
written to the audit log with its row count. No framework is imported: it never loads aiogram.

Exit status: 0 written; 2 when nothing could be written (a bad argument, an unknown agency, the
database not migrated, DATA_KEY not the database's key, the file not writable), with the reason
on standard error and no traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TextIO, TypeVar

from sqlalchemy.orm import Session

from bot.catalog import ProgrammeSettings, load_programme
from bot.exports import bpjs, deductions, transfers
from bot.i18n import Renderer, rupiah
from bot.security.crypto import DataKeyError, Sealer
from bot.settings import Settings
from bot.storage import audit
from bot.storage.db import create_db_engine, immediate, not_migrated, shown_url
from bot.storage.exports import (
    BPJS,
    DeductionRow,
    OpenMonth,
    TransferRow,
    bpjs_rows,
    export_deductions,
    export_transfers,
)
from bot.storage.keys import verified_sealer
from flows.validators import parse_date

T = TypeVar("T")


class ExportError(ValueError):
    """An argument or the database cannot be used: the reason for standard error."""


def parse_month(text: str) -> date:
    """ "2026-12" -> date(2026, 12, 1); ExportError otherwise."""
    year, dash, month = text.strip().partition("-")
    if not (dash and len(year) == 4 and year.isdigit() and month.isdigit() and len(month) <= 2):
        raise ExportError(f"--month {text!r}: write the month as YYYY-MM, e.g. 2026-12")
    if not 1 <= int(month) <= 12:
        raise ExportError(f"--month {text!r}: there is no month {int(month)}")
    return date(int(year), int(month), 1)


def deductions_command(
    month_text: str,
    agency: str | None,
    output: Path | None,
    *,
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    clock: Callable[[], datetime] | None = None,
    open_month: OpenMonth | None = None,
    regency: str | None = None,
) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    now = (clock or (lambda: datetime.now(UTC)))()
    try:
        month = parse_month(month_text)
        with _Database(settings) as database:
            programme = database.programme
            if agency is not None and programme.catalog.agency(agency) is None:
                raise ExportError(f"--agency {agency!r}: no such agency in the agency list")
            asked = None if agency is None else [agency]
            if regency is not None:
                # One regency of a deployment of several: its agencies and its time zone.
                regency_programme = programme.for_regency(regency)
                if regency_programme is None:
                    raise ExportError(f"--regency {regency!r}: no such regency in the deployment")
                asked = [a.code for a in programme.catalog.agencies_of(regency)]
                programme = regency_programme
            path = output or Path.cwd() / _deductions_name(month, agency or regency)
            actor = audit.Actor.cli()
            agencies = actor.scope.restrict(asked)

            def write(rows: Iterator[DeductionRow]) -> deductions.DeductionSummary:
                return _written(
                    path,
                    lambda: deductions.write_deductions(
                        str(path),
                        rows,
                        month=month,
                        programme=programme.catalog,
                        timezone=programme.timezone,
                        render=Renderer("id"),
                        per_agency=database.programme.settings_of,
                    ),
                )

            summary, _count = export_deductions(
                database.engine,
                immediate(database.engine),
                database.sealer,
                actor,
                month,
                agencies,
                now,
                write,
                detail=f"month={month:%Y-%m} agency={agency or regency or '*'} file",
                open_month=open_month,
            )
    except ExportError as error:
        print(f"peduli export: {error}", file=err)
        return 2
    print(path, file=out)
    print(f"{summary.rows} rows, {rupiah(summary.total)}", file=err)
    return 0


def bpjs_command(
    since_text: str | None,
    file_format: str,
    output: Path | None,
    *,
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    clock: Callable[[], datetime] | None = None,
    regency: str | None = None,
) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    now = (clock or (lambda: datetime.now(UTC)))()
    try:
        since_day = None
        if since_text is not None:
            since_day = parse_date(since_text)
            if since_day is None:
                raise ExportError(f"--since {since_text!r}: not a date (YYYY-MM-DD)")
        with _Database(settings) as database:
            programme = database.programme
            agencies = None
            if regency is not None:
                # One regency of a deployment of several: its workers only, its dates and zone.
                regency_programme = programme.for_regency(regency)
                if regency_programme is None:
                    raise ExportError(f"--regency {regency!r}: no such regency in the deployment")
                agencies = frozenset(a.code for a in programme.catalog.agencies_of(regency))
                programme = regency_programme
            zone = programme.timezone
            since = datetime.combine(since_day, time(), zone).astimezone(UTC) if since_day else None
            today = now.astimezone(zone).date()
            named = (
                f"bpjs-bpu-{regency}-{today:%Y-%m-%d}" if regency else f"bpjs-bpu-{today:%Y-%m-%d}"
            )
            path = output or Path.cwd() / f"{named}.{file_format}"
            actor = audit.Actor.cli()
            render = Renderer("id")
            with Session(database.engine) as session:
                rows = bpjs_rows(
                    session,
                    database.sealer,
                    actor.scope,
                    today=today,
                    since=since,
                    agencies=agencies,
                )
                if file_format == "csv":

                    def write() -> int:
                        with path.open("w", encoding="utf-8", newline="") as file:
                            return bpjs.write_csv(
                                file, rows, programme=programme.catalog, render=render
                            )

                else:

                    def write() -> int:
                        return bpjs.write_xlsx(
                            str(path), rows, programme=programme.catalog, render=render
                        )

                count = _written(path, write)
            with Session(immediate(database.engine)) as session, session.begin():
                detail = f"full_nik format={file_format} since={since_day or '-'}"
                if regency is not None:
                    detail += f" regency={regency}"
                audit.record(session, actor, BPJS, now, detail=detail, row_count=count)
    except ExportError as error:
        print(f"peduli export: {error}", file=err)
        return 2
    print(path, file=out)
    print(f"{count} rows (full NIKs: keep the file safe)", file=err)
    return 0


def transfers_command(
    month_text: str,
    output: Path | None,
    *,
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    clock: Callable[[], datetime] | None = None,
    open_month: OpenMonth | None = None,
) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    now = (clock or (lambda: datetime.now(UTC)))()
    try:
        month = parse_month(month_text)
        with _Database(settings) as database:
            programme = database.programme
            path = output or Path.cwd() / f"transfer-{month:%Y-%m}.csv"

            def write(rows: Iterator[TransferRow]) -> int:
                def written() -> int:
                    with path.open("w", encoding="utf-8", newline="") as file:
                        return transfers.write_csv(
                            file, rows, programme=programme.catalog, render=Renderer("id")
                        )

                return _written(path, written)

            count, _rows = export_transfers(
                database.engine,
                immediate(database.engine),
                audit.Actor.cli(),
                month,
                now,
                write,
                open_month=open_month,
            )
    except ExportError as error:
        print(f"peduli export: {error}", file=err)
        return 2
    print(path, file=out)
    print(f"{count} rows", file=err)
    return 0


def _deductions_name(month: date, agency: str | None) -> str:
    return f"potongan-{month:%Y-%m}-{agency or 'semua'}.xlsx"


def _written(path: Path, write: Callable[[], T]) -> T:
    """Run a writer, turning a file that cannot be written into ExportError."""
    try:
        return write()
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from None


class _Database:
    """The configured database, checked like every command does (migrated, the right key)."""

    def __init__(self, settings: Settings | None) -> None:
        self.settings = settings

    def __enter__(self) -> _Database:
        settings = self.settings or Settings()
        self.programme: ProgrammeSettings = load_programme(settings.programme_file)
        self.engine = create_db_engine(settings.database_url)
        try:
            problem = not_migrated(self.engine)
            if problem is not None:
                raise ExportError(problem)
            try:
                self.sealer: Sealer = verified_sealer(settings, self.engine)
            except DataKeyError as error:
                shown = shown_url(settings.database_url)
                raise ExportError(f"{error}\n(the database: {shown})") from None
        except BaseException:
            self.engine.dispose()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.engine.dispose()
