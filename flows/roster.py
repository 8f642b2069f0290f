"""Reading a roster of civil servants (`peduli roster import`): CSV text in, checked rows and
problems with line numbers out. Pure: the host reads the file and stores the rows.

Columns (header row, any order, any case): nip, name (or nama), agency (or instansi): the
agency's code in the catalog. Comma or semicolon separated. Blank rows are skipped. Each bad row
is reported with every problem it has; a NIP appearing twice is reported at its second line.
The NIP is checked like an ASN's at sign-up (flows.validators.nip) and the name normalised like
one (flows.validators.names). A problem never carries the NIP itself, only its masked form.
"""

from __future__ import annotations

import csv
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date

from flows.validators.masking import mask_nip
from flows.validators.names import check_person_name
from flows.validators.nip import check_nip

COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "nip": ("nip",),
    "name": ("name", "nama", "full_name", "nama_lengkap"),
    "agency": ("agency", "instansi", "agency_code", "kode_instansi"),
}


class RosterFileError(ValueError):
    """The file as a whole cannot be read (no header, a column missing, a broken quote)."""


@dataclass(frozen=True)
class RosterRow:
    line: int
    nip: str  # 18 digits, checked
    full_name: str  # normalised
    agency_code: str


@dataclass(frozen=True)
class RosterProblem:
    line: int
    nip_masked: str
    reasons: tuple[str, ...]  # codes: "nip:format", "name:too_short", "agency:unknown", ...


@dataclass
class RosterParse:
    rows: list[RosterRow] = field(default_factory=list)
    problems: list[RosterProblem] = field(default_factory=list)


def _columns(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    normalised = [cell.strip().lower().replace(" ", "_") for cell in header]
    for column, names in COLUMN_NAMES.items():
        index = next((i for i, cell in enumerate(normalised) if cell in names), None)
        if index is None:
            raise RosterFileError(f"the header has no column {column!r} ({', '.join(names)})")
        found[column] = index
    return found


def parse_roster(text: str, agency_codes: Collection[str], today: date) -> RosterParse:
    """Every row of the file, checked. RosterFileError when the file cannot be read at all."""
    lines = text.splitlines()
    if not lines:
        raise RosterFileError("the file is empty")
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    try:
        records = list(csv.reader(lines, delimiter=delimiter, strict=True))
    except csv.Error as error:
        raise RosterFileError(f"not a readable CSV file: {error}") from error
    columns = _columns(records[0])
    result = RosterParse()
    seen: dict[str, int] = {}
    for line, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        _check_row(line, record, columns, agency_codes, today, seen, result)
    return result


def _cell(record: list[str], index: int) -> str:
    return record[index] if index < len(record) else ""


def _check_row(
    line: int,
    record: list[str],
    columns: dict[str, int],
    agency_codes: Collection[str],
    today: date,
    seen: dict[str, int],
    result: RosterParse,
) -> None:
    raw_nip = _cell(record, columns["nip"])
    nip = check_nip(raw_nip, today)
    name = check_person_name(_cell(record, columns["name"]))
    agency = _cell(record, columns["agency"]).strip()
    reasons: list[str] = [f"nip:{e}" for e in nip.errors]
    reasons += [f"name:{e}" for e in name.errors]
    if not agency:
        reasons.append("agency:missing")
    elif agency not in agency_codes:
        reasons.append("agency:unknown")
    if nip.valid and nip.nip is not None and nip.nip in seen:
        reasons.append(f"nip:duplicate_of_line_{seen[nip.nip]}")
    # An unreadable NIP is shown as stars only: nothing of it reaches a terminal.
    masked = mask_nip(nip.nip) if nip.nip is not None else "*" * min(len(raw_nip.strip()), 18)
    if reasons or nip.nip is None or name.value is None:
        result.problems.append(RosterProblem(line, masked, tuple(reasons)))
        return
    seen[nip.nip] = line
    result.rows.append(RosterRow(line, nip.nip, name.value, agency))
