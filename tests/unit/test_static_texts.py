"""Texts that do not depend on the update are rendered once: a button label without parameters
once per language (bot.i18n), an option's search text folded once (flows.engine)."""

from __future__ import annotations

from pathlib import Path

from bot import i18n
from bot.i18n import Renderer
from flows import engine
from flows.steps import Option
from flows.text import Raw, t


def test_a_label_is_rendered_once_per_language_and_only_from_the_shipped_locales(
    tmp_path: Path,
) -> None:
    i18n._static_plain.cache_clear()
    assert Renderer("id").plain(t("button.back")) == "⬅️ Kembali"
    assert Renderer("en").plain(t("button.back")) == "⬅️ Back"  # keyed by language
    assert Renderer("id").plain(t("button.back")) == "⬅️ Kembali"
    assert i18n._static_plain.cache_info().hits == 1
    # A label with parameters, or Raw data, is rendered each time (it depends on the update).
    assert Renderer("id").plain(t("list.not_found", query="x<y")).count("x<y") == 1
    assert Renderer("id").plain(Raw("Dinas <Kesehatan>")) == "Dinas <Kesehatan>"
    assert i18n._static_plain.cache_info().currsize == 2
    # Other locale files (a test's, a translator's draft) are never answered from the cache.
    (tmp_path / "id.toml").write_text('[button]\nback = "<b>Mundur</b>"\n', encoding="utf-8")
    assert Renderer("id", tmp_path).plain(t("button.back")) == "Mundur"


def test_option_texts_are_folded_once_for_every_search() -> None:
    options = [Option("3201", Raw("Cibinong")), Option("3216", Raw("Cikarang Ütara"))]
    engine._fold.cache_clear()
    assert engine.matching_options(options, "utara") == [options[1]]
    misses = engine._fold.cache_info().misses
    assert engine.matching_options(options, "CIBI") == [options[0]]
    assert engine._fold.cache_info().misses == misses + 1  # the new query only
