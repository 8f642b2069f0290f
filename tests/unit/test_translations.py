"""Sundanese and Javanese (issue 12): partial translations that never block the build.

What they lack is listed (and falls back to Indonesian at run time); what they have must keep the
Indonesian key's parameters and markup, must not outlive a key Indonesian dropped, and must cover
everything a worker reads from the invitation to their coverage. Consent statements translated
into them carry their own versions (locales/consents.toml).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from babel import Locale

from bot.catalog import consent_versions, load_programme
from bot.i18n import PARTIAL_LANGUAGES, Renderer, catalog, placeholders, tags
from bot.settings import DEFAULT_PROGRAMME_FILE
from flows.languages import COMPLETE_LANGUAGES, LANGUAGES, WORKER_LANGUAGES, worker_languages
from flows.text import Raw, t
from flows.worker import NOTICE_KEY
from tests.unit.flowkit import PROGRAMME

# What a worker reads, from the invitation they are forwarded to their coverage and claims: a
# partial language must have all of it (the rest of the bot may stay Indonesian for now).
WORKER_KEYS = (
    "invite.forward",
    "language.saved",
    "menu.worker",
    "help.worker",
    "button.worker_status",
    "button.personal_data",
    "button.consent_agree",
    "button.worker_decline",
    "button.worker_wrong",
    "button.worker_decline_yes",
    "button.back",
    "button.language",
    "status.worker_header",
    "status.worker_item",
    "status.coverage",
    "notify.coverage_worker",
    "notify.sponsor_withdrew",
    "notify.lapsed_worker",
    "reminders.worker_stalled",
    "data.as_worker",
    "data.rights",
    "rights.ask_withdraw_worker",
    "rights.withdrawn_worker",
    "commands.klaim",
    "claim.how",
    "benefits.summary",  # in menu.worker, worker.ask_verify and the coverage messages
    "told.read_more",
    "told.coverage_worker_future",
    NOTICE_KEY,
    "privacy_2026_12.worker_full",  # behind told.read_more
    # The worker's job, in the notice and /data_saya (issue 12): the shipped jobs' labels.
    "job.unknown",
    *(job.label.key for job in PROGRAMME.catalog.jobs),
    *(f"month.{number}" for number in range(1, 13)),
)
WORKER_SECTIONS = ("worker.", "invitation.")  # every key, but the sponsor's own two below
SPONSOR_ONLY = ("invitation.own_invitation", "invitation.open_over_draft")
# Earlier versions of a worker's statement, kept in id.toml for the consents given under them
# but no longer shown (flows.worker.NOTICE_KEY is the current notice): nothing to translate.
NO_LONGER_SHOWN = ("worker.privacy_notice",)


def _worker_keys() -> set[str]:
    reference = catalog("id")
    keys = {k for k in reference if k.startswith(WORKER_SECTIONS) and k not in SPONSOR_ONLY}
    return (keys - set(NO_LONGER_SHOWN)) | set(WORKER_KEYS)


def test_a_statement_no_longer_shown_is_not_the_current_notice() -> None:
    assert NOTICE_KEY not in NO_LONGER_SHOWN and NOTICE_KEY in catalog("id")
    assert all(key in catalog("id") for key in NO_LONGER_SHOWN)


def test_the_languages_are_listed_once() -> None:
    assert set(LANGUAGES) == {*COMPLETE_LANGUAGES, *PARTIAL_LANGUAGES} == {"id", "en", "su", "jv"}
    assert set(WORKER_LANGUAGES) <= set(LANGUAGES) and "en" not in WORKER_LANGUAGES


@pytest.mark.parametrize("language", PARTIAL_LANGUAGES)
def test_what_each_language_still_lacks_is_listed_without_failing(
    language: str, capsys: pytest.CaptureFixture[str]
) -> None:
    reference, translated = catalog("id"), catalog(language)
    lacking = sorted(set(reference) - set(translated))
    with capsys.disabled():
        print(
            f"\nlocales/{language}.toml: {len(translated)} of {len(reference)} keys translated,"
            f" {len(lacking)} shown in Indonesian:"
        )
        sections: dict[str, int] = {}
        for key in lacking:
            section = key.split(".")[0]
            sections[section] = sections.get(section, 0) + 1
        print("  " + ", ".join(f"{name} {count}" for name, count in sorted(sections.items())))
    # A lacking key is rendered, in Indonesian: the translation being partial blocks nothing.
    # (Every parameter a number: each kind of placeholder, {amount:rupiah} too, takes one.)
    render, indonesian = Renderer(language), Renderer("id")
    assert lacking, "nothing lacking: drop the language from PARTIAL_LANGUAGES"
    for key in lacking:
        text = t(key, **{name: 2 for name in placeholders(reference[key])})
        assert render(text) == indonesian(text), key


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_translation_outlives_its_indonesian_key(language: str) -> None:
    stale = sorted(set(catalog(language)) - set(catalog("id")))
    assert not stale, f"locales/{language}.toml has keys id.toml no longer has: {stale}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_parameters_and_tags(language: str) -> None:
    reference = catalog("id")
    for key, template in catalog(language).items():
        if key not in reference:
            continue  # reported by the test above
        assert placeholders(template) == placeholders(reference[key]), (language, key)
        assert tags(template) == tags(reference[key]), (language, key)


@pytest.mark.parametrize("language", PARTIAL_LANGUAGES)
def test_everything_a_worker_reads_is_translated(language: str) -> None:
    missing = sorted(_worker_keys() - set(catalog(language)))
    assert not missing, f"locales/{language}.toml lacks what a worker reads: {missing}"


def test_the_checks_catch_a_changed_placeholder_a_lost_tag_and_a_stale_key() -> None:
    """The rules above, against a translation broken on purpose: each would be caught."""
    indonesian = catalog("id")["worker.verify_wrong"]
    assert placeholders("Sésa: {sisa}.") != placeholders(indonesian)
    assert tags("✅ Hatur nuhun.") != tags(catalog("id")["worker.consented"])
    assert "worker.no_such_key" not in catalog("id")


@pytest.mark.parametrize("language", PARTIAL_LANGUAGES)
def test_month_names_are_the_cldr_ones(language: str) -> None:
    """Months are written as CLDR (through Babel) writes them, not spelled by hand."""
    months = Locale.parse(language).months["format"]["wide"]
    messages = catalog(language)
    assert [messages[f"month.{n}"] for n in range(1, 13)] == [months[n] for n in range(1, 13)]


def test_numbers_follow_each_language_through_babel() -> None:
    option = t("programme.option", name=Raw("JKK + JKM"), amount=1_234_567)
    assert "Rp1.234.567" in Renderer("id")(option)
    assert "Rp1,234,567" in Renderer("en")(option)
    for language in PARTIAL_LANGUAGES:  # Indonesian grouping for Sundanese and Javanese too
        assert "1.234.567" in Renderer(language)(t("worker.verify_wrong", left=1_234_567))


def test_a_missing_key_falls_back_to_indonesian_and_an_unknown_language_is_indonesian() -> None:
    assert "sponsorship.ask_nik" not in catalog("su")  # a sponsor's question, not translated
    asked = t("sponsorship.ask_nik", name=Raw("Ujang"))
    assert Renderer("su")(asked) == Renderer("id")(asked)
    assert Renderer("xx").language == "id"
    assert Renderer("su")(t("worker.verify_wrong", left=2)) != Renderer("id")(
        t("worker.verify_wrong", left=2)
    )


def test_translated_consents_have_their_own_versions_of_the_current_indonesian() -> None:
    versions = consent_versions()
    catalog_ = PROGRAMME.catalog
    indonesian_versions = {NOTICE_KEY: catalog_.privacy_notice_version}
    indonesian_versions["rights.in_person_statement"] = catalog_.privacy_notice_version
    for method in catalog_.payment_methods:
        indonesian_versions[method.consent_key] = method.consent_version
    assert set(versions) <= set(LANGUAGES)
    for language in PARTIAL_LANGUAGES:
        translated = catalog(language)
        for key, base in indonesian_versions.items():
            version = versions.get(language, {}).get(key)
            if key not in translated:
                assert version is None, f"{language} versions {key} it does not translate"
                continue
            # A translated statement is recorded with its own version, which names the version
            # of the Indonesian it translates: a new Indonesian text needs a new translation.
            assert version is not None, f"{language}: {key} translated without a version"
            assert version.startswith(f"{base}+{language}."), (language, key, version, base)
            assert len(version) <= 32  # consents.text_version is VARCHAR(32)
    assert set(versions["su"]) == {NOTICE_KEY} == set(versions["jv"])


def test_the_recorded_version_is_the_one_of_the_language_shown() -> None:
    catalog_ = PROGRAMME.catalog
    base = catalog_.privacy_notice_version
    key = NOTICE_KEY
    assert catalog_.consent_version(key, base, "su") == f"{base}+su.1"
    assert catalog_.consent_version(key, base, "jv") == f"{base}+jv.1"
    assert catalog_.consent_version(key, base, "id") == base
    assert catalog_.consent_version(key, base, None) == base
    # The sponsor's statement is not translated: shown, and so recorded, in Indonesian.
    method = catalog_.payment_methods[0]
    assert catalog_.consent_version(method.consent_key, method.consent_version, "su") == (
        method.consent_version
    )
    assert method.consent_key not in catalog("su")


def test_a_regencys_own_notice_version_stays_in_what_a_translated_consent_records() -> None:
    """Majene's notice names its own data controller: its version is its own, and a consent
    given in Sundanese there records that version with the translation's mark, not Garut's."""
    majene = load_programme(DEFAULT_PROGRAMME_FILE.parent / "programme_majene.toml").catalog
    version = majene.privacy_notice_version
    assert version != PROGRAMME.catalog.privacy_notice_version
    assert majene.consent_version(NOTICE_KEY, version, "su") == f"{version}+su.1"
    assert majene.consent_version(NOTICE_KEY, version, "jv") == f"{version}+jv.1"
    assert majene.consent_version(NOTICE_KEY, version, "id") == version


def test_the_worker_languages_put_the_regions_own_after_indonesian() -> None:
    assert worker_languages("32.05") == ("id", "su", "jv")  # Garut, Jawa Barat
    assert worker_languages("33.24") == ("id", "jv", "su")  # Kendal, Jawa Tengah
    assert worker_languages("76.05") == ("id", "su", "jv")  # Majene: no regional one listed
    assert PROGRAMME.catalog.home_regency.code.startswith("32")


def test_a_date_reads_in_the_workers_language() -> None:
    from flows.formatting import long_date

    assert Renderer("su")(long_date(date(2026, 2, 1))) == "1 Pébruari 2026"
    assert Renderer("jv")(long_date(date(2026, 12, 1))) == "1 Desember 2026"


def test_a_time_is_shown_with_its_zone_in_every_language() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.presenters import _when

    moment = datetime(2026, 11, 30, 2, 5, tzinfo=ZoneInfo("UTC"))
    expected = {
        "Asia/Jakarta": "09:05 WIB",
        "Asia/Pontianak": "09:05 WIB",
        "Asia/Makassar": "10:05 WITA",
        "Asia/Jayapura": "11:05 WIT",
    }
    for zone, shown in expected.items():
        for language in LANGUAGES:
            assert shown in Renderer(language)(_when(moment, ZoneInfo(zone))), (zone, language)
    assert Renderer("su")(_when(moment, ZoneInfo("Asia/Jakarta"))) == (
        "30 Nopémber 2026 tabuh 09:05 WIB"
    )


def test_a_translation_left_behind_by_a_renamed_parameter_reads_in_indonesian(
    tmp_path: Path,
) -> None:
    (tmp_path / "id.toml").write_text('[worker]\nverify_wrong = "Sisa percobaan: {tries}."\n')
    (tmp_path / "su.toml").write_text('[worker]\nverify_wrong = "Sésa cobian: {left}."\n')
    assert Renderer("su", tmp_path)(t("worker.verify_wrong", tries=2)) == "Sisa percobaan: 2."
    assert Renderer("su", tmp_path)(t("worker.verify_wrong", tries=2, left=1)) == (
        "Sésa cobian: 1."
    )
    with pytest.raises(KeyError):  # the Indonesian itself wrong: a bug, not hidden
        Renderer("id", tmp_path)(t("worker.verify_wrong", left=2))
