"""Coverage activation from BPJS results: the CSV file operators import with
`peduli coverage import FILE.csv [--dry-run]`.

Columns (header row, any order, case-insensitive; comma or semicolon separated; UTF-8, an Excel
BOM is fine): `reference` or `nik` (exactly one of them filled per row), `kpj` (the BPJS
membership number, 8 to 16 digits, usually 11), `start_date` (YYYY-MM-DD, DD/MM/YYYY or
DD-MM-YYYY).

Every row ends in one of: activated (or "would activate" in a dry run), already active (the same
KPJ number: a repeated import changes nothing and sends nothing), unmatched (no open sponsorship
with that reference or NIK), refused (e.g. still waiting for the worker's consent, or active with
another KPJ number), invalid (bad columns, NIK, KPJ or date). Each row is its own transaction;
a dry run rolls every one back. NIKs and KPJ numbers appear in the report masked only.

No framework is imported here: the command starts fast and never needs aiogram.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from bot.storage.repository import Repository, mask_kpj
from flows.commands import ActivateCoverage, Applied, Refused
from flows.validators.masking import mask_nik

REFERENCE_COLUMN = "reference"
NIK_COLUMN = "nik"
KPJ_COLUMN = "kpj"
START_COLUMN = "start_date"
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y")
_KPJ = re.compile(r"^[0-9]{8,16}$")
_NIK_SEPARATORS = re.compile(r"[\s.\-]+")

Result = Literal["activated", "already_active", "unmatched", "refused", "invalid"]


class CoverageFileError(ValueError):
    """The file cannot be imported at all (unreadable, or a required column is missing)."""


@dataclass(frozen=True)
class CoverageRow:
    """One valid line of the file; nik is 16 digits (never printed), reference upper case."""

    line: int
    reference: str | None
    nik: str | None
    kpj: str
    start: date

    @property
    def shown(self) -> str:
        """How the report names the row: the reference, or the NIK masked."""
        if self.reference is not None:
            return self.reference
        return f"NIK {mask_nik(self.nik or '')}"


@dataclass(frozen=True)
class RowProblem:
    line: int
    result: Result
    subject: str  # the reference or the masked NIK; "" when the row could not be read
    reason: str

    def render(self) -> str:
        label = self.result.replace("_", " ")
        subject = f" {self.subject}" if self.subject else ""
        return f"line {self.line}: {label}{subject}: {self.reason}"


@dataclass
class ImportReport:
    dry_run: bool
    counts: dict[Result, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("activated", "already_active", "unmatched", "refused", "invalid"), 0
        )
    )
    problems: list[RowProblem] = field(default_factory=list)

    def add(self, result: Result, problem: RowProblem | None = None) -> None:
        self.counts[result] += 1
        if problem is not None:
            self.problems.append(problem)

    @property
    def exit_code(self) -> int:
        """0 when every row could be read, 1 when any row is invalid."""
        return 1 if self.counts["invalid"] else 0

    def render(self, source: str) -> str:
        heading = f"Coverage import of {source}"
        if self.dry_run:
            heading += " (dry run: nothing was written)"
        activated = "would activate" if self.dry_run else "activated"
        lines = [
            heading,
            f"  {activated + ':':<16}{self.counts['activated']}",
            f"  {'already active:':<16}{self.counts['already_active']}",
            f"  {'unmatched:':<16}{self.counts['unmatched']}",
            f"  {'refused:':<16}{self.counts['refused']}",
            f"  {'invalid:':<16}{self.counts['invalid']}",
        ]
        if self.problems:
            lines.append("Problems:")
            lines.extend(f"  {problem.render()}" for problem in self.problems)
        return "\n".join(lines) + "\n"


def parse_date(value: str) -> date | None:
    text = value.strip()
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def read_rows(text: str) -> Iterator[CoverageRow | RowProblem]:
    """The file's lines as valid rows or "invalid" problems, in order; blank lines skipped."""
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise CoverageFileError("the file is empty") from None
    columns = {name.strip().lower(): index for index, name in enumerate(header)}
    missing = [name for name in (KPJ_COLUMN, START_COLUMN) if name not in columns]
    if REFERENCE_COLUMN not in columns and NIK_COLUMN not in columns:
        missing.insert(0, f"{REFERENCE_COLUMN} or {NIK_COLUMN}")
    if missing:
        raise CoverageFileError(f"missing column(s): {', '.join(missing)}")
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            yield RowProblem(line, "invalid", "", "more cells than columns in the header")
            continue

        def cell(name: str, cells: list[str] = cells) -> str:
            index = columns.get(name)
            return cells[index].strip() if index is not None and index < len(cells) else ""

        yield _row(
            line, cell(REFERENCE_COLUMN), cell(NIK_COLUMN), cell(KPJ_COLUMN), cell(START_COLUMN)
        )


