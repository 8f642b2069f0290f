"""Issue 12: the statistics count the sponsorships per job and per relationship to the sponsor
(in SQL, within the reader's scope), and every format shows them; NULL (registered before the two
questions) is "not recorded", listed last."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.i18n import Renderer
from bot.statistics_render.chat import summary
from bot.statistics_render.text_formats import render_json, render_table
from bot.statistics_render.workbook import write_workbook
from bot.storage.statistics import Statistics, read_statistics
from tests.integration.test_storage_repository import SEALER
from tests.statskit import Worker, add_sponsors, add_sponsorships
from tests.unit.flowkit import PROGRAMME

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=ZoneInfo("Asia/Jakarta"))
AGENCIES = ("dinkes", "disdik")


def dataset(engine: Engine) -> None:
    """dinkes: two guru ngaji who are neighbours (one covered, one waiting), a household
    assistant of the household (confirmed); disdik: a relative whose job was never asked
    (withdrawn, as migrated), an ojek driver without a relationship (declined)."""
    ids = add_sponsors(
        engine, SEALER, [(1, "dinkes", 1), (2, "dinkes", 2), (3, "dinkes", 3), (4, "disdik", 4)]
    )
    add_sponsorships(
        engine,
        [
            (
                ids[1],
                Worker(
                    "active",
                    coverage_start=date(2026, 12, 1),
                    job="guru_ngaji",
                    relationship="tetangga",
                ),
            ),
            (ids[2], Worker("waiting_worker", job="guru_ngaji", relationship="tetangga")),
            (ids[3], Worker("confirmed", job="art", relationship="rumah_tangga")),
            (ids[4], Worker("withdrawn", job=None, relationship="keluarga")),
            (ids[4], Worker("declined", job="ojek", relationship=None)),
        ],
    )


def read(engine: Engine, agencies: frozenset[str] | None = None) -> Statistics:
    with Session(engine) as session:
        return read_statistics(session, agencies, now=NOW, catalog_codes=AGENCIES)


def test_sponsorships_are_counted_per_job_and_relationship(engine: Engine) -> None:
    dataset(engine)
    stats = read(engine)
    jobs = {g.code: g.counts for g in stats.jobs}
    assert [g.code for g in stats.jobs] == ["guru_ngaji", "art", "ojek", None]
    assert jobs["guru_ngaji"].sponsorships == 2 and jobs["guru_ngaji"].signed_up == 2
    assert jobs["guru_ngaji"].states["active"] == 1 and jobs["guru_ngaji"].covered == 1
    assert jobs["guru_ngaji"].states["waiting"] == 1
    assert jobs["art"].states["confirmed"] == 1 and jobs["ojek"].states["withdrawn"] == 1
    assert jobs[None].states["withdrawn"] == 1
    relationships = {g.code: g.counts.sponsorships for g in stats.relationships}
    assert relationships == {"tetangga": 2, "rumah_tangga": 1, "keluarga": 1, None: 1}
    assert stats.relationships[-1].code is None
    # Within the reader's scope only.
    dinkes = read(engine, frozenset({"dinkes"}))
    assert {g.code: g.counts.sponsorships for g in dinkes.jobs} == {"guru_ngaji": 2, "art": 1}
    assert read(engine, frozenset()).jobs == ()


def test_every_format_shows_them(engine: Engine, tmp_path: Path) -> None:
    dataset(engine)
    stats = read(engine)
    document = json.loads(render_json(stats, PROGRAMME.catalog))
    assert document["jobs"][0] == {
        "code": "guru_ngaji",
        "signed_up": 2,
        "waiting": 1,
        "confirmed": 0,
        "active": 1,
        "withdrawn": 0,
        "lapsed": 0,
        "covered": 1,
    }
    assert document["relationships"][-1]["code"] is None
    chat = summary(stats, PROGRAMME.catalog, Renderer("id"), all_agencies=True).text
    assert (
        "Pekerjaan pekerja</b>: Guru ngaji 2 · Asisten rumah tangga 1 · Ojek / ojol 1"
        " · belum dicatat 1"
    ) in chat
    assert "Hubungan pekerja dengan ASN</b>: Tetangga 2 · Keluarga / kerabat 1" in chat
    table = render_table(stats, PROGRAMME.catalog)
    assert "guru_ngaji" in table and "(not recorded)" in table and "rumah_tangga" in table
    target = tmp_path / "stats.xlsx"
    write_workbook(stats, PROGRAMME.catalog, Renderer("id"), target)
    book = openpyxl.load_workbook(target)
    assert book.sheetnames[-2:] == ["Pekerjaan", "Hubungan"]
    jobs = [list(row) for row in book["Pekerjaan"].iter_rows(values_only=True)]
    assert jobs[0][:2] == ["Nama", "Kode"]
    assert jobs[1][:3] == ["Guru ngaji", "guru_ngaji", 2]
    assert jobs[-1][:2] == ["belum dicatat", ""]
    relationships = [row[0] for row in book["Hubungan"].iter_rows(min_row=2, values_only=True)]
    assert relationships == [
        "Tetangga",
        "Keluarga / kerabat",  # one each: by code
        "Bekerja di rumah tangga saya",
        "belum dicatat",
    ]
