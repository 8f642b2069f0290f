"""The treasurers' deduction workbook (XLSX): one sheet per agency, whose salary to cut this month.

XlsxWriter in constant-memory mode: each row is flushed to disk as it is written, so the workbook
of 100,000 sponsorships costs no more memory than one of ten. That mode writes rows strictly in
order, which the rows' order (by agency) allows: a sheet is opened when its agency's first row
comes and closed with its total row when the next agency begins.

Sheets: one per agency (NIP, sponsor, amount, worker, masked NIK, consent date and version, first
month, status, when it was marked deducted), a total row each; then "Pernyataan": the text of each
consent statement version the rows rely on, and for every row the sha256 of the statement as the
sponsor read it (the consent record's proof). Every text cell goes through cells.neutralize.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

import xlsxwriter  # type: ignore[import-untyped]  # no stubs; used through Any

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
    "export.col.reference",
)
WIDTHS = (22, 30, 12, 30, 20, 14, 14, 14, 30, 14, 12)


@dataclass
class DeductionSummary:
    """What was written: rows and rupiah, in all and per agency."""

    rows: int = 0
    total: int = 0
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
    summary = DeductionSummary()
    statements: set[tuple[str, str]] = set()
    hashes: list[tuple[str, str, str, str]] = []  # agency, reference, version, hash
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
                    month=month.strftime("%Y-%m"),
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
        summary.rows += 1
        summary.total += row.amount
        sheet.write_string(line, 0, neutralize(row.nip))
        sheet.write_string(line, 1, neutralize(row.sponsor_name))
        sheet.write_number(line, 2, row.amount, money)
        sheet.write_string(line, 3, neutralize(row.worker_name))
        sheet.write_string(line, 4, neutralize(row.nik_masked))
        if row.consent_at is not None:
            local = row.consent_at.astimezone(timezone).replace(tzinfo=None)
            sheet.write_datetime(line, 5, local, day)
        sheet.write_string(line, 6, neutralize(row.consent_version))
        if row.first_month is not None:
            sheet.write_datetime(line, 7, _midnight(row.first_month), month_format)
        state = render.plain(t(f"status.state.{row.status}"))
        sheet.write_string(line, 8, neutralize(state))
        if row.deducted_at is not None:
            local = row.deducted_at.astimezone(timezone).replace(tzinfo=None)
            sheet.write_datetime(line, 9, local, day)
        sheet.write_string(line, 10, neutralize(row.reference))
        if row.consent_key:
            statements.add((row.consent_key, row.consent_version))
            hashes.append((row.agency_code, row.reference, row.consent_version, row.consent_hash))
    close_sheet()
    if sheet is None:  # nothing to deduct: still a workbook that says so
        empty = workbook.add_worksheet(_sheet_name(render.plain(t("export.sheet_empty")), set()))
        empty.write_string(0, 0, neutralize(render.plain(t("export.nothing", month=str(month)))))
    _statements_sheet(workbook, render, statements, hashes, bold)
    return summary


def _statements_sheet(
    workbook: Any,
    render: Renderer,
    statements: set[tuple[str, str]],
    hashes: list[tuple[str, str, str, str]],
    bold: Any,
) -> None:
    sheet = workbook.add_worksheet(render.plain(t("export.sheet_statements"))[:SHEET_NAME_LIMIT])
    sheet.set_column(0, 0, 28)
    sheet.set_column(1, 1, 14)
    sheet.set_column(2, 2, 80)
    templates = catalog("id")
    sheet.write_string(0, 0, neutralize(render.plain(t("export.statements_intro"))), bold)
    line = 2
    for header_key, column in (
        ("export.col.statement_key", 0),
        ("export.col.consent_version", 1),
        ("export.col.statement_text", 2),
    ):
        sheet.write_string(line, column, neutralize(render.plain(t(header_key))), bold)
    for key, version in sorted(statements):
        line += 1
        sheet.write_string(line, 0, neutralize(key))
        sheet.write_string(line, 1, neutralize(version))
        sheet.write_string(line, 2, neutralize(templates.get(key, "")))
    line += 2
    for header_key, column in (
        ("export.col.agency", 0),
        ("export.col.reference", 1),
        ("export.col.consent_version", 2),
        ("export.col.statement_hash", 3),
    ):
        sheet.write_string(line, column, neutralize(render.plain(t(header_key))), bold)
    for agency, reference, version, digest in hashes:
        line += 1
        sheet.write_string(line, 0, neutralize(agency))
        sheet.write_string(line, 1, neutralize(reference))
        sheet.write_string(line, 2, neutralize(version))
        sheet.write_string(line, 3, neutralize(digest))


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


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
