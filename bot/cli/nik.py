"""`peduli nik NIK...`: check NIKs and print one JSON object per NIK, the NIK itself masked.

Reads one NIK per line from standard input when none are given. Exit status: 0 when every NIK is
valid, 1 when any is not, 2 when there was no NIK at all. Imports no framework or database code.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from datetime import date
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, TextIO

from flows.validators import NikCheck, check_nik, mask_nik

LOCALE_FILE: Traversable = files("locales") / "en.toml"  # package data, as bot.i18n reads it


def load_messages(path: Traversable | None = None) -> Mapping[str, Any]:
    """The `[nik]` table of the English locale file (default `LOCALE_FILE`); empty when the file
    is missing or broken, and each message then falls back to its code."""
    try:
        with (path or LOCALE_FILE).open("rb") as file:
            data = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    nik = data.get("nik")
    return nik if isinstance(nik, dict) else {}


def _issues(codes: Iterable[str], table: object) -> list[dict[str, str]]:
    issues = []
    for code in codes:
        message = table.get(code) if isinstance(table, dict) else None
        issues.append({"code": code, "message": message if isinstance(message, str) else code})
    return issues


def to_json(raw: str, check: NikCheck, messages: Mapping[str, Any]) -> dict[str, object]:
    return {
        "input_masked": mask_nik(raw),
        "valid": check.valid,
        "errors": _issues(check.errors, messages.get("error")),
        "warnings": _issues(check.warnings, messages.get("warning")),
        "birth_date": check.birth_date.isoformat() if check.birth_date else None,
        "sex": check.sex,
        "province": check.province_name,
        "regency": check.regency_name,
        "district": check.district_name,
        "province_code": check.province_code,
        "regency_code": check.regency_code,
        "district_code": check.district_code,
    }


def main(niks: list[str], stdin: TextIO, stdout: TextIO, today: date | None = None) -> int:
    if not niks:
        niks = [line.strip() for line in stdin if line.strip()]
    if not niks:
        return 2
    today = today or date.today()
    messages = load_messages()
    all_valid = True
    for raw in niks:
        check = check_nik(raw, today)
        all_valid = all_valid and check.valid
        stdout.write(json.dumps(to_json(raw, check, messages)) + "\n")
    stdout.flush()
    return 0 if all_valid else 1
