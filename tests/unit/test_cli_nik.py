from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.cli import nik as cli_nik

ROOT = Path(__file__).resolve().parents[2]
VALID = "3205011503850001"  # Garut Kota, born 1985-03-15, male
VALID_FEMALE = "3205415503850002"  # Pangatikan (32.05.41), born 1985-03-15, female
OLD_MERAUKE = "9101015005800001"  # valid, region code from before 2022
BAD_SERIAL = "3205011503850000"
TODAY = date(2025, 6, 15)


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "nik", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_valid_and_invalid_mix_exits_1() -> None:
    result = run(VALID, BAD_SERIAL, "12345")
    assert result.returncode == 1, result.stderr
    valid, bad_serial, short = lines(result.stdout)
    assert valid == {
        "input_masked": "3205********0001",
        "valid": True,
        "errors": [],
        "warnings": [],
        "birth_date": "1985-03-15",
        "sex": "M",
        "province": "Jawa Barat",
        "regency": "Kabupaten Garut",
        "district": "Garut Kota",
        "province_code": "32",
        "regency_code": "32.05",
        "district_code": "32.05.01",
    }
    assert bad_serial["valid"] is False
    assert [e["code"] for e in bad_serial["errors"]] == ["serial"]
    assert all(isinstance(e["message"], str) and e["message"] for e in bad_serial["errors"])
    assert short["input_masked"] == "*****"
    assert [e["code"] for e in short["errors"]] == ["format"]
    assert short["province_code"] is None and short["birth_date"] is None


def test_all_valid_exits_0() -> None:
    result = run(VALID, "3205 4155 0385 0002", OLD_MERAUKE)
    assert result.returncode == 0, result.stderr
    _, female, merauke = lines(result.stdout)
    assert female["sex"] == "F" and female["district_code"] == "32.05.41"
    assert merauke["valid"] is True
    assert [w["code"] for w in merauke["warnings"]] == ["region_unknown"]
    assert merauke["regency"] is None and merauke["regency_code"] == "91.01"


def test_stdin_mode_skips_blank_lines() -> None:
    result = run(stdin=f"{VALID}\n\n   \n {VALID_FEMALE} \n")
    assert result.returncode == 0, result.stderr
    assert [line["input_masked"] for line in lines(result.stdout)] == [
        "3205********0001",
        "3205********0002",
    ]


def test_no_nik_at_all_exits_2() -> None:
    result = run(stdin="\n  \n")
    assert result.returncode == 2
    assert result.stdout == ""


def test_raw_nik_never_printed() -> None:
    niks = [VALID, VALID_FEMALE, OLD_MERAUKE, BAD_SERIAL, "3205-0115-0385-0001"]
    result = run(*niks)
    for raw in niks:
        digits = raw.replace("-", "")
        assert digits not in result.stdout
        assert digits[4:12] not in result.stdout
    assert "1503850" not in result.stdout


def test_does_not_import_framework_or_database() -> None:
    code = (
        "import io, sys\n"
        "from bot.cli import main\n"
        "sys.stdout = io.StringIO()\n"
        f"status = main(['nik', '{VALID}'])\n"
        "sys.stdout = sys.__stdout__\n"
        "heavy = ('aiogram', 'telegram', 'sqlalchemy', 'sqlmodel')\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "print(status, loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0 []"


def test_main_in_process_with_fixed_today() -> None:
    out = io.StringIO()
    # Born 2025-06-16 can only be 1925 on 2025-06-15; on 2025-06-16 it is a newborn.
    assert cli_nik.main(["3205011606250001"], io.StringIO(), out, today=TODAY) == 0
    assert json.loads(out.getvalue())["birth_date"] == "1925-06-16"
    out = io.StringIO()
    assert cli_nik.main(["3205011606250001"], io.StringIO(), out, today=date(2025, 6, 16)) == 0
    assert json.loads(out.getvalue())["birth_date"] == "2025-06-16"


def test_messages_from_locale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locale = tmp_path / "en.toml"
    locale.write_text(
        '[nik.error]\nserial = "Serial number cannot be 0000."\n'
        '[nik.warning]\nregion_unknown = "Region code not in the current list."\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(cli_nik, "LOCALE_FILE", locale)
    out = io.StringIO()
    assert cli_nik.main([BAD_SERIAL, "123", OLD_MERAUKE], io.StringIO(), out, today=TODAY) == 1
    bad, short, merauke = (json.loads(line) for line in out.getvalue().splitlines())
    assert bad["errors"] == [{"code": "serial", "message": "Serial number cannot be 0000."}]
    # A key missing from the locale file falls back to the code.
    assert short["errors"] == [{"code": "format", "message": "format"}]
    assert merauke["warnings"] == [
        {"code": "region_unknown", "message": "Region code not in the current list."}
    ]


@pytest.mark.parametrize("content", [None, "this is [not toml", "nik = 3\n"])
def test_missing_or_broken_locale_falls_back(tmp_path: Path, content: str | None) -> None:
    locale = tmp_path / "en.toml"
    if content is not None:
        locale.write_text(content, encoding="utf-8")
    assert cli_nik.load_messages(locale) == {}
