"""/statistik names the most frequent jobs and counts the rest in one item (a list of fifteen
jobs would not read on a phone); every relationship is named."""

from __future__ import annotations

from datetime import date

from bot.i18n import Renderer
from bot.statistics_render.chat import SHOWN_GROUPS, summary
from bot.storage.statistics import STATE_GROUPS, Counts, GroupStatistics, Statistics
from tests.unit.flowkit import PROGRAMME


def _group(code: str | None, active: int) -> GroupStatistics:
    states = {**dict.fromkeys(STATE_GROUPS, 0), "active": active}
    return GroupStatistics(code, Counts(signed_up=active, states=states))


def test_the_summary_names_six_jobs_and_counts_the_others() -> None:
    codes = ["art", "sopir", "ojek", "petani", "pedagang", "buruh_harian", "nelayan", "marbot"]
    stats = Statistics(
        month=date(2026, 12, 1),
        agencies=(),
        districts=(),
        villages=(),
        catalog_agencies=0,
        jobs=tuple(_group(code, 9 - n) for n, code in enumerate(codes)),
        relationships=(_group("tetangga", 5), _group(None, 3)),
    )
    text = summary(stats, PROGRAMME.catalog, Renderer("id"), all_agencies=True).text
    assert SHOWN_GROUPS == 6
    assert "Asisten rumah tangga 9 · Sopir 8 · Ojek / ojol 7" in text
    assert "Buruh harian lepas 4 · 2 pekerjaan lain" in text and "Nelayan" not in text
    assert "Tetangga 5 · belum dicatat 3" in text
    english = summary(stats, PROGRAMME.catalog, Renderer("en"), all_agencies=True).text
    assert "Household assistant 9" in english and "2 other kinds of work" in english


def test_nothing_registered_adds_no_line() -> None:
    stats = Statistics(date(2026, 12, 1), (), (), (), 0)
    text = summary(stats, PROGRAMME.catalog, Renderer("id"), all_agencies=True).text
    assert "Pekerjaan pekerja" not in text and "Hubungan pekerja" not in text
