"""The BPJS registration list: workers to register as Bukan Penerima Upah (BPU) participants.

The columns a BPJS Ketenagakerjaan branch asks for a bulk registration (NIK, name, birth date,
sex, address, phone, programme, who pays), plus the sponsorship's `reference` and two empty
columns `kpj` and `start_date`: the branch (or the operator) fills them in with the membership
numbers, and the same file goes back into `peduli coverage import` (bot.coverage reads
`reference`, `kpj` and `start_date` and ignores the other columns). The NIK column is therefore
not called `nik`: coverage import takes a row with both a reference and a nik as ambiguous.

CSV (UTF-8 with a BOM, so Excel reads the names right) or XLSX (constant-memory mode). Every text
cell goes through cells.neutralize.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any, TextIO

import xlsxwriter  # type: ignore[import-untyped]  # no stubs; used through Any

from bot.exports.cells import neutralize
from bot.i18n import Renderer
from bot.storage.exports import BpjsRow
from flows.catalog import Catalog

COLUMNS = (
    "reference",
    "nik_peserta",
    "nama",
    "tanggal_lahir",
    "jenis_kelamin",
    "kecamatan",
    "desa",
    "no_hp",
    "program",
    "instansi_penanggung",
    "kpj",
    "start_date",
)
SEX = {"M": "L", "F": "P"}  # laki-laki, perempuan: the letters BPJS forms use


def cells(row: BpjsRow, programme: Catalog, render: Renderer) -> list[str]:
    """The row's cells as text, neutralized; kpj and start_date left empty to be filled in."""
    agency = programme.agency(row.agency_code)
    values = [
        row.reference,
        row.nik,
        row.full_name,
        row.birth_date.strftime("%d-%m-%Y") if row.birth_date else "",
        SEX.get(row.sex or "", ""),
        row.district_name,
        row.village_name,
        row.phone,
        render.plain(programme.programme_label(row.programme_code)),
        f"{row.agency_code} {agency.name}" if agency else row.agency_code,
        "",
        "",
    ]
    return [neutralize(value) for value in values]


def write_csv(out: TextIO, rows: Iterable[BpjsRow], *, programme: Catalog, render: Renderer) -> int:
    """Write the list as CSV to a text stream (opened with newline=""); returns the rows."""
    writer = csv.writer(out)
    out.write("\ufeff")
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        writer.writerow(cells(row, programme, render))
        count += 1
    return count


def write_xlsx(
    target: str | IO[bytes], rows: Iterable[BpjsRow], *, programme: Catalog, render: Renderer
) -> int:
    """Write the list as an XLSX workbook (one sheet, every cell text); returns the rows."""
    workbook: Any = xlsxwriter.Workbook(target, {"constant_memory": True})
    try:
        sheet = workbook.add_worksheet("BPU")
        bold = workbook.add_format({"bold": True})
        for column, name in enumerate(COLUMNS):
            sheet.write_string(0, column, name, bold)
            sheet.set_column(column, column, 20)
        count = 0
        for count, row in enumerate(rows, start=1):
            for column, value in enumerate(cells(row, programme, render)):
                if value:
                    sheet.write_string(count, column, value)
        return count
    finally:
        workbook.close()
