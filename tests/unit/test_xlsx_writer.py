"""bot.exports.xlsx, the exports' streaming XLSX writer: workbooks read back with openpyxl, and
the same cells written by XlsxWriter (what the exports used before) read back the same."""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import openpyxl
import pytest
import xlsxwriter  # type: ignore[import-untyped]

from bot.exports.cells import neutralize
from bot.exports.xlsx import (
    FLUSH_ROWS,
    MAX_COLUMNS,
    MAX_ROWS,
    Style,
    Value,
    Workbook,
    column_letters,
    escape_text,
    serial,
)

AWKWARD = [
    "Tom & Jerry <b>bold</b> \"quoted\" 'single'",
    "null\x00byte",
    "bell\x07 vt\x0b ff\x0c esc\x1b us\x1f",
    "carriage\rreturn",
    "tab\tand\nnewline",
    "  leading and trailing spaces  ",
    "literal _x0041_ and _x000D_ escapes",
    "non-characters \ufffe \uffff",
    "Siti Nurhaliza 🇮🇩 ☑️ é ß",
    "]]> <![CDATA[",
    neutralize('=HYPERLINK("http://x")'),
    neutralize("@SUM(A1)"),
    neutralize("\t=1+1"),
]


def read(buffer: io.BytesIO) -> openpyxl.Workbook:
    buffer.seek(0)
    return openpyxl.load_workbook(buffer)


def rows(book: openpyxl.Workbook, sheet: str) -> list[list[Any]]:
    return [list(row) for row in book[sheet].iter_rows(values_only=True)]


def test_text_round_trips_as_xlsxwriter_writes_it() -> None:
    ours = io.BytesIO()
    with Workbook(ours) as workbook:
        sheet = workbook.add_sheet("Teks")
        for text in AWKWARD:
            sheet.write_row([text])
    theirs = io.BytesIO()
    reference: Any = xlsxwriter.Workbook(theirs, {"constant_memory": True})
    reference_sheet = reference.add_worksheet("Teks")
    for line, text in enumerate(AWKWARD):
        reference_sheet.write_string(line, 0, text)
    reference.close()
    assert rows(read(ours), "Teks") == rows(read(theirs), "Teks")
    values = [row[0] for row in rows(read(ours), "Teks")]
    assert values[0] == AWKWARD[0]  # XML's special characters come back as they were
    assert values[1] == "null_x0000_byte"  # what XML 1.0 forbids, as Excel's _xHHHH_
    assert values[3] == "carriage_x000D_return"
    assert values[4] == "tab\tand\nnewline"
    assert values[5] == AWKWARD[5]  # spaces kept
    assert values[6] == "literal _x005F_x0041_ and _x005F_x000D_ escapes"
    assert values[8] == AWKWARD[8]
    assert values[10] == '\'=HYPERLINK("http://x")'  # a neutralized cell stays text
    assert all(not value.startswith(("=", "+", "-", "@")) for value in values)


def test_escape_text() -> None:
    assert escape_text("plain") == "plain"
    assert escape_text("a&b<c>d") == "a&amp;b&lt;c&gt;d"
    assert escape_text("\x01\x1f\r") == "_x0001__x001F__x000D_"
    assert escape_text("_x00e9_") == "_x005F_x00e9_"
    assert escape_text("\ufffe") == "_xFFFE_"
    # A lone surrogate (no UTF-8 for it) becomes the replacement character.
    assert escape_text("a\ud800b") == "a\ufffdb"


def test_lone_surrogate_is_written_as_a_replacement_character() -> None:
    buffer = io.BytesIO()
    with Workbook(buffer) as workbook:
        workbook.add_sheet("S").write_row(["a\udc80b"])
    assert rows(read(buffer), "S") == [["a\ufffdb"]]


