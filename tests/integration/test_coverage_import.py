"""`peduli coverage import`: dry run vs real, twice, counts, exit codes, masked output."""

from __future__ import annotations

import base64
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from bot.cli import main as cli
from bot.coverage import CoverageFileError, import_coverage, parse_date, read_rows
from bot.storage.repository import Repository
from flows.commands import Applied, InvitationOpened, OpenInvitation, RecordInPersonConsent
from flows.text import t
from tests.integration.test_storage_repository import SEALER, register, submit, text_hash
from tests.integration.test_storage_worker import worker_consent
from tests.notify import notify

PROJECT = Path(__file__).resolve().parents[2]
SPONSOR = 1
WORKER = 2
ADMIN = 900
NIK_A = "3205014501900001"  # linked worker, matched by reference
NIK_B = "3205014501900002"  # consent recorded in person, matched by NIK
NIK_C = "3205014501900003"  # still waiting for the worker
NIK_UNKNOWN = "3205014501900009"
KPJ_A = "11111111111"
KPJ_B = "22222222222"
KPJ_C = "33333333333"
AT = datetime(2026, 3, 10, tzinfo=UTC)


@pytest.fixture
def database_url(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The migrated database, and what `peduli coverage import` reads: its URL, a key, the
    admins."""
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_KEY", base64.b64encode(bytes(range(32))).decode())
    monkeypatch.setenv("ADMIN_IDS", str(ADMIN))
    return database_url


@pytest.fixture
def references(engine: Engine) -> dict[str, str]:
    """Three sponsorships: A confirmed by the worker in Telegram, B confirmed in person, C
    waiting for the worker."""
    repo = Repository(engine, SEALER, notify=notify, max_sponsorships_per_sponsor=5)
    repo.apply(SPONSOR, [register(SPONSOR)])
    found: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for name, nik in (("A", NIK_A), ("B", NIK_B), ("C", NIK_C)):
        [outcome] = repo.apply(
            SPONSOR, [submit(SPONSOR, name, nik=nik)], consent_text_hash=text_hash
        )
        assert isinstance(outcome, Applied) and outcome.reference and outcome.invitation_token
        found[name], tokens[name] = outcome.reference, outcome.invitation_token
    [opened] = repo.apply(WORKER, [OpenInvitation(WORKER, tokens["A"])])
    assert isinstance(opened, InvitationOpened)
    repo.apply(WORKER, [worker_consent(found["A"])], consent_text_hash=text_hash)  # type: ignore[list-item]
    in_person = RecordInPersonConsent(
        SPONSOR, found["B"], t("worker.in_person_statement"), "2026-03", None, AT
    )
    repo.apply(SPONSOR, [in_person], consent_text_hash=text_hash)  # type: ignore[arg-type]
    return found


SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def write(tmp_path: Path, name: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def the_file(tmp_path: Path, refs: dict[str, str]) -> Path:
    return write(
        tmp_path,
        "bpjs.csv",
        "reference,nik,kpj,start_date",
        f"{refs['A'].lower()},,{KPJ_A},2026-05-01",  # matched by reference (any case)
        f",{NIK_B[:4]} {NIK_B[4:8]} {NIK_B[8:]},{KPJ_B},01/05/2026",  # by NIK, spaces allowed
        f"{refs['C']},,{KPJ_C},01-05-2026",  # refused: waiting for the worker
        f"PR-ZZZZZZ,,{KPJ_C},2026-05-01",  # unmatched reference
        f",{NIK_UNKNOWN},{KPJ_C},2026-05-01",  # unmatched NIK
        f"{refs['A']},{NIK_A},{KPJ_A},2026-05-01",  # invalid: both
        f"{refs['A']},,12-34,2026-05-01",  # invalid: KPJ
        f"{refs['A']},,{KPJ_A},2026-13-01",  # invalid: date
        ",,,",  # blank: skipped
        f",,{KPJ_A},2026-05-01",  # invalid: neither
        f",12345,{KPJ_A},2026-05-01",  # invalid: NIK
        f"{refs['A']},,{KPJ_A},2026-05-01",  # the same row again: already active
    )


def run(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def state(engine: Engine) -> tuple[list[tuple[str, str]], list[tuple[str, int]]]:
    with engine.connect() as connection:
        statuses = [
            (str(r[0]), str(r[1]))
            for r in connection.execute(
                sa.text("SELECT reference, status FROM sponsorships ORDER BY reference")
            )
        ]
        messages = [
            (str(r[0]), int(r[1]))
            for r in connection.execute(
                sa.text("SELECT dedupe_key, recipient_user_id FROM outbox ORDER BY id")
            )
        ]
    return statuses, messages


def counts(output: str) -> dict[str, int]:
    found = {}
    for line in output.splitlines():
        label, _, number = line.strip().rpartition(":")
        if number.strip().isdigit() and line.startswith("  ") and "line" not in label:
            found[label.strip()] = int(number)
    return found


def test_dry_run_then_real_then_again(
    tmp_path: Path,
    engine: Engine,
    references: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = the_file(tmp_path, references)
    before = state(engine)

    code, out, err = run("coverage", "import", str(path), "--dry-run", capsys=capsys)
    assert code == 1, err  # there are invalid rows
    assert "dry run" in out
    assert counts(out) == {
        "would activate": 2,
        "already active": 1,
        "unmatched": 2,
        "refused": 1,
        "invalid": 5,
    }
    assert state(engine) == before  # nothing written

    code, out, err = run("coverage", "import", str(path), capsys=capsys)
    assert code == 1, err
    assert counts(out) == {
        "activated": 2,
        "already active": 1,
        "unmatched": 2,
        "refused": 1,
        "invalid": 5,
    }
    statuses, messages = state(engine)
    assert dict(statuses) == {
        references["A"]: "active",
        references["B"]: "active",
        references["C"]: "waiting_worker",
    }
    added = messages[len(before[1]) :]
    assert sorted(added) == sorted(
        [
            (f"coverage:{references['A']}:sponsor", SPONSOR),
            (f"coverage:{references['A']}:worker", WORKER),
            (f"coverage:{references['B']}:sponsor", SPONSOR),
        ]
    )
    lines = out.splitlines()
    assert f"  line 4: refused {references['C']}: still waiting for the worker's consent" in lines
    assert "  line 5: unmatched PR-ZZZZZZ: no sponsorship with this reference" in lines
    assert "  line 6: unmatched NIK 3205********0009: no open sponsorship with this NIK" in lines
    assert any(line.startswith("  line 7: invalid") and "exactly one" in line for line in lines)
    assert any(line.startswith("  line 8: invalid") and "kpj" in line for line in lines)
    assert any(line.startswith("  line 9: invalid") and "2026-13-01" in line for line in lines)
    assert any(line.startswith("  line 11: invalid") for line in lines)
    assert any(line.startswith("  line 12: invalid") and "nik" in line for line in lines)

    # Again: everything that was activated is already active; nothing is enqueued twice.
    after = state(engine)
    code, out, err = run("coverage", "import", str(path), capsys=capsys)
    assert code == 1
    assert counts(out) == {
        "activated": 0,
        "already active": 3,
        "unmatched": 2,
        "refused": 1,
        "invalid": 5,
    }
    assert state(engine) == after

    for output in (out, err):
        for secret in (NIK_A, NIK_B, NIK_C, NIK_UNKNOWN, KPJ_A, KPJ_B, KPJ_C):
            assert secret not in output


def test_clean_file_exits_zero_and_another_kpj_is_refused(
    tmp_path: Path,
    engine: Engine,
    references: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    clean = write(
        tmp_path,
        "clean.csv",
        "\ufeffKPJ;Start_Date;Reference",  # Excel: BOM, semicolons, other order and case
        f"{KPJ_A};2026-05-01;{references['A']}",
    )
    code, out, _err = run("coverage", "import", str(clean), capsys=capsys)
    assert code == 0
    assert counts(out)["activated"] == 1
    other = write(
        tmp_path,
        "other.csv",
        "reference,kpj,start_date",
        f"{references['A']},44444444444,2026-05-01",
    )
    code, out, _err = run("coverage", "import", str(other), capsys=capsys)
    assert code == 0  # refused is not invalid
    assert counts(out)["refused"] == 1
    assert "already active with another KPJ number" in out
    assert "44444444444" not in out


@SQLITE_ONLY
def test_unusable_file_or_database(
    tmp_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = write(tmp_path, "cols.csv", "reference,kpj", "PR-AAAAAA,11111111111")
    code, _out, err = run("coverage", "import", str(missing), capsys=capsys)
    assert code == 2 and "start_date" in err
    code, _out, err = run("coverage", "import", str(tmp_path / "nope.csv"), capsys=capsys)
    assert code == 2 and "nope.csv" in err


def test_database_not_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    monkeypatch.setenv("DATA_KEY", base64.b64encode(bytes(range(32))).decode())
    path = write(tmp_path, "f.csv", "reference,kpj,start_date")
    code, _out, err = run("coverage", "import", str(path), "--dry-run", capsys=capsys)
    assert code == 2 and "peduli db upgrade" in err


def test_reading_rows() -> None:
    assert parse_date("2026-05-01") == parse_date("01/05/2026") == parse_date(" 01-05-2026 ")
    assert parse_date("2026-05-01") == date(2026, 5, 1)
    assert parse_date("05/2026") is None
    with pytest.raises(CoverageFileError, match="empty"):
        list(read_rows(""))
    with pytest.raises(CoverageFileError, match="reference or nik"):
        list(read_rows("kpj,start_date\n"))
    [problem] = list(read_rows("reference,kpj,start_date\nPR-A,1,2,3,4\n"))
    assert problem.result == "invalid" and "more cells" in problem.reason  # type: ignore[union-attr]


@SQLITE_ONLY
def test_empty_file_body_reports_nothing(engine: Engine) -> None:
    repo = Repository(engine, SEALER, notify=notify)
    report = import_coverage(repo, "reference,kpj,start_date\n")
    assert report.exit_code == 0 and sum(report.counts.values()) == 0


def test_command_loads_neither_framework() -> None:
    code = (
        "import sys\n"
        "from bot.cli import main\n"
        "import bot.cli.coverage, bot.coverage\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('aiogram', 'telegram')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT, check=True, timeout=60)


@SQLITE_ONLY
def test_module_main_takes_the_words_after_coverage(
    tmp_path: Path,
    engine: Engine,
    references: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.cli.coverage import main as coverage_main

    path = write(
        tmp_path, "one.csv", "reference,kpj,start_date", f"{references['A']},{KPJ_A},2026-05-01"
    )
    assert coverage_main(["import", str(path), "--dry-run"]) == 0
    assert "would activate: 1" in capsys.readouterr().out
    assert coverage_main(["import", str(path)]) == 0
    assert "activated:      1" in capsys.readouterr().out
