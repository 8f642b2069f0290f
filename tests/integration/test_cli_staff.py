"""`peduli admin add|list|remove` and `peduli audit` through bot.cli.main, on SQLite and
PostgreSQL: output, refusals on stderr with exit status 2 and no traceback, nothing written when
refused, an unmigrated database or another data key refused."""

from __future__ import annotations

import base64
import csv
import io
from pathlib import Path

import pytest

from bot.cli import main as cli
from bot.storage.db import create_db_engine
from tests.integration.test_storage_worker import rows

KEY = base64.b64encode(bytes(range(32))).decode()
ADMIN = 77


@pytest.fixture
def database_url(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_KEY", KEY)
    monkeypatch.setenv("ADMIN_IDS", str(ADMIN))
    return database_url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def staff_rows(url: str) -> list[tuple[object, ...]]:
    engine = create_db_engine(url)
    try:
        found = rows(engine, "SELECT user_id, agency_code, role FROM staff_roles ORDER BY 1, 2")
        return [tuple(row.values()) for row in found]
    finally:
        engine.dispose()


def test_add_list_replace_remove_and_the_audit(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys, "admin", "add", "--role", "operator", "--agency", "dinkes", "SETDA", "5001"
    )
    assert status == 0 and "5001 is now operator for dinkes, setda" in out
    assert staff_rows(database_url) == [(5001, "dinkes", "operator"), (5001, "setda", "operator")]
    status, out, _ = run(
        capsys, "admin", "add", "--role", "treasurer", "--agency", "disdik", "5001"
    )
    assert status == 0 and "replaces their earlier role: operator for dinkes, setda" in out
    assert staff_rows(database_url) == [(5001, "disdik", "treasurer")]
    status, out, _ = run(capsys, "admin", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["id", "role", "agencies", "granted", "at"]
    assert lines[1].split()[:3] == [str(ADMIN), "superadmin", "*"]
    assert lines[2].split()[:3] == ["5001", "treasurer", "disdik"]
    assert lines[2].split()[-1] == "WIB"  # the time's zone is named (the default is Garut's)
    status, out, _ = run(capsys, "admin", "remove", "5001")
    assert status == 0 and "5001 is no longer treasurer" in out
    assert staff_rows(database_url) == []
    status, out, _ = run(capsys, "audit")
    table = out.splitlines()
    assert table[0].split() == ["id", "at", "actor", "channel", "action", "scope", "rows", "detail"]
    # id, day, time and zone of "at", actor, channel, action, scope, rows, detail
    cells = [line.split() for line in table[1:]]
    assert all(c[3] == "WIB" for c in cells)
    assert [c[6] for c in cells] == ["staff.grant", "staff.grant", "staff.revoke"]
    assert all(c[4] == "cli" and c[5] == "cli" and c[7] == "*" for c in cells)
    assert [c[8] for c in cells] == ["2", "1", "1"]
    status, out, _ = run(capsys, "audit", "--action", "staff.revoke", "--format", "csv")
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert status == 0 and [(r["action"], r["rows"], r["actor"]) for r in parsed] == [
        ("staff.revoke", "1", "cli")
    ]
    status, out, _ = run(capsys, "audit", "--since", "2999-01-01")
    assert status == 0 and out.strip() == "(no audit entries)"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--role", "treasurer", "--agency", "dinkes", "setda", "5001"], "exactly one agency"),
        (
            ["--role", "operator", "--agency", "dinkes", "nope", "5001"],
            "nope: not in the programme",
        ),
        (["--role", "operator", "--agency", "dinkes", str(ADMIN)], "superadmin"),
    ],
)
def test_refused_grants_write_nothing(
    database_url: str, capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    status, out, err = run(capsys, "admin", "add", *argv)
    assert status == 2 and out == "" and said in err
    assert staff_rows(database_url) == []
    assert run(capsys, "audit")[1].strip() == "(no audit entries)"


def test_removing_a_superadmin_or_nobody_is_refused(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "admin", "remove", str(ADMIN))
    assert status == 2 and "superadmin" in err
    status, _, err = run(capsys, "admin", "remove", "5001")
    assert status == 2 and "no staff role" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["admin", "add", "--role", "operator", "--agency", "dinkes"],
        ["admin", "add", "--role", "operator", "--agency", "dinkes", "x12"],
        ["admin", "add", "--role", "boss", "--agency", "dinkes", "5001"],
        ["admin", "remove", "-5"],
        ["audit", "--since", "yesterday"],
        ["audit", "--format", "xml"],
    ],
)
def test_malformed_arguments_exit_2_with_the_usage(
    database_url: str, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "Traceback" not in err


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unmigrated_database_or_another_key_is_refused(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    for argv in (["admin", "list"], ["audit"], ["admin", "remove", "5"]):
        status, _, err = run(capsys, *argv)
        assert status == 2 and "peduli db upgrade" in err
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert run(capsys, "admin", "list")[0] == 0  # records KEY as the database's
    monkeypatch.setenv("DATA_KEY", base64.b64encode(b"x" * 32).decode())
    for argv in (
        ["admin", "list"],
        ["audit"],
        ["admin", "add", "--role", "operator", "--agency", "dinkes", "5"],
    ):
        status, _, err = run(capsys, *argv)
        assert status == 2 and "DATA_KEY" in err
    assert staff_rows(database_url) == []
