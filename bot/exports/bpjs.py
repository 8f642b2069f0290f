"""The BPJS registration list: workers to register as Bukan Penerima Upah (BPU) participants.

The columns a BPJS Ketenagakerjaan branch asks for a bulk registration (NIK, name, birth date,
sex, job, address, phone, programme, who pays), plus the sponsorship's `reference` and two empty
columns `kpj` and `start_date`: the branch (or the operator) fills them in with the membership
numbers, and the same file goes back into `peduli coverage import` (bot.coverage reads
`reference`, `kpj` and `start_date` and ignores the other columns). The NIK column is therefore
not called `nik`: coverage import takes a row with both a reference and a nik as ambiguous.

CSV (UTF-8 with a BOM, so Excel reads the names right) or XLSX (bot.exports.xlsx, streaming).
Every text cell goes through cells.neutralize.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date
from typing import IO, TextIO

from bot.exports.cells import neutralize
from bot.exports.xlsx import Style, Workbook
from bot.i18n import Renderer
from bot.storage.exports import BpjsRow
from flows.catalog import Catalog

COLUMNS = (
    "reference",
    "nik_peserta",
    "nama",
    "tanggal_lahir",
    "jenis_kelamin",
    # The job as the programme names it (the sponsor's own words for "lainnya"); empty when not
    # recorded. The worker's relationship to the sponsor is the programme's, not sent to BPJS.
    "pekerjaan",
    "kecamatan",
    "desa",
    "no_hp",
    "program",
    "instansi_penanggung",
    "kpj",
    "start_date",
)
SEX = {"M": "L", "F": "P"}  # laki-laki, perempuan: the letters BPJS forms use


class _Cells:
    """A row's cells as text, neutralized; kpj and start_date left empty to be filled in. The
    labels of programmes and agencies are rendered once each, not once a row."""

    def __init__(self, programme: Catalog, render: Renderer) -> None:
        self._programme = programme
        self._render = render
        self._programmes: dict[str, str] = {}
        self._agencies: dict[str, str] = {}
        self._jobs: dict[str, str] = {}

    def __call__(self, row: BpjsRow) -> list[str]:
        label = self._programmes.get(row.programme_code)
        if label is None:
            shown = self._render.plain(self._programme.programme_label(row.programme_code))
            label = self._programmes[row.programme_code] = neutralize(shown)
        agency = self._agencies.get(row.agency_code)
        if agency is None:
            found = self._programme.agency(row.agency_code)
            named = f"{row.agency_code} {found.name}" if found else row.agency_code
            agency = self._agencies[row.agency_code] = neutralize(named)
        birth = row.birth_date
        return [
            *self._person(row, birth),
            self._job(row),
            neutralize(row.district_name),
            neutralize(row.village_name),
            neutralize(row.phone),
            label,
            agency,
            "",
            "",
        ]

    def _person(self, row: BpjsRow, birth: date | None) -> list[str]:
        return [
            neutralize(row.reference),
            neutralize(row.nik),
            neutralize(row.full_name),
            f"{birth.day:02d}-{birth.month:02d}-{birth.year:04d}" if birth else "",
            SEX.get(row.sex or "", ""),
        ]

    def _job(self, row: BpjsRow) -> str:
        if row.job_other:
            return neutralize(row.job_other)
        if row.job is None:
            return ""
        shown = self._jobs.get(row.job)
        if shown is None:
            label = self._render.plain(self._programme.job_label(row.job))
            shown = self._jobs[row.job] = neutralize(label)
        return shown


def write_csv(out: TextIO, rows: Iterable[BpjsRow], *, programme: Catalog, render: Renderer) -> int:
    """Write the list as CSV to a text stream (opened with newline=""); returns the rows."""
    writer = csv.writer(out)
    out.write("\ufeff")
    writer.writerow(COLUMNS)
    cells = _Cells(programme, render)
    count = 0
    for row in rows:
        writer.writerow(cells(row))
        count += 1
    return count


def write_xlsx(
    target: str | IO[bytes], rows: Iterable[BpjsRow], *, programme: Catalog, render: Renderer
) -> int:
    """Write the list as an XLSX workbook (one sheet, every cell text); returns the rows."""
    with Workbook(target) as workbook:
        sheet = workbook.add_sheet("BPU", [20] * len(COLUMNS))
        sheet.write_row(COLUMNS, Style.BOLD)
        cells = _Cells(programme, render)
        count = 0
        for row in rows:
            sheet.write_row(cells(row))
            count += 1
        return count
