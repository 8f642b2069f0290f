"""CSV injection (OWASP): every cell that a spreadsheet would take as a formula is neutralized,
in every writer."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import openpyxl
import pytest

from bot.catalog import load_programme
from bot.exports import bpjs, deductions
from bot.exports.cells import neutralize
from bot.i18n import Renderer
from bot.settings import DEFAULT_PROGRAMME_FILE
from bot.storage.exports import BpjsRow, DeductionRow

DANGEROUS = ["=1+2", "+628123", "-2+3", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x")']


@pytest.mark.parametrize("value", DANGEROUS)
def test_formula_starts_are_neutralized(value: str) -> None:
    assert neutralize(value) == "'" + value


@pytest.mark.parametrize("value", ["", "Budi", "3205********0001", "PR-7K3QX9", "1=1", "a-b"])
def test_other_values_are_kept(value: str) -> None:
    assert neutralize(value) == value


PROGRAMME = load_programme(DEFAULT_PROGRAMME_FILE)


def bpjs_row(name: str) -> BpjsRow:
    return BpjsRow(
        reference="PR-AAAAAA",
        nik="3205014501900001",
        full_name=name,
        birth_date=date(1990, 1, 5),
        sex="F",
        district_name="-Garut",
        village_name="@desa",
        phone="+62811",
        programme_code="=prog",
        agency_code="+agency",
    )


@pytest.mark.parametrize("name", DANGEROUS)
def test_every_bpjs_cell_is_neutralized(name: str) -> None:
    out = io.StringIO()
    bpjs.write_csv(out, [bpjs_row(name)], programme=PROGRAMME.catalog, render=Renderer("id"))
    [_header, cells] = list(csv.reader(io.StringIO(out.getvalue().lstrip("\ufeff"))))
    for cell in cells:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert cells[2] == "'" + name
    buffer = io.BytesIO()
    bpjs.write_xlsx(buffer, [bpjs_row(name)], programme=PROGRAMME.catalog, render=Renderer("id"))
    values = list(openpyxl.load_workbook(buffer)["BPU"].iter_rows(values_only=True))[1]
    # (XLSX stores a carriage return as _x000D_, which openpyxl leaves as it is.)
    assert str(values[2]).replace("_x000D_", "\r") == "'" + name
    assert all(not str(v).startswith(("=", "+", "-", "@")) for v in values if v is not None)


@pytest.mark.parametrize("name", DANGEROUS)
def test_every_workbook_cell_is_neutralized(name: str) -> None:
    row = DeductionRow(
        agency_code="=x",
        reference="-PR",
        nip="+1985",
        sponsor_name=name,
        amount=16800,
        worker_name=name,
        nik_masked="@3205",
        consent_at=datetime(2026, 11, 1, tzinfo=UTC),
        consent_key="consent.salary_deduction",
        consent_version="=v1",
        first_month=date(2026, 12, 1),
        status="confirmed",
        deducted_at=None,
    )
    buffer = io.BytesIO()
    summary = deductions.write_deductions(
        buffer,
        [row],
        month=date(2026, 12, 1),
        programme=PROGRAMME.catalog,
        timezone=PROGRAMME.timezone,
        render=Renderer("id"),
    )
    assert (summary.rows, summary.total) == (1, 16800)
    book = openpyxl.load_workbook(buffer)
    for sheet in book.worksheets:
        for values in sheet.iter_rows(values_only=True):
            for value in values:
                assert not (isinstance(value, str) and value.startswith(("=", "+", "-", "@")))
    first = list(book.worksheets[0].iter_rows(values_only=True))[3]
    assert str(first[1]).replace("_x000D_", "\r") == "'" + name and first[0] == "'+1985"