def test_numbers_dates_and_styles() -> None:
    buffer = io.BytesIO()
    styles = (Style.PLAIN, Style.MONEY, Style.DAY, Style.MONTH, Style.PLAIN, Style.DAY)
    with Workbook(buffer) as workbook:
        sheet = workbook.add_sheet("Angka", (22, 12))
        sheet.write_row(["Judul"], Style.BOLD)
        sheet.write_row(["Nama", "Rp", "Tanggal", "Bulan", "Pecahan", "Serial"], Style.BOLD, at=2)
        sheet.write_row(
            ["Ani", 16800, date(2026, 11, 10), date(2026, 12, 1), 0.25, serial(date(2026, 1, 31))],
            styles,
        )
        sheet.write_row(["Budi", -5, datetime(2026, 11, 11, 9, 30), None, 1e20, None], styles)
        sheet.write_row(["Jumlah", 16795, None, None, "2 baris"], (Style.BOLD, Style.MONEY_BOLD))
    book = read(buffer)
    values = rows(book, "Angka")
    assert values[0] == ["Judul", None, None, None, None, None]
    assert values[1] == [None] * 6  # the skipped row
    assert values[3] == [
        "Ani",
        16800,
        datetime(2026, 11, 10),
        datetime(2026, 12, 1),
        0.25,
        datetime(2026, 1, 31),
    ]
    assert values[4] == ["Budi", -5, datetime(2026, 11, 11), None, 1e20, None]
    assert values[5] == ["Jumlah", 16795, None, None, "2 baris", None]
    sheet = book["Angka"]
    assert sheet["A1"].font.b and sheet["A3"].font.b and sheet["F3"].font.b
    assert not sheet["A4"].font.b
    assert sheet["B4"].number_format == "#,##0" and not sheet["B4"].font.b
    assert sheet["C4"].number_format == "yyyy-mm-dd"
    assert sheet["D4"].number_format == "yyyy-mm"
    assert sheet["E4"].number_format == "General"
    assert sheet["A6"].font.b and sheet["B6"].number_format == "#,##0" and sheet["B6"].font.b
    assert not sheet["E6"].font.b  # styles past the given ones: plain
    # Widths as XlsxWriter's set_column stores them.
    assert sheet.column_dimensions["A"].width == pytest.approx(22.7109375)
    assert sheet.column_dimensions["B"].width == pytest.approx(12.7109375)


def test_several_sheets_in_order() -> None:
    buffer = io.BytesIO()
    with Workbook(buffer) as workbook:
        for name in ("dinkes", "bappeda", "A & B <x>", "Pernyataan"):
            workbook.add_sheet(name).write_row([name, 1])
    book = read(buffer)
    assert book.sheetnames == ["dinkes", "bappeda", "A & B <x>", "Pernyataan"]
    assert [rows(book, name) for name in book.sheetnames] == [
        [["dinkes", 1]],
        [["bappeda", 1]],
        [["A & B <x>", 1]],
        [["Pernyataan", 1]],
    ]


def test_a_ten_thousand_row_sheet_to_a_file(tmp_path: Any) -> None:
    path = tmp_path / "big.xlsx"
    with Workbook(str(path)) as workbook:
        sheet = workbook.add_sheet("BPU", [20] * 12)
        sheet.write_row([f"col{c}" for c in range(12)], Style.BOLD)
        for n in range(10_000):
            sheet.write_row([f"PR-{n:06d}", n, "", None, *[f"c{n}-{c}" for c in range(4, 12)]])
    book = openpyxl.load_workbook(path, read_only=True)
    values = [list(row) for row in book["BPU"].iter_rows(values_only=True)]
    assert len(values) == 10_001
    assert values[1][:4] == ["PR-000000", 0, None, None]
    assert values[10_000][:5] == ["PR-009999", 9999, None, None, "c9999-4"]
    assert values[5_001][11] == "c5000-11"
    assert all(row[0] == f"PR-{n:06d}" for n, row in enumerate(values[1:]))


def test_rows_reach_the_file_as_they_are_written() -> None:
    """Streaming: rows are compressed into the target in batches, not kept until close."""
    buffer = io.BytesIO()
    workbook = Workbook(buffer)
    sheet = workbook.add_sheet("S")
    for n in range(FLUSH_ROWS * 4):
        sheet.write_row([f"row {n} {'x' * (n % 37)}", n * 7919 % 10007])
    assert buffer.tell() > 0
    workbook.close()
    assert len(rows(read(buffer), "S")) == FLUSH_ROWS * 4


def test_the_parts_of_the_package() -> None:
    buffer = io.BytesIO()
    with Workbook(buffer) as workbook:
        workbook.add_sheet("a").write_row(["x"])
        workbook.add_sheet("b").write_row(["y"])
    names = set(zipfile.ZipFile(buffer).namelist())
    assert names == {
        "[Content_Types].xml",
        "_rels/.rels",
        "xl/workbook.xml",
        "xl/_rels/workbook.xml.rels",
        "xl/styles.xml",
        "xl/worksheets/sheet1.xml",
        "xl/worksheets/sheet2.xml",
    }


@pytest.mark.parametrize(
    "name", ["", "x" * 32, "a[b", "a]b", "a:b", "a*b", "a?b", "a/b", "a\\b", "'ab", "ab'"]
)
def test_sheet_names_excel_refuses(name: str) -> None:
    with Workbook(io.BytesIO()) as workbook:
        workbook.add_sheet("ok")
        with pytest.raises(ValueError, match="sheet name"):
            workbook.add_sheet(name)


def test_sheet_names_are_unique_ignoring_case() -> None:
    with Workbook(io.BytesIO()) as workbook:
        workbook.add_sheet("Dinkes")
        with pytest.raises(ValueError, match="second sheet"):
            workbook.add_sheet("DINKES")
        workbook.add_sheet("x" * 31)  # the longest name allowed


