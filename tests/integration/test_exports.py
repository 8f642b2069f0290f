"""`peduli export deductions` and `peduli export bpjs`, on SQLite and PostgreSQL: the workbook read
back with openpyxl (cells, totals, neutralized formula cells), the scope filter in SQL, full NIKs
for superadmins only, the BPJS CSV round trip into `peduli coverage import`, and the audit log."""

from __future__ import annotations

import base64
import csv
import hashlib
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.cli import main as cli
from bot.storage import audit
from bot.storage.exports import bpjs_rows, deduction_rows, export_deductions
from bot.storage.repository import Repository
from flows.access import Role, Scope
from tests.integration.exportkit import MONTH, Person, add_deductions, seed
from tests.integration.test_storage_repository import SEALER
from tests.notify import notify

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
FORMULA_NAME = "=HYPERLINK(1)"
PEOPLE = [
    Person(1, "198503152010011001", "Budi Santoso", "dinkes", "Siti Aminah", "3205014501900001"),
    Person(2, "198503152010011002", "@Ani Lestari", "dinkes", FORMULA_NAME, "3205010501900002"),
    Person(3, "198503152010011003", "Cecep Hidayat", "bappeda", "Dede Kurnia", "3205014501900003"),
    # The worker has not decided yet: in no BPJS list.
    Person(4, "198503152010011004", "Dodi", "bappeda", "Euis", "3205014501900004", confirmed=False),
]


