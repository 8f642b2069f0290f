"""The transfers list (issue 12): what each village, BAZNAS, company or honorer pays a month,
for the programme's staff who receive the transfers (no salary is cut, so these rows are not in
the treasurers' deduction workbook). CSV, UTF-8 with a BOM (Excel reads the names right); every
text cell goes through cells.neutralize. Column names in Indonesian, as the other lists."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import IO, TextIO

from bot.exports.cells import neutralize
from bot.exports.deductions import DeductionSummary
from bot.i18n import Renderer
from bot.storage.exports import TransferRow
from flows.catalog import Catalog

COLUMNS = (
    "jenis_penanggung",
    "lembaga",
    "nama_penanggung",
    "jabatan",
    "instansi",
    "reference",
    "cara_bayar",
    "iuran",
    "nama_pekerja",
    "nik_pekerja",
    "pernyataan",
    "versi_pernyataan",
    "status",
    "dibayar",
)


def write_csv(
    out: TextIO, rows: Iterable[TransferRow], *, programme: Catalog, render: Renderer
) -> int:
    """Write the list as CSV to a text stream (opened with newline=""); returns the rows."""
    writer = csv.writer(out)
    out.write("\ufeff")
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        method = programme.payment_method(row.payment_method)
        # BAZNAS of the regency whose agency looks after it (several regencies in one bot).
        agency = programme.agency(row.agency_code)
        regency = programme.regency(agency.regency) if agency and agency.regency else None
        organisation = programme.organisation_label(row.funder_type, row.organisation_name, regency)
        writer.writerow(
            [
                neutralize(render.plain(programme.funder_label(row.funder_type))),
                neutralize(render.plain(organisation)),
                neutralize(row.sponsor_name),
                neutralize(row.position),
                neutralize(row.agency_code),
                neutralize(row.reference),
                neutralize(render.plain(method.label) if method else row.payment_method),
                str(row.amount),
                neutralize(row.worker_name),
                neutralize(row.nik_masked),
                neutralize(row.consent_key),
                neutralize(row.consent_version),
                neutralize(row.status),
                row.paid_at.isoformat() if row.paid_at else "",
            ]
        )
        count += 1
    return count


def write_recap(
    out: IO[bytes], rows: Iterable[TransferRow], *, programme: Catalog, render: Renderer
) -> DeductionSummary:
    """/rekap's transfers (issue 12): the same CSV into a byte buffer, and what it holds (rows,
    rupiah, rows not marked paid yet) for the summary under it, as the deduction workbook's."""
    summary = DeductionSummary()

    def tallied() -> Iterator[TransferRow]:
        for row in rows:
            summary.rows += 1
            summary.total += row.amount
            summary.unmarked += row.paid_at is None
            count, total = summary.per_agency.get(row.agency_code, (0, 0))
            summary.per_agency[row.agency_code] = (count + 1, total + row.amount)
            yield row

    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        write_csv(text, tallied(), programme=programme, render=render)
    finally:
        text.detach()  # the caller's buffer stays open
    return summary
