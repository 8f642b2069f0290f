"""Issue 12: who the worker is to the sponsor ([[relationships]]) and what they do ([[jobs]]) in
every sample programme file, and a programme file of before the split still loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog import DEFAULT_RELATIONSHIPS, CatalogError, load_programme
from bot.i18n import Renderer
from bot.settings import DEFAULT_PROGRAMME_FILE

DATA = DEFAULT_PROGRAMME_FILE.parent
SAMPLES = sorted(DATA.glob("programme*.toml"))
# The jobs issue 12 names: teachers on honorarium (guru honorer, guru ngaji), cooperative and
# micro-business workers, construction labourers, tourist sites, mosque caretakers, RT/RW and
# village officials, household assistants, drivers, ojek, farmers; and the earlier ones.
ISSUE_JOBS = {
    "guru_honorer",
    "guru_ngaji",
    "koperasi_umkm",
    "buruh_bangunan",
    "pekerja_wisata",
    "marbot",
    "rt_rw_desa",
    "art",
    "sopir",
    "ojek",
    "petani",
    "nelayan",
    "pedagang",
    "buruh_harian",
    "lainnya",
}
RELATIONSHIPS = ["rumah_tangga", "tetangga", "keluarga", "tidak_ada"]

# The categories of the programme file shipped before issue 12.
OLD_CATEGORIES = "".join(
    f'[[categories]]\ncode = "{code}"\nlabel = "category.{code}"\n{extra}'
    for code, extra in (
        ("art", ""),
        ("sopir", ""),
        ("tetangga", ""),
        ("keluarga", ""),
        ("petani", ""),
        ("lainnya", "needs_description = true\n"),
    )
)


def test_there_are_three_sample_programmes() -> None:
    assert [p.name for p in SAMPLES] == [
        "programme.toml",
        "programme_kendal.toml",
        "programme_majene.toml",
    ]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_asks_the_relationship_and_the_jobs_of_the_issue(path: Path) -> None:
    catalog = load_programme(path).catalog
    assert [r.code for r in catalog.relationships] == RELATIONSHIPS
    assert {j.code for j in catalog.jobs} == ISSUE_JOBS
    described = [j.code for j in catalog.jobs if j.needs_description]
    assert described == ["lainnya"] and catalog.jobs[-1].code == "lainnya"
    # Each job can be found by typing a word of its name (its label is a key, not searched).
    render = Renderer("id")
    for job in catalog.jobs:
        first_word = render.plain(job.label).split()[0].casefold()
        assert first_word in job.search_terms, job.code


def _without_relationships_and_jobs(text: str) -> str:
    """The shipped programme up to its relationships, and from its programmes on."""
    head = text[: text.index("\n[[relationships]]") + 1]
    tail = text[text.index("\n[[programmes]]") + 1 :]
    return head + "{tables}\n" + tail


def _programme(tmp_path: Path, tables: str) -> Path:
    text = _without_relationships_and_jobs(DEFAULT_PROGRAMME_FILE.read_text(encoding="utf-8"))
    text = text.replace('"agencies_garut.csv"', f'"{DATA / "agencies_garut.csv"}"')
    path = tmp_path / "programme.toml"
    path.write_text(text.replace("{tables}", tables), encoding="utf-8")
    return path


def test_a_programme_file_of_before_the_split_still_loads(tmp_path: Path) -> None:
    """Its categories become the jobs, but for the neighbour and the relative: they are what the
    relationship question now asks, with the default four relationships."""
    catalog = load_programme(_programme(tmp_path, OLD_CATEGORIES)).catalog
    assert [j.code for j in catalog.jobs] == ["art", "sopir", "petani", "lainnya"]
    assert catalog.job("lainnya").needs_description  # type: ignore[union-attr]
    assert catalog.job("art").label.key == "category.art"  # type: ignore[union-attr]
    assert catalog.relationships == DEFAULT_RELATIONSHIPS
    assert [r.code for r in DEFAULT_RELATIONSHIPS] == RELATIONSHIPS


def test_a_programme_file_without_jobs_or_with_a_job_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"no \[\[jobs\]\]"):
        load_programme(_programme(tmp_path, ""))
    twice = '[[jobs]]\ncode = "ojek"\nlabel = "job.ojek"\n' * 2
    with pytest.raises(CatalogError, match=r"\[\[jobs\]\] lists ojek twice"):
        load_programme(_programme(tmp_path, twice))
    no_relationship = 'relationships = []\n[[jobs]]\ncode = "ojek"\nlabel = "job.ojek"\n'
    with pytest.raises(CatalogError, match=r"\[\[relationships\]\] is empty"):
        load_programme(_programme(tmp_path, no_relationship))


def test_a_programme_may_word_its_own_relationships(tmp_path: Path) -> None:
    tables = (
        '[[relationships]]\ncode = "warga"\nlabel = "relationship.tetangga"\n'
        '[[jobs]]\ncode = "ojek"\nlabel = "job.ojek"\nsearch_terms = "ojek motor"\n'
    )
    catalog = load_programme(_programme(tmp_path, tables)).catalog
    assert [r.code for r in catalog.relationships] == ["warga"]
    assert [(j.code, j.search_terms) for j in catalog.jobs] == [("ojek", "ojek motor")]
