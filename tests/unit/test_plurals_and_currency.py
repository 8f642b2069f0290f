"""Issue 12: amounts, counts and dates from a well-kept library (Babel): rupiah as each language
writes currency, English plurals by CLDR's rules, and no amount or count worded by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.i18n import LANGUAGES, PLURAL_CATEGORIES, Renderer, catalog, placeholders, plural_forms
from bot.i18n import rupiah as shown_in_rupiah
from flows.text import Raw, t
from flows.worker import NOTICE_KEY
from tests.unit.flowkit import PROGRAMME

# Statements whose wording is recorded with each consent (its version, and the sha256 of the
# template in the deduction workbook): they keep the "Rp{amount}" they were vetted with.
VERSIONED = {
    NOTICE_KEY,
    "worker.privacy_notice",
    *(method.consent_key for method in PROGRAMME.catalog.payment_methods),
    "consent.salary_deduction",
}


def test_rupiah_is_written_as_each_language_writes_currency() -> None:
    assert shown_in_rupiah(16_800, "id") == "Rp16.800"
    assert shown_in_rupiah(16_800, "en") == "Rp16,800"
    assert shown_in_rupiah(42_000_000, "su") == "Rp42.000.000"
    assert shown_in_rupiah(42_000_000, "jv") == "Rp42.000.000"
    assert shown_in_rupiah(16_800, "xx") == "Rp16.800"  # no such locale: Indonesian's


def test_an_amount_in_a_message_goes_through_babel() -> None:
    option = t("programme.option", name=Raw("JKK + JKM"), amount=16_800)
    assert "Rp16.800" in Renderer("id")(option) and "Rp16,800" in Renderer("en")(option)
    benefits = t("benefits.summary", death_benefit=42_000_000, children=2, years=3)
    assert "Rp42.000.000" in Renderer("su")(benefits)
    assert "Rp42,000,000" in Renderer("en")(benefits)


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_amount_is_worded_by_hand(language: str) -> None:
    """Every amount a message shows is {name:rupiah}, but in the versioned statements."""
    by_hand = sorted(
        key
        for key, template in catalog(language).items()
        if re.search(r"Rp\s*\{", template) and key not in VERSIONED
    )
    assert not by_hand, f"locales/{language}.toml writes rupiah by hand: {by_hand}"


def test_english_counts_take_the_plural_form_of_their_number() -> None:
    render = Renderer("en")
    assert render(t("export.rows", count=1)) == "1 row"
    assert render(t("export.rows", count=2)) == "2 rows"
    assert render(t("export.rows", count=0)) == "0 rows"
    limit = render(t("sponsorship.limit_reached", max=1))
    assert "sponsor 1 worker," in limit
    assert "sponsor 3 workers," in render(t("sponsorship.limit_reached", max=3))
    queued = t("announce.queued", count=1)
    assert "for 1 person." in render(queued)
    assert "1 orang" in Renderer("id")(queued)  # Indonesian has one form
    caption = t("invite.caption", worker=Raw("Ujang"), reference=Raw("PR-1"), days=1)
    assert "Valid for 1 day." in render(caption)


@pytest.mark.parametrize("language", LANGUAGES)
def test_plural_forms_are_cldr_categories_with_the_indonesian_parameters(language: str) -> None:
    reference = catalog("id")
    for key, forms in plural_forms(language).items():
        assert "other" in forms and set(forms) <= PLURAL_CATEGORIES, (language, key)
        for form, template in forms.items():
            assert placeholders(template) == placeholders(reference[key]), (language, key, form)


def test_a_language_without_a_plural_form_falls_back_to_indonesian(tmp_path: Path) -> None:
    """A key su.toml lacks is shown in Indonesian, plural forms or not."""
    (tmp_path / "id.toml").write_text('[x]\nrows = "{count} baris"\n', encoding="utf-8")
    (tmp_path / "en.toml").write_text(
        '[x]\nrows.one = "{count} row"\nrows.other = "{count} rows"\n', encoding="utf-8"
    )
    (tmp_path / "su.toml").write_text("[y]\n", encoding="utf-8")
    assert Renderer("en", tmp_path)(t("x.rows", count=1)) == "1 row"
    assert Renderer("en", tmp_path)(t("x.rows", count=5)) == "5 rows"
    assert Renderer("su", tmp_path)(t("x.rows", count=1)) == "1 baris"
    assert catalog("en", tmp_path) == {"x.rows": "{count} rows"}  # the checks see one key


def test_dates_are_written_as_cldr_writes_them_in_each_language() -> None:
    from datetime import date

    from flows.formatting import long_date, month_year

    day = date(2026, 12, 1)
    assert Renderer("id")(long_date(day)) == "1 Desember 2026"
    assert Renderer("su")(long_date(day)) == "1 Désémber 2026"
    assert Renderer("jv")(long_date(day)) == "1 Desember 2026"
    assert Renderer("en")(long_date(day)) == "December 1, 2026"  # not the locale's template
    assert Renderer("en")(month_year(day)) == "December 2026"
    # A Text that is not flows.formatting's (a stored message from elsewhere) uses the template.
    odd = t("date.long", day="1", month=Raw("Desember"), year="2026")
    assert Renderer("en")(odd) == "1 Desember 2026"
