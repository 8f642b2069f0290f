"""Issue 12: what a domain event's notices tell (the benefits of the coverage message) and a
worker's item in /status are worded by the sponsor's agency's regency's programme, not the
deployment's or the reader's own regency's."""

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


def test_a_worker_item_in_status_is_worded_by_its_sponsors_regency() -> None:
    """A Majene ASN who is also the worker of a Kendal ASN: the Kendal sponsorship's programme
    (JKK + JKM + JHT, which Majene does not offer) is named by Kendal's catalog, not shown as
    its code."""
    from bot.presenters import status
    from bot.storage.views import SponsorView, UserRecord, WorkerSponsorshipView

    programme = load_programme(DATA / "regencies_example.toml")
    majene = programme.for_agency("mjn-dinkes")
    record = UserRecord(
        user_id=1,
        language="id",
        sponsor=SponsorView(1, "Andi", "mjn-dinkes", "1985**********1001", "PNS", "+62812****7890"),
        open_sponsorships=0,
        worker_sponsorships=1,
    )
    as_worker = [
        WorkerSponsorshipView(
            reference="PR-KENDAL",
            sponsor_name="Slamet",
            agency_code="kdl-dinkes",
            programme_code="jkk_jkm_jht",
            monthly_amount=20_300,
            status="confirmed",
            coverage_start=None,
            kpj_masked=None,
        )
    ]
    zone = majene.timezone
    assert majene.catalog.programme("jkk_jkm_jht") is None  # what the old wording fell back to
    shown = status(
        record, [], as_worker, majene.catalog, zone, Renderer("id"), catalog_of=programme.catalog_of
    ).text
    assert "JKK + JKM + JHT" in shown and "Rp20.300" in shown, shown