def test_a_workbook_needs_a_sheet() -> None:
    with pytest.raises(ValueError, match="at least one sheet"):
        Workbook(io.BytesIO()).close()


def test_rows_go_top_to_bottom() -> None:
    with Workbook(io.BytesIO()) as workbook:
        sheet = workbook.add_sheet("S")
        sheet.write_row(["a"], at=3)
        assert sheet.next_row == 4
        with pytest.raises(ValueError, match="top to bottom"):
            sheet.write_row(["b"], at=3)
        with pytest.raises(ValueError, match="last row"):
            sheet.write_row(["c"], at=MAX_ROWS)
        sheet.write_row(["d"], at=MAX_ROWS - 1)


@pytest.mark.parametrize(
    ("cells", "error"),
    [
        ([True], TypeError),
        ([math.nan], ValueError),
        ([math.inf], ValueError),
        ([b"bytes"], TypeError),
        ([object()], TypeError),
    ],
)
def test_cells_a_spreadsheet_cannot_hold(cells: Sequence[Any], error: type[Exception]) -> None:
    with Workbook(io.BytesIO()) as workbook, pytest.raises(error):
        workbook.add_sheet("S").write_row(cells)


def test_columns_up_to_excels_last() -> None:
    buffer = io.BytesIO()
    wide: list[Value] = [None] * MAX_COLUMNS
    wide[-1] = "last"
    with Workbook(buffer) as workbook:
        sheet = workbook.add_sheet("S")
        sheet.write_row(wide)
        with pytest.raises(ValueError, match="columns"):
            sheet.write_row([*wide, "one too many"])
    assert read(buffer)["S"]["XFD1"].value == "last"


def test_column_letters() -> None:
    assert [column_letters(i) for i in (0, 25, 26, 51, 52, 701, 702, 16383)] == [
        "A",
        "Z",
        "AA",
        "AZ",
        "BA",
        "ZZ",
        "AAA",
        "XFD",
    ]


def test_deduction_workbook_styles() -> None:
    """The treasurers' workbook as XlsxWriter laid it out: bold title, headers and total label,
    rupiah as #,##0 (the total bold), dates as yyyy-mm-dd, the first month as yyyy-mm, widths."""
    from bot.catalog import load_programme
    from bot.exports import deductions
    from bot.i18n import Renderer
    from bot.settings import DEFAULT_PROGRAMME_FILE
    from bot.storage.exports import DeductionRow

    programme = load_programme(DEFAULT_PROGRAMME_FILE)
    row = DeductionRow(
        agency_code=programme.catalog.agencies[0].code,
        reference="PR-1",
        nip="198503152010011001",
        sponsor_name="Budi",
        amount=16800,
        worker_name="Siti",
        nik_masked="3205********0001",
        consent_at=datetime(2026, 11, 10, 20, 0, tzinfo=programme.timezone),
        consent_key="consent.salary_deduction",
        consent_version="2026-01",
        first_month=date(2026, 12, 1),
        status="confirmed",
        deducted_at=datetime(2026, 12, 2, 1, 0, tzinfo=programme.timezone),
    )
    buffer = io.BytesIO()
    deductions.write_deductions(
        buffer,
        [row, row],
        month=date(2026, 12, 1),
        programme=programme.catalog,
        timezone=programme.timezone,
        render=Renderer("id"),
    )
    book = read(buffer)
    sheet = book.worksheets[0]
    assert sheet["A1"].font.b and sheet["A3"].font.b and sheet["J3"].font.b
    assert sheet["C4"].value == 16800 and sheet["C4"].number_format == "#,##0"
    assert sheet["F4"].value == datetime(2026, 11, 10) and sheet["F4"].number_format == "yyyy-mm-dd"
    assert sheet["H4"].value == datetime(2026, 12, 1) and sheet["H4"].number_format == "yyyy-mm"
    assert sheet["J4"].value == datetime(2026, 12, 2) and sheet["J4"].number_format == "yyyy-mm-dd"
    assert not sheet["A4"].font.b
    assert sheet["A6"].font.b and sheet["C6"].font.b and sheet["C6"].number_format == "#,##0"
    assert (sheet["C6"].value, sheet["D6"].value) == (33600, "2 baris")
    assert sheet.column_dimensions["B"].width == pytest.approx(30.7109375)
    statements = book["Pernyataan"]
    assert statements["A1"].font.b and statements["D3"].font.b and not statements["A4"].font.b
    assert statements.column_dimensions["C"].width == pytest.approx(80.7109375)


@pytest.mark.parametrize("sheets", [0, 1])
def test_an_error_while_writing_comes_through(sheets: int) -> None:
    """Not hidden by finishing the workbook (which, with no sheet yet, would itself fail)."""
    with pytest.raises(KeyError, match="from the rows"), Workbook(io.BytesIO()) as workbook:
        if sheets:
            workbook.add_sheet("S").write_row(["a"])
        raise KeyError("from the rows")
