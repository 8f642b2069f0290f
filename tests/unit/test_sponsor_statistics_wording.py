"""Issue 12: once sponsors other than ASN are counted (a village, BAZNAS, a company), every
statistics format says "penanggung"/"sponsors" where it counts every sponsor: the workbook's
columns, the `peduli stats` table, /statistik's kecamatan and desa lines, the regency line and
the agencies with nobody yet. ASN-only statistics read as before."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date

import pytest

from bot.i18n import Renderer
from bot.statistics_render import chat as statistics_chat
from bot.statistics_render.text_formats import render_table
from bot.statistics_render.workbook import write_workbook
from bot.storage.statistics import (
    STATE_GROUPS,
    AgencyStatistics,
    AreaStatistics,
    Counts,
    FunderStatistics,
    Statistics,
)
from tests.unit.flowkit import PROGRAMME

CATALOG = PROGRAMME.catalog
[FIRST, SECOND, *_] = [agency.code for agency in CATALOG.agencies]
COUNTS = Counts(3, {**dict.fromkeys(STATE_GROUPS, 0), "active": 2}, 2, 33600)
ASN_ONLY = (FunderStatistics("asn", 3, 2),)
WITH_A_VILLAGE = (*ASN_ONLY, FunderStatistics("desa", 1, 40))


def statistics(funders: tuple[FunderStatistics, ...]) -> Statistics:
    area = AreaStatistics(FIRST, "32.05.01", "Cisurupan", None, None, COUNTS)
    village = replace(area, village_code="32.05.01.2001", village_name="Sukatani")
    return Statistics(
        date(2026, 12, 1),
        (AgencyStatistics(FIRST, COUNTS), AgencyStatistics(SECOND, Counts())),
        (area,),
        (village,),
        len(CATALOG.agencies),
        funders,
    )


def workbook_text(stats: Statistics, language: str) -> set[str]:
    """Every string cell of the workbook (its labels and names)."""
    import re
    import zipfile

    target = io.BytesIO()
    write_workbook(stats, CATALOG, Renderer(language), target)
    with zipfile.ZipFile(target) as archive:
        return set(re.findall(r"<t>([^<]*)</t>", archive.read("xl/sharedStrings.xml").decode()))


@pytest.mark.parametrize(
    ("language", "asn", "sponsors"),
    [
        (
            "id",
            {"ASN ikut", "Dipotong bulan ini (Rp)", "Dinas dengan ASN yang ikut"},
            {"Penanggung terdaftar", "Dibayar bulan ini (Rp)", "Dinas dengan penanggung terdaftar"},
        ),
        (
            "en",
            {"ASN signed up", "Deducted this month (Rp)", "Agencies with ASN taking part"},
            {"Sponsors signed up", "Paid this month (Rp)", "Agencies with sponsors signed up"},
        ),
    ],
)
def test_the_workbook_columns_count_sponsors(
    language: str, asn: set[str], sponsors: set[str]
) -> None:
    shown = workbook_text(statistics(WITH_A_VILLAGE), language)
    assert sponsors <= shown and not asn & shown
    plain = workbook_text(statistics(ASN_ONLY), language)
    assert asn <= plain and not sponsors & plain


def test_the_cli_table_counts_sponsors() -> None:
    shown = render_table(statistics(WITH_A_VILLAGE), CATALOG)
    assert "Sponsors signed up: 3; ASN on the roster:" in shown
    headers = [line.split() for line in shown.splitlines() if line.startswith(("agency", "area"))]
    assert len(headers) == 2
    for header in headers:
        assert "sponsors" in header and "ASN" not in header
    plain = render_table(statistics(ASN_ONLY), CATALOG)
    assert "ASN signed up: 3; on the roster:" in plain
    assert all(
        "ASN" in line.split() for line in plain.splitlines() if line.startswith(("agency", "area"))
    )


def test_the_kecamatan_and_desa_lines_count_sponsors() -> None:
    render = Renderer("id")
    shown = statistics_chat.agency_detail(statistics(WITH_A_VILLAGE), FIRST, CATALOG, render).text
    assert "Kec. Cisurupan</b>: penanggung 3" in shown
    assert "Sukatani: penanggung 3" in shown
    assert "ASN 3" not in shown
    plain = statistics_chat.agency_detail(statistics(ASN_ONLY), FIRST, CATALOG, render).text
    assert "Kec. Cisurupan</b>: ASN 3" in plain and "Sukatani: ASN 3" in plain


@pytest.mark.parametrize(
    ("language", "asn", "sponsors"),
    [
        (
            "id",
            ("sudah ada ASN yang ikut", "Belum ada ASN"),
            ("sudah ada penanggung", "Belum ada penanggung"),
        ),
        (
            "en",
            ("have ASN taking part", "No ASN signed up"),
            ("have sponsors signed up", "No sponsors"),
        ),
    ],
)
def test_the_summary_names_agencies_with_sponsors(
    language: str, asn: tuple[str, str], sponsors: tuple[str, str]
) -> None:
    render = Renderer(language)
    shown = statistics_chat.summary(
        statistics(WITH_A_VILLAGE), CATALOG, render, all_agencies=True
    ).text
    assert all(words in shown for words in sponsors)
    assert not any(words in shown for words in asn)
    plain = statistics_chat.summary(statistics(ASN_ONLY), CATALOG, render, all_agencies=True).text
    assert all(words in plain for words in asn)
