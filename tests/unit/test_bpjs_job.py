"""Issue 12: the BPJS registration list carries the worker's job (what BPJS registers), in the
programme's words or the sponsor's own for "lainnya"; empty when it was never recorded; the
worker's relationship to the sponsor stays out of it."""

from __future__ import annotations

import csv
import io
from datetime import date

from bot.exports.bpjs import COLUMNS, write_csv
from bot.i18n import Renderer
from bot.storage.exports import BpjsRow
from tests.unit.flowkit import PROGRAMME


def _row(reference: str, job: str | None, job_other: str | None = None) -> BpjsRow:
    return BpjsRow(
        reference=reference,
        nik="3205014501900001",
        full_name="Siti Aminah",
        birth_date=date(1990, 1, 5),
        sex="F",
        district_name="Garut Kota",
        village_name="Sukamentri",
        phone="",
        programme_code="jkk_jkm",
        agency_code="dinkes",
        job=job,
        job_other=job_other,
    )


def _exported(*rows: BpjsRow) -> list[dict[str, str]]:
    out = io.StringIO()
    write_csv(out, rows, programme=PROGRAMME.catalog, render=Renderer("id"))
    return list(csv.DictReader(out.getvalue().lstrip("\ufeff").splitlines()))


def test_the_job_is_a_column_of_the_bpjs_list_and_the_relationship_is_not() -> None:
    assert "pekerjaan" in COLUMNS
    assert not [c for c in COLUMNS if "hubungan" in c or "relationship" in c]


def test_each_job_is_shown_in_words() -> None:
    rows = _exported(
        _row("PR-A", "guru_ngaji"),
        _row("PR-B", "lainnya", "tukang becak"),
        _row("PR-C", None),  # a neighbour registered before the job was asked (0012_jobs)
        _row("PR-D", "lainnya", "=HYPERLINK(1)"),
        _row("PR-E", "dihapus"),  # a job the operator removed since: its code as it is
        _row("PR-F", "guru_ngaji"),
    )
    jobs = {row["reference"]: row["pekerjaan"] for row in rows}
    assert jobs == {
        "PR-A": "Guru ngaji",
        "PR-B": "tukang becak",
        "PR-C": "",
        "PR-D": "'=HYPERLINK(1)",
        "PR-E": "dihapus",
        "PR-F": "Guru ngaji",
    }
