"""The treasurers' deduction workbook (XLSX): one sheet per agency, whose salary to cut this month.

XlsxWriter in constant-memory mode: each row is flushed to disk as it is written, so the workbook
of 100,000 sponsorships costs no more memory than one of ten. That mode writes rows strictly in
order, which the rows' order (by agency) allows: a sheet is opened when its agency's first row
comes and closed with its total row when the next agency begins.

Sheets: one per agency (NIP, sponsor, amount, worker, masked NIK, consent date and version, first
month, status, when it was marked deducted; no more: at 100,000 rows every column costs about a
second), a total row each; then "Pernyataan": the
text of each consent statement version the rows rely on and its sha256 (the hash of the statement
as each sponsor read it, names and amount filled in, is in their consent record; listing 100,000
of them here would double the workbook's cells). Every text cell goes through cells.neutralize.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any
from zoneinfo import ZoneInfo

from bot.exports.cells import neutralize
from bot.i18n import Renderer, catalog
from bot.storage.exports import DeductionRow
from flows.catalog import Catalog
from flows.text import t

SHEET_NAME_LIMIT = 31  # characters, Excel
_SHEET_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})
COLUMNS = (
    "export.col.nip",
    "export.col.sponsor",
    "export.col.amount",
    "export.col.worker",
    "export.col.nik",
    "export.col.consent_date",
    "export.col.consent_version",
    "export.col.first_month",
    "export.col.status",
    "export.col.deducted",
)
WIDTHS = (22, 30, 12, 30, 20, 14, 14, 14, 30, 14)


@dataclass
class DeductionSummary:
    """What was written: rows and rupiah, in all and per agency."""

    rows: int = 0
    total: int = 0
    unmarked: int = 0  # rows not marked deducted yet (the /rekap mark button names them)
    per_agency: dict[str, tuple[int, int]] = field(default_factory=dict)


def write_deductions(
    target: str | IO[bytes],
    rows: Iterable[DeductionRow],
    *,
    month: date,
    programme: Catalog,
    timezone: ZoneInfo,
    render: Renderer,
) -> DeductionSummary:
    """Write the workbook of `month` to a path or a binary file; rows ordered by agency."""
    # Loaded here, not at import: the bot's start-up does not pay for it (a test checks).
    import xlsxwriter  # type: ignore[import-untyped]

    workbook = xlsxwriter.Workbook(target, {"constant_memory": True})
    try:
        return _write(workbook, rows, month, programme, timezone, render)
    finally:
        workbook.close()


def _write(
    workbook: Any,
    rows: Iterable[DeductionRow],
    month: date,
    programme: Catalog,
    timezone: ZoneInfo,
    render: Renderer,
) -> DeductionSummary:
    bold = workbook.add_format({"bold": True})
    money = workbook.add_format({"num_format": "#,##0"})
    money_bold = workbook.add_format({"num_format": "#,##0", "bold": True})
    day = workbook.add_format({"num_format": "yyyy-mm-dd"})
    month_format = workbook.add_format({"num_format": "yyyy-mm"})
    headers = [render.plain(t(key)) for key in COLUMNS]
    states: dict[str, str] = {}  # status -> its label, rendered once
    summary = DeductionSummary()
    statements: set[tuple[str, str]] = set()
    sheet: Any = None
    agency: str | None = None
    line = 0
    count = amount = 0
    used_names: set[str] = set()

    def close_sheet() -> None:
        if sheet is None or agency is None:
            return
        sheet.write_string(line + 1, 0, neutralize(render.plain(t("export.total"))), bold)
        sheet.write_number(line + 1, 2, amount, money_bold)
        sheet.write_string(line + 1, 3, neutralize(render.plain(t("export.rows", count=count))))
        summary.per_agency[agency] = (count, amount)

    for row in rows:
        if row.agency_code != agency:
            close_sheet()
            agency, count, amount = row.agency_code, 0, 0
            sheet = workbook.add_worksheet(_sheet_name(row.agency_code, used_names))
            found = programme.agency(row.agency_code)
            title = render.plain(
                t(
                    "export.deductions_title",
                    agency=found.name if found else row.agency_code,
                    month=f"{month.year:04d}-{month.month:02d}",
                )
            )
            sheet.write_string(0, 0, neutralize(title), bold)
            for column, (header, width) in enumerate(zip(headers, WIDTHS, strict=True)):
                sheet.set_column(column, column, width)
                sheet.write_string(2, column, neutralize(header), bold)
            line = 2
        line += 1
        count += 1
        amount += row.amount
        # Dates are written as Excel serial numbers with a date format: what write_datetime
        # does, without its per-cell conversion (a third of the time at 100,000 rows).
        sheet.write_string(line, 0, neutralize(row.nip))
        sheet.write_string(line, 1, neutralize(row.sponsor_name))
        sheet.write_number(line, 2, row.amount, money)
        sheet.write_string(line, 3, neutralize(row.worker_name))
        sheet.write_string(line, 4, neutralize(row.nik_masked))
        if row.consent_at is not None:
            sheet.write_number(line, 5, _serial(row.consent_at.astimezone(timezone).date()), day)
        sheet.write_string(line, 6, neutralize(row.consent_version))
        if row.first_month is not None:
            sheet.write_number(line, 7, _serial(row.first_month), month_format)
        state = states.get(row.status)
        if state is None:
            state = states[row.status] = neutralize(render.plain(t(f"status.state.{row.status}")))
        sheet.write_string(line, 8, state)
        if row.deducted_at is None:
            summary.unmarked += 1
        else:
            sheet.write_number(line, 9, _serial(row.deducted_at.astimezone(timezone).date()), day)
        if row.consent_key:
            statements.add((row.consent_key, row.consent_version))
    close_sheet()
    summary.rows = sum(number for number, _rupiah in summary.per_agency.values())
    summary.total = sum(rupiah for _number, rupiah in summary.per_agency.values())
    if sheet is None:  # nothing to deduct: still a workbook that says so
        empty = workbook.add_worksheet(_sheet_name(render.plain(t("export.sheet_empty")), set()))
        empty.write_string(0, 0, neutralize(render.plain(t("export.nothing", month=str(month)))))
    _statements_sheet(workbook, render, statements, bold)
    return summary


def _statements_sheet(
    workbook: Any,
    render: Renderer,
    statements: set[tuple[str, str]],
    bold: Any,
) -> None:
    """Each statement version the rows rely on: its text as the locale holds it (placeholders
    such as {amount} filled per person) and the sha256 of that text. The hash of the statement
    as each sponsor read it is in that sponsor's consent record."""
    sheet = workbook.add_worksheet(render.plain(t("export.sheet_statements"))[:SHEET_NAME_LIMIT])
    sheet.set_column(0, 0, 28)
    sheet.set_column(1, 1, 14)
    sheet.set_column(2, 2, 80)
    sheet.set_column(3, 3, 66)
    templates = catalog("id")
    sheet.write_string(0, 0, neutralize(render.plain(t("export.statements_intro"))), bold)
    for column, header_key in enumerate(
        (
            "export.col.statement_key",
            "export.col.consent_version",
            "export.col.statement_text",
            "export.col.statement_hash",
        )
    ):
        sheet.write_string(2, column, neutralize(render.plain(t(header_key))), bold)
    for line, (key, version) in enumerate(sorted(statements), start=3):
        text = templates.get(key, "")
        sheet.write_string(line, 0, neutralize(key))
        sheet.write_string(line, 1, neutralize(version))
        sheet.write_string(line, 2, neutralize(text))
        sheet.write_string(line, 3, hashlib.sha256(text.encode("utf-8")).hexdigest())


EXCEL_EPOCH = date(1899, 12, 30)


def _serial(day: date) -> int:
    """A date as Excel's serial day number (the 1900 date system)."""
    return (day - EXCEL_EPOCH).days


def _sheet_name(code: str, used: set[str]) -> str:
    """An agency code as a sheet name Excel accepts: no []:*?/\\, at most 31 characters, unique
    (case-insensitively), not starting or ending with an apostrophe."""
    base = code.translate(_SHEET_FORBIDDEN).strip("'")[:SHEET_NAME_LIMIT] or "_"
    name, number = base, 1
    while name.lower() in used:
        number += 1
        suffix = f"~{number}"
        name = base[: SHEET_NAME_LIMIT - len(suffix)] + suffix
    used.add(name.lower())
    return name
