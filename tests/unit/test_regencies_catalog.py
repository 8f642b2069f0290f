"""Issue 12: a deployment file listing several regencies' programme files (bot.catalog), and the
single-regency programme file left as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog import CatalogError, load_programme
from bot.settings import DEFAULT_PROGRAMME_FILE

DATA = DEFAULT_PROGRAMME_FILE.parent
DEPLOYMENT = DATA / "regencies_example.toml"


def test_the_sample_deployment_has_garut_kendal_and_majene() -> None:
    programme = load_programme(DEPLOYMENT)
    catalog = programme.catalog
    assert [(r.code, r.name) for r in catalog.regencies] == [
        ("32.05", "Kabupaten Garut"),
        ("33.24", "Kabupaten Kendal"),
        ("76.05", "Kabupaten Majene"),
    ]
    assert [len(catalog.agencies_of(r.code)) for r in catalog.regencies] == [44, 36, 33]
    assert len(catalog.agencies) == 113
    # The first regency is the default: before an ASN picks an agency, and its time zone.
    assert catalog.home_regency.code == "32.05" and programme.timezone.key == "Asia/Jakarta"


def test_the_agency_decides_the_regency_and_its_zone() -> None:
    programme = load_programme(DEPLOYMENT)
    kendal, majene = programme.for_agency("kdl-dinkes"), programme.for_agency("mjn-dinkes")
    assert kendal.catalog.home_regency.name == "Kabupaten Kendal"
    assert kendal.timezone.key == "Asia/Jakarta"
    assert majene.catalog.home_regency.name == "Kabupaten Majene"
    assert majene.timezone.key == "Asia/Makassar"
    assert [p.code for p in majene.catalog.programmes] == ["jkk_jkm"]
    assert [p.code for p in kendal.catalog.programmes] == ["jkk_jkm", "jkk_jkm_jht"]
    # Each regency still knows every agency (staff of another regency, a stored code).
    assert majene.catalog.agency("kdl-dinkes") is not None
    # The reminders read each agency's zone: the regency's unless the CSV gives one.
    assert programme.catalog.agency("mjn-dinkes").timezone == "Asia/Makassar"  # type: ignore[union-attr]
    assert programme.catalog.agency("kdl-dinkes").timezone == "Asia/Jakarta"  # type: ignore[union-attr]
    assert programme.for_agency("dinkes").catalog.home_regency.code == "32.05"
    assert programme.for_agency(None) is programme
    assert programme.for_agency("nowhere") is programme


def test_a_single_regency_file_is_unchanged() -> None:
    programme = load_programme(DEFAULT_PROGRAMME_FILE)
    assert programme.regencies == () and programme.catalog.regencies == ()
    assert programme.for_agency("dinkes") is programme
    assert {a.regency for a in programme.catalog.agencies} == {None}
    assert programme.catalog.agency("dinkes").timezone is None  # type: ignore[union-attr]
    assert programme.catalog.regency("32.05") == programme.catalog.home_regency
    assert len(programme.catalog.agencies_of("32.05")) == 44
    assert programme.catalog.agencies_of("33.24") == ()


def _regency(tmp_path: Path, name: str, home: str, agencies: str, extra: str = "") -> str:
    text = _without_funder_types((DATA / "programme.toml").read_text(encoding="utf-8"))
    text = text.replace('home_regency = "32.05"', f'home_regency = "{home}"')
    text = text.replace('"agencies_garut.csv"', f'"{name}.csv"')
    (tmp_path / f"{name}.csv").write_text(f"code,name,search_terms,timezone\n{agencies}\n", "utf-8")
    (tmp_path / f"{name}.toml").write_text(text + extra, encoding="utf-8")
    return f"{name}.toml"


def _without_funder_types(text: str) -> str:
    """Garut's programme without its [[funder_types]]: they name Garut's agencies, which the
    made-up agency lists here lack (ASN alone, as a programme without the table)."""
    start = text.index("# Who may sponsor (issue 12)")
    end = text.index("# ---- What the worker and the sponsor are told")
    return text[:start] + text[end:]


def _deployment(tmp_path: Path, *files: str) -> Path:
    path = tmp_path / "deployment.toml"
    listed = ", ".join(f'"{name}"' for name in files)
    path.write_text(f"regencies = [{listed}]\n", encoding="utf-8")
    return path


def test_agency_codes_are_unique_across_regencies(tmp_path: Path) -> None:
    first = _regency(tmp_path, "a", "33.24", "dinkes,Dinas Kesehatan,")
    second = _regency(tmp_path, "b", "76.05", "dinkes,Dinas Kesehatan,")
    with pytest.raises(CatalogError, match=r"agency code 'dinkes' is in a\.toml and b\.toml"):
        load_programme(_deployment(tmp_path, first, second))


def test_a_regency_is_listed_once(tmp_path: Path) -> None:
    first = _regency(tmp_path, "a", "33.24", "x,X,")
    second = _regency(tmp_path, "b", "33.24", "y,Y,")
    with pytest.raises(CatalogError, match=r"regency 33\.24 \(Kabupaten Kendal\) appears twice"):
        load_programme(_deployment(tmp_path, first, second))


def test_a_deployment_lists_programme_files_only(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="one or more programme files"):
        load_programme(_deployment(tmp_path))
    inner = _deployment(tmp_path, _regency(tmp_path, "a", "33.24", "x,X,"))
    outer = tmp_path / "outer.toml"
    outer.write_text(f'regencies = ["{inner.name}"]\n', encoding="utf-8")
    with pytest.raises(CatalogError, match="cannot list regencies"):
        load_programme(outer)


def test_labels_of_every_regency_are_known_to_the_deployment(tmp_path: Path) -> None:
    extra = '\n[[jobs]]\ncode = "penjahit"\nlabel = "job.lainnya"\n'
    first = _regency(tmp_path, "a", "33.24", "x,X,")
    second = _regency(tmp_path, "b", "76.05", "y,Y,,WIT", extra)
    programme = load_programme(_deployment(tmp_path, first, second))
    assert programme.catalog.job("penjahit") is not None  # statistics, exports
    assert programme.for_agency("x").catalog.job("penjahit") is None  # Kendal's own
    assert programme.for_agency("y").catalog.job("penjahit") is not None
    # An agency's own zone column wins over its regency's.
    assert programme.catalog.agency("y").timezone == "Asia/Jayapura"  # type: ignore[union-attr]
    assert programme.catalog.default_programme.code == "jkk_jkm"
