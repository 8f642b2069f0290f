"""`peduli roster import` (dry run, idempotence, bad rows with line numbers, NIPs masked) and
`peduli stats` (table, CSV, JSON, XLSX with its chart, one agency, audit-logged), on SQLite and
PostgreSQL."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.cli import main as cli
from bot.cli.stats import run_stats
from bot.storage import audit
from tests.integration.test_statistics import NOW, known_dataset
from tests.statskit import nip_of


@pytest.fixture
def database_url(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """What the commands read: the migrated database and the key of tests' SEALER."""
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_KEY", base64.b64encode(bytes(range(32))).decode())
    return database_url


def run(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def roster_rows(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT nip_masked, full_name, agency_code FROM roster ORDER BY full_name")
        )
        return [(str(a), str(b), str(c)) for a, b, c in rows]


def audit_actions(engine: Engine) -> list[tuple[str, int | None, str | None]]:
    with Session(engine) as session:
        return [(e.action, e.row_count, e.detail) for e in audit.entries(session)]


def spaced(nip: str) -> str:
    return f"{nip[:8]} {nip[8:14]} {nip[14]} {nip[15:]}"


def roster_file(tmp_path: Path, *extra: str, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    lines = [
        "NIP,Nama,Instansi",
        f"{nip_of(1)},Dra. Siti Aminah,dinkes",  # line 2
        f"{spaced(nip_of(2))},  Ahmad   Fauzi ,dinkes",  # line 3: spaces in the NIP and name
        f"{nip_of(10)},Budi Santoso,disdik",  # line 4
        "12345,Cecep,dinkes",  # line 5: NIP format
        f"{nip_of(3)},Dewi Lestari,nosuch",  # line 6: agency not in the catalog
        f"{nip_of(1)},Siti Lagi,dinkes",  # line 7: the NIP of line 2 again
        "",  # line 8: blank, skipped
        f"{nip_of(4)},X,",  # line 9: name too short, no agency
        *extra,
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def counted(out: str, label: str) -> int:
    """The number after "label:" in a report."""
    found = re.search(rf"^  {label}:\s+(\d+)$", out, re.MULTILINE)
    assert found is not None, f"no {label!r} in {out!r}"
    return int(found.group(1))


FULL_NIPS = [nip_of(n) for n in (1, 2, 3, 4, 10)]


def test_roster_dry_run_writes_nothing_and_reports_bad_rows_by_line(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run("roster", "import", str(roster_file(tmp_path)), "--dry-run", capsys=capsys)
    assert code == 1, err  # some rows are bad
    assert "dry run: nothing was written" in out
    assert counted(out, "would be added") == 3 and counted(out, "bad rows") == 4
    assert "line 5: NIP *****: nip:format" in out
    assert "line 6: NIP 1985***********003: agency:unknown" in out
    assert "line 7: NIP 1985***********001: nip:duplicate_of_line_2" in out
    assert "line 9: NIP 1985***********004: name:too_short, agency:missing" in out
    assert "line 8" not in out  # blank
    assert not any(nip in out + err for nip in FULL_NIPS)
    assert roster_rows(engine) == []
    assert audit_actions(engine) == []


def test_roster_import_is_idempotent_and_updates_what_changed(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = roster_file(tmp_path)
    code, out, _ = run("roster", "import", str(path), capsys=capsys)
    assert code == 1 and counted(out, "added") == 3
    stored = roster_rows(engine)
    assert stored == [
        ("1985***********002", "Ahmad Fauzi", "dinkes"),  # normalised like a sign-up name
        ("1985***********010", "Budi Santoso", "disdik"),
        ("1985***********001", "Dra. Siti Aminah", "dinkes"),
    ]
    code, out, _ = run("roster", "import", str(path), capsys=capsys)
    assert (counted(out, "added"), counted(out, "updated"), counted(out, "unchanged")) == (0, 0, 3)
    assert roster_rows(engine) == stored
    moved = roster_file(tmp_path, f"{nip_of(40)},Eka Putri,bpbd", name="moved.csv")
    moved.write_text(
        moved.read_text().replace("Budi Santoso,disdik", "Budi Santoso,bpbd"), encoding="utf-8"
    )
    code, out, _ = run("roster", "import", str(moved), capsys=capsys)
    assert (counted(out, "added"), counted(out, "updated"), counted(out, "unchanged")) == (1, 1, 2)
    assert ("1985***********010", "Budi Santoso", "bpbd") in roster_rows(engine)
    imports = [(a, n) for a, n, _ in audit_actions(engine) if a == "roster.import"]
    assert imports == [("roster.import", 3), ("roster.import", 0), ("roster.import", 2)]


def test_a_clean_roster_exits_0_and_an_unreadable_one_2(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = tmp_path / "clean.csv"
    clean.write_text(f"nip;name;agency\n{nip_of(5)};Rina;setda\n", encoding="utf-8")
    assert run("roster", "import", str(clean), capsys=capsys)[0] == 0
    no_agency = tmp_path / "bad.csv"
    no_agency.write_text(f"nip,name\n{nip_of(6)},Rini\n", encoding="utf-8")
    code, _, err = run("roster", "import", str(no_agency), capsys=capsys)
    assert code == 2 and "no column 'agency'" in err and "Traceback" not in err
    assert len(roster_rows(engine)) == 1


def stats(capsys: pytest.CaptureFixture[str], **options: object) -> tuple[int, str, str]:
    code = run_stats(clock=lambda: NOW, **options)  # type: ignore[arg-type]
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_stats_json_and_csv_hold_the_known_figures(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    known_dataset(engine)
    code, out, err = stats(capsys, output_format="json")
    assert code == 0, err
    document = json.loads(out)
    assert document["month"] == "2026-12-01"
    regency = document["regency"]
    assert regency["agencies_taking_part"] == 2 and regency["agencies_in_catalog"] == 44
    assert (regency["roster_signed_up"], regency["roster"], regency["participation"]) == (
        4,
        10,
        0.4,
    )
    dinkes = next(a for a in document["agencies"] if a["agency_code"] == "dinkes")
    assert dinkes["agency_name"] == "Dinas Kesehatan"
    assert (dinkes["signed_up"], dinkes["draft"], dinkes["waiting"], dinkes["active"]) == (
        4,
        1,
        1,
        2,
    )
    assert (dinkes["covered"], dinkes["deducted"], dinkes["participation"]) == (1, 16800, 0.6)
    levels = {(a["level"], a["agency_code"], a["district_name"]) for a in document["areas"]}
    assert ("district", "dinkes", "Tarogong Kidul") in levels
    code, out, _ = stats(capsys, output_format="csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    disdik = next(r for r in rows if r["level"] == "agency" and r["agency_code"] == "disdik")
    assert (disdik["withdrawn"], disdik["lapsed"], disdik["deducted"]) == ("2", "1", "16800")
    assert [a for a, _, _ in audit_actions(engine)] == ["stats.export", "stats.export"]


def test_stats_for_one_agency_show_only_it(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    known_dataset(engine)
    code, out, _ = stats(capsys, output_format="json", agency="disdik")
    document = json.loads(out)
    assert code == 0
    assert {a["agency_code"] for a in document["agencies"] + document["areas"]} == {"disdik"}
    code, out, _ = stats(capsys, agency="disdik")  # the table
    assert "Dinas Pendidikan" in out and "Dinas Kesehatan" not in out
    [(action, count, detail)] = audit_actions(engine)[:1]
    assert (action, detail) == ("stats.export", "format=json agencies=disdik")
    assert count == len(document["agencies"]) + len(document["areas"])
    code, _, err = stats(capsys, agency="nosuch")
    assert code == 2 and "no agency 'nosuch'" in err


def test_stats_table_through_the_command_line(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    known_dataset(engine)
    code, out, err = run("stats", capsys=capsys)
    assert code == 0, err
    assert "Per agency" in out and "Dinas Kesehatan" in out
    assert "Agencies taking part: 2 of 44" in out and "(40.0 %)" in out


def test_stats_xlsx_holds_the_numbers_and_a_chart(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    known_dataset(engine)
    target = tmp_path / "statistik.xlsx"
    code, _, err = stats(capsys, output_format="xlsx")
    assert code == 2 and "--output" in err  # a workbook is not for the terminal
    code, out, err = stats(capsys, output_format="xlsx", output=target)
    assert code == 0, err
    assert str(target) in out
    workbook = openpyxl.load_workbook(target)
    assert workbook.sheetnames == [
        "Ringkasan",
        "Instansi",
        "Kecamatan dan desa",
        "Pekerjaan",
        "Hubungan",
    ]
    sheet = workbook["Instansi"]
    header = [c.value for c in sheet[1]]
    rows = {
        r[0]: dict(zip(header, r, strict=True))
        for r in sheet.iter_rows(min_row=2, values_only=True)
    }
    dinkes = rows["dinkes"]
    assert dinkes["Instansi"] == "Dinas Kesehatan"
    assert (dinkes["ASN ikut"], dinkes["Aktif"], dinkes["Pekerja terlindungi"]) == (4, 2, 1)
    assert dinkes["Dipotong bulan ini (Rp)"] == 16800 and dinkes["Partisipasi"] == 0.6
    summary = {r[0]: r[1] for r in workbook["Ringkasan"].iter_rows(min_row=3, values_only=True)}
    assert summary["Dinas dengan ASN yang ikut"] == 2 and summary["Partisipasi"] == 0.4
    areas = [r for r in workbook["Kecamatan dan desa"].iter_rows(min_row=2, values_only=True)]
    assert ("Dinas Kesehatan", "Tarogong Kidul", "") in [r[:3] for r in areas]
    # The chart: a native bar chart on the summary sheet drawn from the agencies' cells.
    with zipfile.ZipFile(target) as archive:
        chart = archive.read("xl/charts/chart1.xml").decode()
    assert "<c:barChart>" in chart and "Instansi!$B$2:$B$45" in chart
    assert workbook["Ringkasan"]._charts  # openpyxl sees it on the summary sheet
