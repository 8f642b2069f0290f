"""`peduli coverage import` with files that are broken or hostile: refused whole with exit
status 2 and the line, every problem of a row reported, nothing raw reaches the terminal."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.coverage import CoverageFileError, read_rows, shown
from tests.integration.test_coverage_import import (
    KPJ_A,
    KPJ_B,
    NIK_B,
    SQLITE_ONLY,
    counts,
    database_url,  # noqa: F401  (the fixture with the environment the command reads)
    references,  # noqa: F401
    run,
    state,
    write,
)

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
HEADER = "reference,nik,kpj,start_date"


def refused_whole(
    tmp_path: Path, engine: Engine, capsys: pytest.CaptureFixture[str], *lines: str
) -> str:
    """Imports the file (really, not a dry run): exit status 2, nothing written; the error."""
    before = state(engine)
    path = write(tmp_path, "bad.csv", *lines)
    code, out, err = run("coverage", "import", str(path), capsys=capsys)
    assert code == 2, (out, err)
    assert out == ""
    assert state(engine) == before
    assert "Traceback" not in err
    return err


@SQLITE_ONLY
def test_a_cell_over_the_csv_limit_refuses_the_file_with_exit_2(
    tmp_path: Path,
    engine: Engine,
    references: dict[str, str],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    huge = "9" * (csv.field_size_limit() + 1)
    err = refused_whole(
        tmp_path,
        engine,
        capsys,
        HEADER,
        f"{references['A']},,{KPJ_A},2026-05-01",  # valid, and not imported either
        f"{references['B']},,{huge},2026-05-01",
    )
    assert "line 3" in err and "longer than" in err
    assert len(err) < 500


@SQLITE_ONLY
@pytest.mark.parametrize(
    "broken",
    [
        '"{B},,{kpj},2026-05-01',  # never closed: swallows the rest of the file
        '"{B},,{kpj},2026-05-01\n{B}",,{kpj},2026-05-01',  # closed two lines later
        '{B},"{kpj},2026-05-01\n{B},,{kpj}",2026-05-01',
    ],
)
def test_a_quote_left_open_refuses_the_file_and_names_the_line(
    tmp_path: Path,
    engine: Engine,
    references: dict[str, str],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    broken: str,
) -> None:
    err = refused_whole(
        tmp_path,
        engine,
        capsys,
        HEADER,
        f"{references['A']},,{KPJ_A},2026-05-01",
        broken.format(B=references["B"], kpj=KPJ_B),
        f"{references['A']},,{KPJ_A},2026-05-01",
        f"{references['C']},,{KPJ_A},2026-05-01",
    )
    assert "line 3" in err and "quote" in err


@SQLITE_ONLY
def test_a_quote_inside_a_quoted_cell_refuses_the_file(
    tmp_path: Path,
    engine: Engine,
    references: dict[str, str],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = refused_whole(
        tmp_path, engine, capsys, HEADER, f'"{references["A"]}"x,,{KPJ_A},2026-05-01'
    )
    assert "line 2" in err


@SQLITE_ONLY
def test_cells_echoed_to_the_terminal_carry_no_control_characters(
    tmp_path: Path,
    engine: Engine,
    references: dict[str, str],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    hostile = "PR-\x1b[2J\x1b]0;owned\x07\x00\u202eX\x08\x7f" + "A" * 5000
    path = write(
        tmp_path,
        "hostile.csv",
        HEADER,
        f"{hostile},,{KPJ_A},2026-05-01",
        f"PR-ZZZZZZ,,{KPJ_A},\x1b[31m{'9' * 300}",
    )
    code, out, err = run("coverage", "import", str(path), "--dry-run", capsys=capsys)
    assert code == 1
    for output in (out, err):
        assert not any(c in output for c in "\x1b\x07\x00\u202e\x08\x7f")
        assert all(line.isprintable() for line in output.splitlines())
        assert all(len(line) < 400 for line in output.splitlines())
    assert "PR-\\x1b[2J\\x1b]0;OWNED\\x07\\x00\\u202eX" in out
    assert f"({len(hostile)} characters)" in out and "\\x1b[31m" in out


@SQLITE_ONLY
def test_every_problem_of_a_row_is_reported(
    tmp_path: Path,
    engine: Engine,
    references: dict[str, str],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write(
        tmp_path,
        "many.csv",
        HEADER,
        ",12345,12-34,2026-13-01",
        "PR-A B!,,,",
        f"{references['A']},{NIK_B},{KPJ_A},tomorrow",
    )
    code, out, _err = run("coverage", "import", str(path), "--dry-run", capsys=capsys)
    assert code == 1 and counts(out)["invalid"] == 3
    lines = {line.split(":", 1)[0].strip(): line for line in out.splitlines() if "line " in line}
    assert all(
        reason in lines["line 2"]
        for reason in ("nik must be 16 digits", "kpj must be", "'2026-13-01' is not a date")
    )
    assert all(
        reason in lines["line 3"]
        for reason in ("not a reference code", "kpj must be", "start_date '' is not a date")
    )
    assert "exactly one" in lines["line 4"] and "'tomorrow' is not a date" in lines["line 4"]


@SQLITE_ONLY
def test_digits_of_other_scripts_and_other_date_forms_are_read(
    tmp_path: Path,
    engine: Engine,
    references: dict[str, str],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write(
        tmp_path,
        "arabic.csv",
        HEADER,
        f"{references['A']},,{KPJ_A.translate(ARABIC_INDIC)},1 Mei 2026",
        f",{NIK_B.translate(ARABIC_INDIC)},{KPJ_B},٠١/٠٥/٢٠٢٦",
    )
    code, out, _err = run("coverage", "import", str(path), "--dry-run", capsys=capsys)
    assert code == 0, out
    assert counts(out)["would activate"] == 2


def test_shown_values() -> None:
    assert shown("PR-ABC") == "PR-ABC"
    assert shown("a\x1bb\x00\x07") == "a\\x1bb\\x00\\x07"
    assert shown("x" * 41) == "x" * 40 + "... (41 characters)"
    assert shown("\U000e0041") == "\\U000e0041"


def test_reading_stops_at_the_first_unreadable_record() -> None:
    rows = read_rows(f'{HEADER}\nPR-AAAAAA,,{KPJ_A},2026-05-01\n"PR-B,,1,2\nPR-C,,1,2\n')
    assert next(rows).line == 2  # type: ignore[union-attr]
    with pytest.raises(CoverageFileError, match="line 3"):
        next(rows)
