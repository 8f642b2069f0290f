"""The treasurers' deduction workbook (XLSX): one sheet per agency, whose salary to cut this month.

Written with bot.exports.xlsx (a streaming writer; XlsxWriter was too slow at 100,000 rows): each
row is compressed into the file as it is written, so the workbook of 100,000 sponsorships costs no
more memory than one of ten. Rows go strictly in order, which the rows' order (by agency) allows:
a sheet is opened when its agency's first row comes and closed with its total row when the next
agency begins.

Sheets: one per agency (NIP, sponsor, amount, worker, masked NIK, consent date and version, first
month, status, when it was marked deducted; no more: at 100,000 rows every column costs about a
second), a total row each; then "Pernyataan": the
text of each consent statement version the rows rely on and its sha256 (the hash of the statement
as each sponsor read it, names and amount filled in, is in their consent record; listing 100,000
of them here would double the workbook's cells). Every text cell goes through cells.neutralize.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, tzinfo
from typing import IO

from bot.exports.cells import neutralize
from bot.exports.xlsx import Sheet, Style, Workbook
from bot.i18n import Renderer, catalog
from bot.storage.exports import DeductionRow
from flows.catalog import Catalog
from flows.text import t

PerAgency = Callable[[str], tuple[Catalog, tzinfo]]
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
    timezone: tzinfo,
    render: Renderer,
    per_agency: PerAgency | None = None,
) -> DeductionSummary:
    """Write the workbook of `month` to a path or a binary file; rows ordered by agency. In a
    deployment of several regencies, `per_agency` gives each agency's regency's catalog (what
    it deducts from) and the agency's time zone; else `programme` and `timezone` hold for all."""
    with Workbook(target) as workbook:
        return _write(workbook, rows, month, (programme, timezone), per_agency, render)


# The styles of a row's ten columns.
ROW_STYLES = (
    Style.PLAIN,
    Style.PLAIN,
    Style.MONEY,
    Style.PLAIN,
    Style.PLAIN,
    Style.DAY,
    Style.PLAIN,
    Style.MONTH,
    Style.PLAIN,
    Style.DAY,
)
TOTAL_STYLES = (Style.BOLD, Style.PLAIN, Style.MONEY_BOLD, Style.PLAIN)


def _write(
    workbook: Workbook,
    rows: Iterable[DeductionRow],
    month: date,
    default: tuple[Catalog, tzinfo],
    per_agency: PerAgency | None,
    render: Renderer,
) -> DeductionSummary:
    programme, timezone = default
    headers = [neutralize(render.plain(t(key))) for key in COLUMNS]
    states: dict[str, str] = {}  # status -> its label, rendered once
    summary = DeductionSummary()
    statements: set[tuple[str, str]] = set()
    sheet: Sheet | None = None
    agency: str | None = None
    count = amount = 0
    used_names: set[str] = set()

    def close_sheet() -> None:
        if sheet is None or agency is None:
            return
        total = neutralize(render.plain(t("export.total")))
        label = neutralize(render.plain(t("export.rows", count=count)))
        sheet.write_row((total, None, amount, label), TOTAL_STYLES)
        summary.per_agency[agency] = (count, amount)

    for row in rows:
        if row.agency_code != agency:
            close_sheet()
            agency, count, amount = row.agency_code, 0, 0
            sheet = workbook.add_sheet(_sheet_name(row.agency_code, used_names), WIDTHS)
            if per_agency is not None:
                programme, timezone = per_agency(row.agency_code)
            found = programme.agency(row.agency_code)
            title = render.plain(
                t(
                    "export.deductions_title",
                    agency=found.name if found else row.agency_code,
                    month=f"{month.year:04d}-{month.month:02d}",
                    deducted_from=t(f"deducted_from.{programme.deducted_from}"),
                )
            )
            sheet.write_row((neutralize(title),), Style.BOLD)
            sheet.write_row(headers, Style.BOLD, at=2)
        assert sheet is not None
        count += 1
        amount += row.amount
        state = states.get(row.status)
        if state is None:
            state = states[row.status] = neutralize(render.plain(t(f"status.state.{row.status}")))
        # Dates are written as Excel serial numbers with a date format.
        consent_at, first_month, deducted_at = row.consent_at, row.first_month, row.deducted_at
        sheet.write_row(
            (
                neutralize(row.nip),
                neutralize(row.sponsor_name),
                row.amount,
                neutralize(row.worker_name),
                neutralize(row.nik_masked),
                None if consent_at is None else _serial(consent_at.astimezone(timezone).date()),
                neutralize(row.consent_version),
                None if first_month is None else _serial(first_month),
                state,
                None if deducted_at is None else _serial(deducted_at.astimezone(timezone).date()),
            ),
            ROW_STYLES,
        )
        if deducted_at is None:
            summary.unmarked += 1
        if row.consent_key:
            statements.add((row.consent_key, row.consent_version))
    close_sheet()
    summary.rows = sum(number for number, _rupiah in summary.per_agency.values())
    summary.total = sum(rupiah for _number, rupiah in summary.per_agency.values())
    if sheet is None:  # nothing to deduct: still a workbook that says so
        empty = workbook.add_sheet(_sheet_name(render.plain(t("export.sheet_empty")), set()))
        empty.write_row((neutralize(render.plain(t("export.nothing", month=str(month)))),))
    _statements_sheet(workbook, render, statements)
    return summary


def _statements_sheet(
    workbook: Workbook,
    render: Renderer,
    statements: set[tuple[str, str]],
) -> None:
    """Each statement version the rows rely on: its text as the locale holds it (placeholders
    such as {amount} filled per person) and the sha256 of that text. The hash of the statement
    as each sponsor read it is in that sponsor's consent record."""
    name = render.plain(t("export.sheet_statements"))[:SHEET_NAME_LIMIT]
    sheet = workbook.add_sheet(name, (28, 14, 80, 66))
    templates = catalog("id")
    sheet.write_row((neutralize(render.plain(t("export.statements_intro"))),), Style.BOLD)
    headers = (
        "export.col.statement_key",
        "export.col.consent_version",
        "export.col.statement_text",
        "export.col.statement_hash",
    )
    sheet.write_row([neutralize(render.plain(t(key))) for key in headers], Style.BOLD, at=2)
    for key, version in sorted(statements):
        text = templates.get(key, "")
        sheet.write_row(
            (
                neutralize(key),
                neutralize(version),
                neutralize(text),
                hashlib.sha256(text.encode("utf-8")).hexdigest(),
            )
        )


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
