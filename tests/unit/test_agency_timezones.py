"""The agencies CSV's optional timezone column (issue 9): WIB/WITA/WIT or an IANA name, empty
for the programme's own; anything else is refused with the file and line."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.catalog import CatalogError, load_agencies
from bot.storage.reminders import Zones
from flows.catalog import Catalog


def write(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "agencies.csv"
    path.write_text("code,name,search_terms,timezone\n" + rows, encoding="utf-8")
    return path


def test_time_zones_by_their_indonesian_names_or_iana(tmp_path: Path) -> None:
    agencies = load_agencies(write(tmp_path, "a,A,,\nb,B,,WITA\nc,C,,wit\nd,D,,Asia/Makassar\n"))
    assert [a.timezone for a in agencies] == [
        None,
        "Asia/Makassar",
        "Asia/Jayapura",
        "Asia/Makassar",
    ]
    catalog = Catalog.__new__(Catalog)
    object.__setattr__(catalog, "agencies", agencies)
    zones = Zones.of(catalog, ZoneInfo("Asia/Jakarta"))
    assert zones.zone("a") == ZoneInfo("Asia/Jakarta")
    assert zones.zone("c") == ZoneInfo("Asia/Jayapura")
    assert zones.zone(None) == ZoneInfo("Asia/Jakarta")


@pytest.mark.parametrize("bad", ["WITB", "Mars/Olympus", "../etc"])
def test_an_unknown_time_zone_is_refused_with_its_line(tmp_path: Path, bad: str) -> None:
    with pytest.raises(CatalogError, match=r"agencies\.csv:3: timezone"):
        load_agencies(write(tmp_path, f"a,A,,\nb,B,,{bad}\n"))


def test_the_column_is_optional(tmp_path: Path) -> None:
    path = tmp_path / "agencies.csv"
    path.write_text("code,name\na,A\n", encoding="utf-8")
    assert load_agencies(path)[0].timezone is None
