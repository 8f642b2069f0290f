"""A small streaming XLSX writer: the exports' rows straight into the sheet XML of a zip file.

Why not XlsxWriter (which the statistics workbook still uses for its chart): its per-cell Python
overhead. At 100,000 sponsorships (1,000,000 cells) the deduction workbook took 17.5 CPU s and the
BPJS list 18.4 CPU s through XlsxWriter's constant-memory mode, of which a bare loop of 1,000,000
`write_string` calls alone was ~12 s; issue 8 asks for < 10 s. This writer formats a whole row as
one string (one f-string per cell, no objects per cell) and streams it through
`zipfile.ZipFile.open(name, "w")`, so memory stays flat whatever the row count.

What it writes is only what the exports need: text as inline strings, numbers, dates as serial
day numbers, a handful of cell styles (bold, `#,##0`, `yyyy-mm-dd`, `yyyy-mm`), column widths,
and several sheets written one after the other (a sheet is finished when the next one is added).
Text is escaped as XlsxWriter does it, so a reader sees the same cells: & < > as entities, the
control characters XML 1.0 forbids (and a carriage return, which XML readers would turn into a
line feed) as Excel's `_xHHHH_`, a literal `_xHHHH_` with its underscore escaped (`_x005F_`).
"""

from __future__ import annotations

import contextlib
import math
import re
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from enum import IntEnum
from typing import IO

Value = str | int | float | date | None
"""A cell: text, a number, a date (needs a date style), or None / "" for no cell."""

SHEET_NAME_LIMIT = 31  # characters, Excel
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
MAX_ROWS = 1_048_576  # Excel's limit
MAX_COLUMNS = 16_384
FLUSH_ROWS = 500
"""Rows formatted before they are compressed and written: one zlib call per batch, not per row."""
EXCEL_EPOCH = date(1899, 12, 30)
_MAX_DIGIT_WIDTH, _PADDING = 7, 5  # Calibri 11 pixels, as Excel (and XlsxWriter) convert widths


class Style(IntEnum):
    """The cell styles this writer knows: an index into styles.xml's cellXfs."""

    PLAIN = 0
    BOLD = 1
    MONEY = 2  # #,##0
    MONEY_BOLD = 3
    DAY = 4  # yyyy-mm-dd
    MONTH = 5  # yyyy-mm


