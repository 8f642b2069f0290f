"""Labels of operator data come from the catalog entry, never from a naming convention: a code no
longer configured is shown as it is, and no product module builds a label key from a code."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest

from bot.i18n import Renderer
from flows.catalog import Job, Relationship
from flows.text import Raw, t
from tests.unit.flowkit import PROGRAMME

ROOT = Path(__file__).resolve().parents[2]
CATALOG = PROGRAMME.catalog
# Operator data: its keys are chosen in bot/data/programme.toml.
OPERATOR_KEY_PREFIXES = (
    "category.",
    "job.",
    "relationship.",
    "programme.",
    "covers.",
    "payment.",
    "consent.",
)
NOT_YET: set[str] = set()  # every module reads operator labels from the catalog


def test_a_label_is_the_configured_key_not_the_code() -> None:
    renamed = replace(
        CATALOG,
        jobs=(Job("pengemudi", t("job.ojek")),),
        relationships=(Relationship("warga", t("relationship.tetangga")),),
    )
    assert Renderer("id")(renamed.job_label("pengemudi")) == "Ojek / ojol"
    assert Renderer("id")(renamed.relationship_label("warga")) == "Tetangga"


def test_a_code_no_longer_configured_is_shown_as_it_is() -> None:
    assert CATALOG.job_label("dihapus") == Raw("dihapus")
    assert CATALOG.relationship_label("dihapus") == Raw("dihapus")
    assert CATALOG.programme_label("dihapus") == Raw("dihapus")
    assert Renderer("id")(CATALOG.programme_covers("dihapus")) == ""


def test_a_job_or_relationship_not_recorded_says_so_and_the_sponsors_words_come_first() -> None:
    """NULL: a sponsorship registered before the two questions (migration 0012_jobs)."""
    render = Renderer("id")
    assert render(CATALOG.job_label(None)) == "belum dicatat"
    assert render(CATALOG.relationship_label(None)) == "belum dicatat"
    assert CATALOG.job_label("lainnya", "tukang becak") == Raw("tukang becak")
    assert render(CATALOG.job_label("guru_ngaji")) == "Guru ngaji"


def test_the_shipped_programme_covers_are_its_configured_keys() -> None:
    assert CATALOG.programme_covers("jkk_jkm") == t("covers.jkk_jkm")
    assert CATALOG.default_programme.code == "jkk_jkm"


def label_keys_built_from_codes(source: str) -> list[str]:
    """f-strings whose text starts with an operator data prefix: t(f"category.{code}")."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr) and node.values:
            first = node.values[0]
            if isinstance(first, ast.Constant) and str(first.value).startswith(
                OPERATOR_KEY_PREFIXES
            ):
                found.append(ast.unparse(node))
    return found


def test_no_product_module_builds_an_operator_label_key_from_a_code() -> None:
    files = [*(ROOT / "bot").rglob("*.py"), *(ROOT / "flows").rglob("*.py")]
    offenders = {
        name: found
        for path in files
        if (name := path.relative_to(ROOT).as_posix()) not in NOT_YET
        and (found := label_keys_built_from_codes(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    "line",
    [
        't(f"category.{code}")',
        't(f"job.{code}")',
        "t(f\"programme.{answers['programme']}\")",
        'f"covers.{c}"',
    ],
)
def test_the_grep_catches_a_label_key_built_from_a_code(line: str) -> None:
    assert label_keys_built_from_codes(line)
