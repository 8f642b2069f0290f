"""Coverage activation from BPJS results: the CSV file operators import with
`peduli coverage import FILE.csv [--dry-run]`.

Columns (header row, any order, case-insensitive; comma or semicolon separated; UTF-8, an Excel
BOM is fine): `reference` or `nik` (exactly one of them filled per row), `kpj` (the BPJS
membership number, 8 to 16 digits, usually 11), `start_date` (YYYY-MM-DD, DD/MM/YYYY or
DD-MM-YYYY; any form flows.validators.parse_date reads). Digits of any script count as ASCII.

The whole file is read before anything is written. A file that cannot be read as CSV is refused
whole (CoverageFileError, exit status 2): a cell longer than the csv module's limit (128 KiB), a
quote left open (the quoted cell would swallow the following lines: any cell holding a line break
is taken as that, since no column can hold one), a quote in the middle of a quoted cell.
An invalid row is reported with every problem it has. Every cell echoed in the report is made
safe for a terminal: control characters (ANSI escapes, BEL, NUL, bidi overrides) are shown as
escapes such as \\x1b and long values are cut.

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
from datetime import date
from pathlib import Path
from typing import Literal

from bot.storage.audit import Actor
from bot.storage.repository import Repository, mask_kpj
from flows.commands import ActivateCoverage, Applied, Refused
from flows.statuses import SponsorshipStatus
from flows.validators import parse_date
from flows.validators._common import digits_of_length
from flows.validators.kpj import check_kpj
from flows.validators.masking import mask_nik

REFERENCE_COLUMN = "reference"
NIK_COLUMN = "nik"
KPJ_COLUMN = "kpj"
START_COLUMN = "start_date"
NIK_DIGITS = 16
#: A reference as the bot makes them ("PR-7K3QX9"), with room to spare.
_REFERENCE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")
#: How much of a cell the report shows.
SHOWN_MAX = 40

__all__ = ["CoverageFileError", "ImportReport", "import_coverage", "parse_date", "read_rows"]

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
        heading = f"Coverage import of {shown(source, 200)}"
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


def shown(value: str, limit: int = SHOWN_MAX) -> str:
    """`value` safe to print on a terminal: every character that is not printable (controls such
    as ESC, BEL and NUL, format characters such as bidi overrides, line breaks) as an escape
    ("\\x1b"), and at most `limit` characters of it followed by its length."""
    safe = "".join(char if char.isprintable() else _escape(char) for char in value[:limit])
    if len(value) > limit:
        safe += f"... ({len(value)} characters)"
    return safe


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def read_rows(text: str) -> Iterator[CoverageRow | RowProblem]:
    """The file's lines as valid rows or "invalid" problems, in order; blank lines skipped.

    Raises CoverageFileError as soon as the text cannot be read as CSV (see the module
    docstring): callers read every row before they write anything."""
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter, strict=True)
    rows = _records(reader)
    try:
        _start, header = next(rows)
    except StopIteration:
        raise CoverageFileError("the file is empty") from None
    columns = {name.strip().lower(): index for index, name in enumerate(header)}
    missing = [name for name in (KPJ_COLUMN, START_COLUMN) if name not in columns]
    if REFERENCE_COLUMN not in columns and NIK_COLUMN not in columns:
        missing.insert(0, f"{REFERENCE_COLUMN} or {NIK_COLUMN}")
    if missing:
        raise CoverageFileError(f"missing column(s): {', '.join(shown(m) for m in missing)}")
    for line, cells in rows:
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


def _records(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each record; CoverageFileError for what csv cannot read and for a
    record over several lines (a quote left open swallows the lines after it)."""
    line_num = 0
    while True:
        start = line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise CoverageFileError(_csv_problem(start, error)) from None
        line_num = reader.line_num  # type: ignore[attr-defined]
        if any("\n" in cell or "\r" in cell for cell in cells):
            raise CoverageFileError(
                f"line {start}: a quoted cell runs over lines {start} to {line_num}"
                " (a quote left open?); nothing was imported"
            )
        yield start, cells


def _csv_problem(line: int, error: csv.Error) -> str:
    message = str(error)
    if "field larger than field limit" in message:
        return (
            f"line {line}: a cell is longer than {csv.field_size_limit()} characters"
            " (not a BPJS result file?); nothing was imported"
        )
    if "unexpected end of data" in message:
        return f"line {line}: a quote is never closed; nothing was imported"
    return f"line {line}: not readable as CSV ({shown(message, 80)}); nothing was imported"


def _row(
    line: int, reference: str, nik_text: str, kpj_text: str, start_text: str
) -> CoverageRow | RowProblem:
    """The row, or one problem naming everything wrong with it."""
    reasons: list[str] = []
    nik: str | None = None
    subject = shown(reference.upper())
    if reference and not _REFERENCE.fullmatch(reference.upper()):
        reasons.append("reference is not a reference code such as PR-7K3QX9")
    if nik_text:
        nik = digits_of_length(nik_text, NIK_DIGITS)
        if nik is None:
            reasons.append("nik must be 16 digits")
        elif not reference:
            subject = f"NIK {mask_nik(nik)}"
    if bool(reference) == bool(nik_text):
        reasons.append("give either reference or nik, exactly one")
    kpj = check_kpj(kpj_text)
    if kpj is None:
        reasons.append("kpj must be 8 to 16 digits")
    start = parse_date(start_text)
    if start is None:
        reasons.append(
            f"start_date '{shown(start_text)}' is not a date (YYYY-MM-DD, DD/MM/YYYY or DD-MM-YYYY)"
        )
    if reasons or kpj is None or start is None:
        return RowProblem(line, "invalid", subject, "; ".join(reasons))
    return CoverageRow(line, reference.upper() or None, nik, kpj, start)


IMPORT_ACTION = "coverage.import"


def import_coverage(repository: Repository, text: str, *, dry_run: bool = False) -> ImportReport:
    """Apply the file's rows (see the module docstring); raises CoverageFileError when the file
    cannot be read at all."""
    report = ImportReport(dry_run=dry_run)
    done: dict[str, str] = {}  # reference -> KPJ activated by an earlier row of this file
    items = list(read_rows(text))  # the whole file is read before anything is written
    for item in items:
        if isinstance(item, RowProblem):
            report.add("invalid", item)
            continue
        _import_row(repository, item, done, report, dry_run)
    if not dry_run:
        counts = ", ".join(f"{name} {count}" for name, count in report.counts.items())
        repository.record_audit(
            Actor.cli(), IMPORT_ACTION, detail=counts, row_count=report.counts["activated"]
        )
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
    if status == SponsorshipStatus.WAITING_WORKER:
        return "still waiting for the worker's consent"
    if status == SponsorshipStatus.ACTIVE:
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