@pytest.fixture
def database_url(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's; default output files land here
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_KEY", base64.b64encode(bytes(range(32))).decode())
    return database_url


@pytest.fixture
def references(engine: Engine) -> dict[int, str]:
    repo = Repository(engine, SEALER, notify=notify)
    found = seed(repo, PEOPLE)
    add_deductions(engine, [found[1], found[2], found[3]])
    add_deductions(engine, [found[1]], month=date(2027, 1, 1))  # another month: not listed
    return found


def run(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def audit_log(engine: Engine) -> list[tuple[str, str, int | None, str | None]]:
    with Session(engine) as session:
        return [(e.action, e.scope, e.row_count, e.detail) for e in audit.entries(session)]


def test_deduction_workbook(
    engine: Engine,
    references: dict[int, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run("export", "deductions", "--month", "2026-12", capsys=capsys)
    assert code == 0, err
    path = Path(out.strip())
    assert path == tmp_path / "potongan-2026-12-semua.xlsx"
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["bappeda", "dinkes", "Pernyataan"]
    dinkes = [list(row) for row in book["dinkes"].iter_rows(values_only=True)]
    assert "Dinas Kesehatan" in dinkes[0][0] and "2026-12" in dinkes[0][0]
    header = dinkes[2]
    assert header[:5] == ["NIP", "Nama ASN", "Potongan (Rp)", "Nama pekerja", "NIK pekerja"]
    body = dinkes[3:5]
    # Sorted by sponsor name: "'@Ani" (neutralized) before "Budi".
    assert [row[0] for row in body] == ["198503152010011002", "198503152010011001"]
    assert body[0][1] == "'@Ani Lestari"  # a formula start, neutralized
    assert body[0][3] == "'" + FORMULA_NAME
    assert body[1][1:5] == ["Budi Santoso", 16800, "Siti Aminah", "3205********0001"]
    assert body[1][5] is not None and body[1][6] == "2026-01"  # consent date and version
    assert body[1][7] == datetime(2026, 4, 1)  # first month
    assert body[1][8] == "☑️ dikonfirmasi pekerja, menunggu BPJS"  # the sponsorship's status
    assert body[1][9] is None  # not marked deducted yet
    total = dinkes[5]  # right under the rows
    assert total[0] == "Jumlah" and total[2] == 2 * 16800 and total[3] == "2 baris"
    # No cell anywhere is a formula.
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            for value in row:
                assert not (isinstance(value, str) and value.startswith(("=", "+", "-", "@")))
    bappeda = [list(row) for row in book["bappeda"].iter_rows(values_only=True)]
    assert [row[0] for row in bappeda[3:4]] == ["198503152010011003"]
    assert bappeda[4][2] == 16800
    statements = [list(row) for row in book["Pernyataan"].iter_rows(values_only=True)]
    assert statements[3][:2] == ["consent.salary_deduction", "2026-01"]
    assert "PERNYATAAN" in statements[3][2]
    assert statements[3][3] == hashlib.sha256(statements[3][2].encode()).hexdigest()
    assert len(statements) == 4  # one statement version
    assert audit_log(engine) == [
        ("export.deductions", "*", 3, "month=2026-12 agency=* file"),
    ]


def test_deductions_of_one_agency_to_a_named_file(
    engine: Engine,
    references: dict[int, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = tmp_path / "out" / "dinkes.xlsx"
    target.parent.mkdir()
    argv = ("export", "deductions", "--month", "2026-12", "--agency", "dinkes")
    code, out, err = run(*argv, "--output", str(target), capsys=capsys)
    assert code == 0 and out.strip() == str(target), err
    book = openpyxl.load_workbook(target)
    assert book.sheetnames == ["dinkes", "Pernyataan"]
    assert audit_log(engine)[-1][:3] == ("export.deductions", "*", 2)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--month", "2026-13"), "no month 13"),
        (("--month", "Desember"), "YYYY-MM"),
        (("--month", "2026-12", "--agency", "nope"), "no such agency"),
        (("--month", "2026-12", "--output", "/nonexistent/dir/x.xlsx"), "cannot write"),
    ],
)
def test_deductions_refused_arguments(
    engine: Engine,
    references: dict[int, str],
    argv: tuple[str, ...],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run("export", "deductions", *argv, capsys=capsys)
    assert code == 2 and message in err and out == ""
    assert "Traceback" not in err
    assert audit_log(engine) == []


def test_the_scope_filters_in_sql(engine: Engine, references: dict[int, str]) -> None:
    operator = Scope.of(Role.OPERATOR, ["dinkes"])
    with Session(engine) as session:

        def agencies_of(allowed: frozenset[str] | None) -> list[str]:
            return [row.agency_code for row in deduction_rows(session, SEALER, MONTH, allowed)]

        assert agencies_of(None) == ["bappeda", "dinkes", "dinkes"]
        assert agencies_of(operator.restrict(None)) == ["dinkes", "dinkes"]
        # Another agency's rows asked for by an operator: the empty set, no rows.
        assert agencies_of(operator.restrict(["bappeda"])) == []
        assert agencies_of(frozenset()) == []
        rows = list(bpjs_rows(session, SEALER, operator, today=NOW.date()))
        assert [row.agency_code for row in rows] == ["dinkes", "dinkes"]
        assert {row.nik for row in rows} == {"3205********0001", "3205********0002"}
        asked = bpjs_rows(
            session, SEALER, operator, today=NOW.date(), agencies=frozenset({"bappeda"})
        )
        assert list(asked) == []


def test_export_deductions_counts_and_audits(engine: Engine, references: dict[int, str]) -> None:
    actor = audit.Actor(Scope.of(Role.TREASURER, ["bappeda"]), 77, audit.TELEGRAM)
    opened: list[date] = []

    def open_month(session: Session, month: date, now: datetime) -> int:
        opened.append(month)
        return 0

    result, count = export_deductions(
        engine,
        engine,
        SEALER,
        actor,
        MONTH,
        actor.scope.restrict(None),
        NOW,
        lambda rows: [row.reference for row in rows],
        detail="test",
        open_month=open_month,
    )
    assert (result, count) == ([references[3]], 1)
    assert opened == [MONTH]  # the month is opened in the ledger first
    assert audit_log(engine) == [("export.deductions", "bappeda", 1, "test")]


def test_bpjs_csv_round_trips_into_coverage_import(
    engine: Engine,
    references: dict[int, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run("export", "bpjs", capsys=capsys)
    assert code == 0, err
    path = Path(out.strip())
    assert path.parent == tmp_path and path.suffix == ".csv"
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(text.splitlines()))
    assert [row["reference"] for row in rows] == [
        references[3],
        *sorted([references[1], references[2]]),
    ]
    by_reference = {row["reference"]: row for row in rows}
    first = by_reference[references[1]]
    assert first["nik_peserta"] == "3205014501900001"  # the CLI acts as a superadmin
    assert (first["tanggal_lahir"], first["jenis_kelamin"]) == ("05-01-1990", "P")
    assert by_reference[references[2]]["jenis_kelamin"] == "L"
    assert by_reference[references[2]]["nama"] == "'" + FORMULA_NAME
    assert first["kecamatan"] == "Garut Kota" and first["desa"] == "Sukamentri"
    assert first["no_hp"] == "085711112222"
    assert first["instansi_penanggung"] == "dinkes Dinas Kesehatan"
    assert first["pekerjaan"] == "Asisten rumah tangga"  # BPJS registers the job (issue 12)
    assert first["program"] and first["kpj"] == "" and first["start_date"] == ""
    assert audit_log(engine) == [("export.bpjs", "*", 3, "full_nik format=csv since=-")]
    # BPJS fills in the numbers; the same file goes back in.
    for number, row in enumerate(rows):
        row["kpj"], row["start_date"] = f"2301234567{number}", "2026-12-01"
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    code, out, err = run("coverage", "import", str(path), capsys=capsys)
    assert code == 0, out + err
    assert "activated:      3" in out and "invalid:        0" in out
    with engine.connect() as connection:
        statuses = dict(
            connection.execute(sa.text("SELECT reference, status FROM sponsorships")).all()
        )
    assert statuses == {
        references[1]: "active",
        references[2]: "active",
        references[3]: "active",
        references[4]: "waiting_worker",
    }
    # Covered now: the next list is empty.
    code, out, err = run("export", "bpjs", "--output", str(tmp_path / "again.csv"), capsys=capsys)
    assert code == 0
    assert len((tmp_path / "again.csv").read_text(encoding="utf-8-sig").splitlines()) == 1


def test_bpjs_xlsx_and_since(
    engine: Engine,
    references: dict[int, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = tmp_path / "bpjs.xlsx"
    argv = ("export", "bpjs", "--format", "xlsx", "--since", "2026-11-10")
    code, _out, err = run(*argv, "--output", str(target), capsys=capsys)
    assert code == 0, err
    sheet = openpyxl.load_workbook(target)["BPU"]
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][:2] == ["reference", "nik_peserta"] and len(values) == 4
    assert "'" + FORMULA_NAME in [row[2] for row in values]
    # Consents were recorded on 2026-11-10 (UTC): nobody consented from the 11th on.
    later = tmp_path / "later.csv"
    code, _out, err = run(
        "export", "bpjs", "--since", "2026-11-11", "--output", str(later), capsys=capsys
    )
    assert code == 0
    assert len(later.read_text(encoding="utf-8-sig").splitlines()) == 1
    assert [entry[2] for entry in audit_log(engine)] == [3, 0]
    code, _out, err = run("export", "bpjs", "--since", "kemarin", capsys=capsys)
    assert code == 2 and "not a date" in err
