"""Issue 12: what a domain event's notices tell (the benefits of the coverage message) is worded by
the sponsor's agency's regency's programme, not the deployment's first."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from bot.catalog import load_programme
from bot.i18n import Renderer
from bot.notifications import notices_for
from bot.settings import DEFAULT_PROGRAMME_FILE
from flows.events import CoverageActivated

DATA = DEFAULT_PROGRAMME_FILE.parent


def _deployment(tmp_path: Path) -> Path:
    """Garut, then a Majene whose JKM death benefit is Rp50 million (Garut: Rp42 million)."""
    for name, agencies in (
        ("programme.toml", "agencies_garut.csv"),
        ("programme_majene.toml", "agencies_majene.csv"),
    ):
        text = (DATA / name).read_text(encoding="utf-8")
        text = text.replace(f'"{agencies}"', f'"{(DATA / agencies).as_posix()}"')
        if name == "programme_majene.toml":
            assert text.count("death_benefit = 42000000") == 1
            text = text.replace("death_benefit = 42000000", "death_benefit = 50000000")
        (tmp_path / name).write_text(text, encoding="utf-8")
    path = tmp_path / "regencies.toml"
    path.write_text('regencies = ["programme.toml", "programme_majene.toml"]\n', "utf-8")
    return path


def _activated(agency: str) -> CoverageActivated:
    return CoverageActivated(
        reference="PR-ABCDEF",
        sponsorship_id=1,
        sponsor_user_id=10,
        sponsor_name="Andi",
        worker_user_id=11,
        worker_name="Hasna",
        kpj_number="12345678901",
        coverage_start=date(2026, 12, 1),
        programme_code="jkk_jkm",
        activated_on=date(2026, 12, 1),
        agency_code=agency,
    )


def test_the_coverage_message_tells_the_sponsors_regencys_benefits(tmp_path: Path) -> None:
    programme = load_programme(_deployment(tmp_path))
    notify = notices_for(programme.catalog, programme.catalog_of)
    render = Renderer("id")
    majene = [render(notice.message) for notice in notify(_activated("mjn-dinkes"))]
    garut = [render(notice.message) for notice in notify(_activated("dinkes"))]
    assert len(majene) == 2 and all("50.000.000" in shown for shown in majene), majene
    assert all("42.000.000" in shown and "50.000.000" not in shown for shown in garut), garut