# Anything a cell's text needs escaped: XML's & < >, the control characters XML 1.0 forbids
# (and \r), the two non-characters, lone surrogates (not encodable), and a literal _xHHHH_.
_SPECIAL = re.compile("[&<>\x00-\x08\x0b-\x1f\ufffe\uffff\ud800-\udfff]|_x[0-9a-fA-F]{4}_")
_LITERAL_ESCAPE = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def escape_text(text: str) -> str:
    """`text` as the content of an XML element of a cell, escaped the way Excel reads it back."""
    if _SPECIAL.search(text) is None:
        return text
    text = _LITERAL_ESCAPE.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda match: f"_x{ord(match.group()):04X}_", text)
    text = _SURROGATE.sub("\ufffd", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(text: str) -> str:
    return escape_text(text).replace('"', "&quot;")


def column_letters(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def serial(day: date) -> int:
    """A date as Excel's serial day number (the 1900 date system)."""
    if isinstance(day, datetime):
        day = day.date()
    return (day - EXCEL_EPOCH).days


class Sheet:
    """One worksheet being written: rows strictly top to bottom."""

    def __init__(self, handle: IO[bytes], widths: Sequence[float]) -> None:
        self._handle = handle
        self._next = 0  # the 0-based index of the next row
        self._pending: list[str] = []
        self._cache: dict[int, tuple[Sequence[Style] | Style, list[str]]] = {}
        header = [
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="'
            'http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="'
            'http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        ]
        if widths:
            header.append("<cols>")
            for column, width in enumerate(widths, start=1):
                header.append(
                    f'<col min="{column}" max="{column}" width="{_excel_width(width)}"'
                    ' customWidth="1"/>'
                )
            header.append("</cols>")
        header.append("<sheetData>")
        self._pending.append("".join(header))

    @property
    def next_row(self) -> int:
        """The 0-based index of the row the next write_row writes by default."""
        return self._next

    def write_row(
        self,
        values: Sequence[Value],
        styles: Sequence[Style] | Style = Style.PLAIN,
        *,
        at: int = -1,
    ) -> None:
        """Write a row at `at` (0-based; default the next row; rows skipped stay empty).
        `styles`: one for every cell, or one per column. None and "" write no cell."""
        row = self._next if at < 0 else at
        if row < self._next:
            raise ValueError(f"row {row} comes before row {self._next}: rows go top to bottom")
        if row >= MAX_ROWS:
            raise ValueError(f"row {row} is past Excel's last row")
        self._next = row + 1
        number = str(row + 1)
        starts = self._starts(styles, len(values))
        cells = [f'<row r="{number}">']
        append = cells.append
        search = _SPECIAL.search
        for column, value in enumerate(values):
            # Text first: nine cells in ten are text.
            if value.__class__ is str:
                if not value:
                    continue
                if search(value) is not None:
                    value = escape_text(value)
                append(
                    f'{starts[column]}{number}" t="inlineStr"><is><t xml:space="preserve">'
                    f"{value}</t></is></c>"
                )
            elif value is None:
                continue
            elif isinstance(value, bool):
                raise TypeError(f"a cell cannot hold a bool: {value!r}")
            elif isinstance(value, int):
                append(f'{starts[column]}{number}"><v>{value}</v></c>')
            elif isinstance(value, float):
                if not math.isfinite(value):
                    raise ValueError(f"{value!r} is not a number a spreadsheet can hold")
                append(f'{starts[column]}{number}"><v>{value!r}</v></c>')
            elif isinstance(value, date):
                append(f'{starts[column]}{number}"><v>{serial(value)}</v></c>')
            else:
                raise TypeError(f"a cell cannot hold {type(value).__name__}: {value!r}")
        cells.append("</row>")
        self._pending.append("".join(cells))
        if len(self._pending) >= FLUSH_ROWS:
            self._flush()

    def _starts(self, styles: Sequence[Style] | Style, columns: int) -> list[str]:
        """Each column's `<c s="…" r="X` (the row number follows) for these styles: built once
        per styles object (rows share their caller's constant tuple), not once per row."""
        cached = self._cache.get(id(styles))
        if cached is not None and cached[0] is styles and len(cached[1]) >= columns:
            return cached[1]
        if columns > MAX_COLUMNS:
            raise ValueError(f"{columns} columns: Excel has {MAX_COLUMNS}")
        width = max(columns, 16)
        if isinstance(styles, Style):
            every = [styles] * width
        else:
            every = [*styles, *[Style.PLAIN] * (width - len(styles))]
        starts = [
            f'<c s="{style.value}" r="{letters}' if style else f'<c r="{letters}'
            for letters, style in zip(map(column_letters, range(width)), every, strict=False)
        ]
        if len(self._cache) > 32:  # a caller building its styles anew for every row
            self._cache.clear()
        self._cache[id(styles)] = (styles, starts)  # the reference keeps the id from reuse
        return starts

    def _flush(self) -> None:
        self._handle.write("".join(self._pending).encode("utf-8"))
        self._pending.clear()

    def close(self) -> None:
        self._pending.append("</sheetData></worksheet>")
        self._flush()
        self._handle.close()


class Workbook:
    """An XLSX file written as it goes: add_sheet, write its rows, add the next, close.

    `target`: a path or a binary file (seekable or not). Use it as a context manager: the
    workbook is finished (workbook part, styles, content types) when it closes."""

    def __init__(self, target: str | IO[bytes], *, compresslevel: int = 1) -> None:
        # Deflate level 1: several times faster than the default 6, and the file only a little
        # bigger (the sheets' XML is very repetitive either way).
        self._zip = zipfile.ZipFile(
            target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
        )
        self._names: list[str] = []
        self._sheet: Sheet | None = None
        self._closed = False

    def add_sheet(self, name: str, widths: Sequence[float] = ()) -> Sheet:
        """Finish the current sheet (if any) and begin the next one, named `name` (Excel's rules:
        1-31 characters, none of []:*?/\\, not beginning or ending with ', unique ignoring case);
        `widths`: the first columns' widths in characters."""
        if not name or len(name) > SHEET_NAME_LIMIT:
            raise ValueError(f"a sheet name has 1 to {SHEET_NAME_LIMIT} characters: {name!r}")
        if _SHEET_FORBIDDEN.search(name) or name.startswith("'") or name.endswith("'"):
            raise ValueError(f"a sheet name cannot hold []:*?/\\ or begin or end with ': {name!r}")
        if name.lower() in (used.lower() for used in self._names):
            raise ValueError(f"a second sheet named {name!r}")
        if self._sheet is not None:
            self._sheet.close()
        self._names.append(name)
        handle = self._zip.open(f"xl/worksheets/sheet{len(self._names)}.xml", "w")
        self._sheet = Sheet(handle, widths)
        return self._sheet

    def close(self) -> None:
        """Finish the last sheet and write the workbook's other parts."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._sheet is not None:
                self._sheet.close()
            if not self._names:
                raise ValueError("a workbook needs at least one sheet")
            self._write_parts()
        finally:
            self._zip.close()

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, error_type: type[BaseException] | None, *rest: object) -> None:
        if error_type is None:
            self.close()
            return
        # The writing failed: leave the partial file, and let that error through, not one of
        # finishing a workbook that may have no sheet yet.
        self._closed = True
        try:
            if self._sheet is not None:
                with contextlib.suppress(Exception):
                    self._sheet.close()
        finally:
            with contextlib.suppress(Exception):
                self._zip.close()

    def _write_parts(self) -> None:
        count = len(self._names)
        sheets = "".join(
            f'<sheet name="{_attribute(name)}" sheetId="{number}" r:id="rId{number}"/>'
            for number, name in enumerate(self._names, start=1)
        )
        relations = "".join(
            f'<Relationship Id="rId{number}" Type="{_REL}/worksheet"'
            f' Target="worksheets/sheet{number}.xml"/>'
            for number in range(1, count + 1)
        )
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{number}.xml" ContentType="{_SHEET_TYPE}"/>'
            for number in range(1, count + 1)
        )
        parts = {
            "xl/workbook.xml": (
                f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><bookViews>'
                '<workbookView activeTab="0"/></bookViews>'
                f"<sheets>{sheets}</sheets></workbook>"
            ),
            "xl/_rels/workbook.xml.rels": (
                f'{_XML}<Relationships xmlns="{_PACKAGE_REL}">{relations}'
                f'<Relationship Id="rId{count + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
                "</Relationships>"
            ),
            "xl/styles.xml": _STYLES,
            "_rels/.rels": (
                f'{_XML}<Relationships xmlns="{_PACKAGE_REL}"><Relationship Id="rId1"'
                f' Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
            ),
            "[Content_Types].xml": (
                f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/'
                'vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                '<Override PartName="/xl/styles.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
                f"{overrides}</Types>"
            ),
        }
        for name, text in parts.items():
            self._zip.writestr(name, text.encode("utf-8"))


def _excel_width(width: float) -> float:
    """A width in characters as Excel stores it (what XlsxWriter's set_column writes)."""
    return int((width * _MAX_DIGIT_WIDTH + _PADDING) / _MAX_DIGIT_WIDTH * 256.0) / 256.0


_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
# cellXfs in the order of Style; numFmtId 3 is Excel's built-in #,##0.
_STYLES = (
    f'{_XML}<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><color theme="1"/><name val="Calibri"/>'
    '<family val="2"/><scheme val="minor"/></font><font><b/><sz val="11"/><color theme="1"/>'
    '<name val="Calibri"/><family val="2"/><scheme val="minor"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="6">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="3" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="3" fontId="1" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"'
    ' applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
