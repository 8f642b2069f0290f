"""Issue 12: the commands of a deployment of several regencies (bot/data/regencies_example.toml):
`peduli stats --regency`, `peduli export deductions --regency`, and a regency's code granting an
operator all its agencies (`peduli admin add --agency 33.24`); on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.catalog import load_programme
from bot.cli import main as cli
from bot.settings import DEFAULT_PROGRAMME_FILE
from bot.storage import audit
from bot.storage.repository import Repository
from tests.integration.exportkit import Person, add_deductions, seed
from tests.integration.test_cli_staff import staff_rows
from tests.integration.test_storage_repository import SEALER
from tests.notify import notify

DEPLOYMENT = DEFAULT_PROGRAMME_FILE.parent / "regencies_example.toml"
ADMIN = 77
PEOPLE = [
    Person(1, "198503152010011001", "Budi", "dinkes", "Siti", "3205014501900001"),
    Person(2, "198503152010011002", "Slamet", "kdl-dinkes", "Sri", "3324124501900002"),
    Person(3, "198503152010011003", "Andi", "mjn-dinkes", "Hasna", "7605014501900003"),
    Person(4, "198503152010011004", "Rahma", "mjn-disdikpora", "Nur", "7605014501900004"),
]


@pytest.fixture
def database_url(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's; default output files land here
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_KEY", base64.b64encode(bytes(range(32))).decode())
    monkeypatch.setenv("ADMIN_IDS", str(ADMIN))
    monkeypatch.setenv("PROGRAMME_FILE", str(DEPLOYMENT))
    return database_url


@pytest.fixture
def references(engine: Engine) -> dict[int, str]:
    found = seed(Repository(engine, SEALER, notify=notify), PEOPLE)
    add_deductions(engine, list(found.values()))
    return found


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def details(engine: Engine) -> list[str | None]:
    with Session(engine) as session:
        return [entry.detail for entry in audit.entries(session)]


def test_stats_of_one_regency(
    engine: Engine, references: dict[int, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "stats", "--regency", "76.05", "--format", "json")
    assert status == 0, err
    document = json.loads(out)
    codes = {a["agency_code"] for a in document["agencies"]}
    assert len(codes) == 33 and all(code.startswith("mjn-") for code in codes)
    assert {a["agency_code"] for a in document["areas"]} == {"mjn-dinkes", "mjn-disdikpora"}
    status, out, _ = run(capsys, "stats", "--regency", "33.24")
    assert "Agencies taking part: 1 of 36" in out, out
    status, out, _ = run(capsys, "stats")
    assert "Agencies taking part: 4 of 113" in out, out
    assert details(engine)[0] == "format=json agencies=76.05"
    status, _, err = run(capsys, "stats", "--regency", "32.04")
    assert status == 2 and "no regency '32.04'" in err
    with pytest.raises(SystemExit, match="2"):  # one or the other
        cli(["stats", "--regency", "76.05", "--agency", "dinkes"])


def test_deductions_of_one_regency(
    engine: Engine,
    references: dict[int, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    status, out, err = run(
        capsys, "export", "deductions", "--month", "2026-12", "--regency", "76.05"
    )
    assert status == 0, err
    assert Path(out.strip()).name == "potongan-2026-12-76.05.xlsx"
    book = openpyxl.load_workbook(tmp_path / "potongan-2026-12-76.05.xlsx")
    assert book.sheetnames == ["mjn-dinkes", "mjn-disdikpora", "Pernyataan"]
    assert "2 rows" in err
    assert details(engine)[-1] == "month=2026-12 agency=76.05 file"
    status, _, err = run(capsys, "export", "deductions", "--month", "2026-12", "--regency", "99")
    assert status == 2 and "no such regency" in err


def test_a_regency_code_grants_its_agencies(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "admin", "add", "--role", "operator", "--agency", "33.24", "5001")
    assert status == 0, err
    kendal = load_programme(DEPLOYMENT).catalog.agencies_of("33.24")
    assert staff_rows(database_url) == sorted((5001, a.code, "operator") for a in kendal)
    # A treasurer belongs to one agency: a regency is refused for them.
    status, _, err = run(capsys, "admin", "add", "--role", "treasurer", "--agency", "76.05", "5002")
    assert status == 2 and "exactly one agency" in err


def test_bpjs_of_one_regency(
    engine: Engine,
    references: dict[int, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """`peduli export bpjs --regency`: only the workers of that regency's sponsors."""
    status, out, err = run(capsys, "export", "bpjs", "--regency", "76.05")
    assert status == 0, err
    path = Path(out.strip())
    assert path.name.startswith("bpjs-bpu-76.05-") and path.suffix == ".csv"
    exported = path.read_text(encoding="utf-8")
    assert "7605014501900003" in exported and "7605014501900004" in exported
    assert "3205014501900001" not in exported and "3324124501900002" not in exported
    assert "2 rows" in err
    assert details(engine)[-1] == "full_nik format=csv since=- regency=76.05"
    status, out, err = run(capsys, "export", "bpjs", "--output", str(tmp_path / "all.csv"))
    assert status == 0 and "4 rows" in err, err
    status, _, err = run(capsys, "export", "bpjs", "--regency", "99")
    assert status == 2 and "no such regency" in err