def _row(
    line: int, reference: str, nik_text: str, kpj: str, start_text: str
) -> CoverageRow | RowProblem:
    nik: str | None = None
    subject = reference.upper()
    if nik_text:
        nik = _NIK_SEPARATORS.sub("", nik_text)
        if not (len(nik) == 16 and nik.isascii() and nik.isdigit()):
            return RowProblem(line, "invalid", "", "nik must be 16 digits")
        subject = subject or f"NIK {mask_nik(nik)}"
    if bool(reference) == bool(nik_text):
        return RowProblem(line, "invalid", subject, "give either reference or nik, exactly one")
    if not _KPJ.match(kpj):
        return RowProblem(line, "invalid", subject, "kpj must be 8 to 16 digits")
    start = parse_date(start_text)
    if start is None:
        return RowProblem(
            line,
            "invalid",
            subject,
            f"start_date {start_text!r} is not a date (YYYY-MM-DD, DD/MM/YYYY or DD-MM-YYYY)",
        )
    return CoverageRow(line, reference.upper() or None, nik, kpj, start)


def import_coverage(repository: Repository, text: str, *, dry_run: bool = False) -> ImportReport:
    """Apply the file's rows (see the module docstring); raises CoverageFileError when the file
    cannot be read at all."""
    report = ImportReport(dry_run=dry_run)
    done: dict[str, str] = {}  # reference -> KPJ activated by an earlier row of this file
    for item in read_rows(text):
        if isinstance(item, RowProblem):
            report.add("invalid", item)
            continue
        _import_row(repository, item, done, report, dry_run)
    return report


def _import_row(
    repository: Repository,
    row: CoverageRow,
    done: dict[str, str],
    report: ImportReport,
    dry_run: bool,
) -> None:
    reference = row.reference
    if reference is None:
        reference = repository.reference_for_nik(row.nik or "")
        if reference is None:
            report.add(
                "unmatched",
                RowProblem(row.line, "unmatched", row.shown, "no open sponsorship with this NIK"),
            )
            return
    shown = row.shown if row.reference is not None else f"{row.shown} ({reference})"
    if reference in done:
        if done[reference] == row.kpj:
            report.add("already_active")
        else:
            report.add(
                "refused",
                RowProblem(
                    row.line,
                    "refused",
                    shown,
                    "another KPJ number for this sponsorship earlier in the file",
                ),
            )
        return
    check = repository.coverage_check(reference, row.kpj)
    if check is None:
        report.add(
            "unmatched",
            RowProblem(row.line, "unmatched", shown, "no sponsorship with this reference"),
        )
        return
    if check.same_kpj:
        report.add("already_active")
        return
    command = ActivateCoverage(
        reference=reference, kpj_number=row.kpj, coverage_start=row.start, actor_user_id=None
    )
    [outcome] = repository.apply(None, [command], dry_run=dry_run)
    if isinstance(outcome, Applied):
        done[reference] = row.kpj
        report.add("activated")
        return
    reason = outcome.reason if isinstance(outcome, Refused) else type(outcome).__name__
    if reason == "unknown_reference":
        report.add(
            "unmatched",
            RowProblem(row.line, "unmatched", shown, "no sponsorship with this reference"),
        )
        return
    report.add("refused", RowProblem(row.line, "refused", shown, _refusal(check.status, row.kpj)))


def _refusal(status: str, kpj: str) -> str:
    if status == "waiting_worker":
        return "still waiting for the worker's consent"
    if status == "active":
        return f"already active with another KPJ number (not {mask_kpj(kpj)})"
    return f"the sponsorship is {status.replace('_', ' ')}"


def import_file(repository: Repository, path: Path, *, dry_run: bool = False) -> ImportReport:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise CoverageFileError(f"{path} is not UTF-8 text (save the CSV as UTF-8)") from error
    except OSError as error:
        raise CoverageFileError(f"cannot read {path}: {error.strerror or error}") from error
    return import_coverage(repository, text, dry_run=dry_run)
