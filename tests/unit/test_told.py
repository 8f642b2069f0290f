"""What the worker and the sponsor are told (issue 12): amounts from the programme, never from a
locale; benefits in words; /klaim; the privacy notices and their full text; the salary-deduction
statement; coverage told as begun only once it has."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from bot.catalog import CatalogError, consent_versions, load_programme
from bot.hosting import MENU_COMMANDS
from bot.i18n import LANGUAGES, Renderer, catalog
from bot.notifications import notices
from bot.settings import DEFAULT_PROGRAMME_FILE
from flows import callbacks
from flows.catalog import Benefits, DataController
from flows.effects import Message, SendStatementCopy
from flows.events import CoverageActivated
from flows.languages import COMPLETE_LANGUAGES
from flows.text import t
from tests.unit.flowkit import PROGRAMME, Chat, signed_up
from tests.unit.test_flows import JOURNEY, run
from tests.unit.test_worker_and_rights_flows import opened

# A figure in a message: "Rp42 juta", "Rp 16.800", "Rp42 million", "2 juta". ("4.096 karakter"
# is a limit, not an amount.)
AMOUNT = re.compile(
    r"Rp\s?\d|\d[\d.,]*\s?(juta|ribu|miliar|million|thousand|billion)\b",
    re.IGNORECASE,
)


def hard_coded_amounts(messages: dict[str, str]) -> list[str]:
    """Keys whose wording writes an amount instead of a {parameter}."""
    found = []
    for key, text in messages.items():
        # Placeholders ({amount}) are what a message should use; "Rp{amount}" is fine.
        if AMOUNT.search(re.sub(r"\{[a-z_]+\}", "", text)):
            found.append(key)
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_locale_writes_an_amount(language: str) -> None:
    assert hard_coded_amounts(catalog(language)) == []


def test_the_amount_check_catches_what_the_issue_found() -> None:
    messages = {
        "a": "iuran Rp16.800 per bulan",
        "b": "santunan kematian Rp42 juta",
        "c": "a Rp42 million death benefit",
        "d": "sebesar Rp{amount} per bulan",  # a parameter: fine
        "e": "paling lambat 3 x 24 jam",  # not an amount
    }
    assert hard_coded_amounts(messages) == ["a", "b", "c"]


def other_benefits() -> Chat:
    chat = Chat()
    programme = replace(
        PROGRAMME.catalog,
        benefits=Benefits(
            death_benefit=50_000_000, scholarship_children=3, scholarship_after_years=4
        ),
    )
    original = chat.context

    def context():  # type: ignore[no-untyped-def]
        return replace(original(), catalog=programme)

    chat.context = context  # type: ignore[method-assign]
    return chat


def test_the_benefits_come_from_the_programme() -> None:
    chat = other_benefits()
    chat.command("start")
    welcome = chat.rendered()
    assert "Setiap ASN diajak menanggung" in welcome
    assert "Rp50.000.000" in welcome and "3 anak" in welcome and "4 tahun" in welcome
    assert "42" not in welcome


def test_klaim_explains_how_to_claim_with_the_programme_figures() -> None:
    chat = other_benefits()
    chat.command("klaim")
    assert chat.message_keys() == ["claim.how"]
    told = chat.rendered()
    assert "Rp50.000.000" in told and "ahli waris" in told and "JMO" in told
    assert "surat keterangan kematian" in told and "kantor cabang" in told
    assert "klaim" in MENU_COMMANDS  # in the menu beside the message box, described:
    for language in LANGUAGES:
        assert catalog(language)["commands.klaim"]


def test_help_names_klaim() -> None:
    chat = signed_up()
    chat.command("batal")
    chat.command("bantuan")
    assert "/klaim" in chat.rendered()


def test_the_asn_sees_a_short_privacy_notice_at_sign_up_and_can_read_all_of_it() -> None:
    chat = Chat()
    chat.command("start")
    chat.press("lang:id")
    assert chat.message_keys()[1] == "privacy_2026_12.sponsor_notice"
    shown = [e for e in chat.sent if isinstance(e, Message)][1]
    notice = Renderer("id")(shown.text)
    assert len(notice.splitlines()) == 5  # a title and 4 lines
    assert "Pemerintah Kabupaten Garut" in notice and "salinannya sendiri" in notice
    assert [b.value for row in shown.buttons for b in row] == [callbacks.menu("privacy")]
    chat.press(callbacks.menu("privacy"))
    full = chat.rendered()
    assert "Pemberitahuan privasi lengkap" in full and "Kantor Disnakertrans" in full
    # The question being asked is asked again below the full text, still answerable.
    assert chat.message_keys() == ["privacy_2026_12.sponsor_full", "signup.ask_nip"]
    assert chat.session.step == "nip"


def test_the_worker_reads_a_short_notice_with_a_read_more_button() -> None:
    chat = opened()
    chat.type("05-01-1990")
    shown = chat.rendered()
    assert "Pengendali data: Pemerintah Kabupaten Garut" in shown
    assert "BPJS Ketenagakerjaan menyimpan salinannya sendiri" in shown
    assert callbacks.menu("privacy") in chat.values()
    chat.press(callbacks.menu("privacy"))
    assert chat.message_keys() == ["privacy_2026_12.worker_full", "worker.ask_decision"]
    chat.press("agree")
    assert chat.message_keys() == ["worker.consented"]


def test_the_notice_after_a_birth_date_does_not_say_a_nik_was_deleted() -> None:
    chat = opened()
    chat.type("05-01-1990")
    deleted = chat.rendered()
    assert "hapus" in deleted and "NIK" not in deleted.split("\n")[0]
    for language in LANGUAGES:
        assert "NIK" not in catalog(language)["privacy.message_deleted"]


def test_the_salary_deduction_statement_names_the_nip_what_is_cut_and_how_to_stop() -> None:
    chat = signed_up()
    run(chat, JOURNEY[:-1])  # up to the consent question
    consent = chat.rendered()
    assert "SURAT PERNYATAAN KESEDIAAN PEMOTONGAN GAJI" in consent
    assert "NIP: <b>1985***********001</b>" in consent  # masked like the NIK
    assert "dipotong dari <b>gaji</b>" in consent
    assert "Cara menghentikan" in consent and "/status" in consent
    assert "Saya bayar langsung (tanpa potong gaji)" in Renderer("id")(
        PROGRAMME.catalog.payment_methods[1].label
    )


def test_tpp_is_named_when_the_allowance_is_cut(tmp_path: Path) -> None:
    text = DEFAULT_PROGRAMME_FILE.read_text(encoding="utf-8")
    agencies = DEFAULT_PROGRAMME_FILE.parent / "agencies_garut.csv"
    text = text.replace('agencies_file = "agencies_garut.csv"', f'agencies_file = "{agencies}"')
    tpp = tmp_path / "programme.toml"
    tpp.write_text(text.replace('deducted_from = "gaji"', 'deducted_from = "tpp"'))
    assert load_programme(tpp).catalog.deducted_from == "tpp"
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(text.replace('deducted_from = "gaji"', 'deducted_from = "bonus"'))
    with pytest.raises(CatalogError, match="deducted_from"):
        load_programme(wrong)


def test_the_programme_file_names_the_data_controller_and_the_benefits() -> None:
    programme = load_programme(DEFAULT_PROGRAMME_FILE).catalog
    assert programme.benefits == Benefits(42_000_000, 2, 3)
    assert programme.data_controller != DataController()
    assert programme.data_controller.name.startswith("Pemerintah Kabupaten Garut")


def test_earlier_statements_stay_in_the_locales_so_their_consents_stay_verifiable() -> None:
    """A consent record keeps its statement's key and version; the wording of every version
    that was ever recorded must stay, under its own key, beside the current one."""
    earlier = {"consent.salary_deduction": "2026-11-1", "worker.privacy_notice": "2026-11-1"}
    programme = PROGRAMME.catalog
    current = {m.consent_key: m.consent_version for m in programme.payment_methods}
    for key, version in earlier.items():
        for language in COMPLETE_LANGUAGES:  # Sundanese and Javanese translate only some
            assert key in catalog(language)
        assert current.get(key, version) == version  # a changed wording has a new key
    assert programme.privacy_notice_version != earlier["worker.privacy_notice"]
    # A translated statement is recorded with its own version (locales/consents.toml): its
    # wording stays in its language as long as that version is listed.
    for language, versioned in consent_versions().items():
        for key in versioned:
            assert key in catalog(language), (language, key)


def coverage(start: date, activated_on: date) -> dict[str, str]:
    event = CoverageActivated(
        reference="PR-ABCDEF",
        sponsorship_id=1,
        sponsor_user_id=1001,
        sponsor_name="Dra. Siti Aminah",
        worker_user_id=2002,
        worker_name="Ujang Suryana",
        kpj_number="23012345678",
        coverage_start=start,
        programme_code="jkk_jkm",
        activated_on=activated_on,
    )
    render = Renderer("id")
    return {
        n.dedupe_key.rpartition(":")[2]: render(n.message)
        for n in notices(event, PROGRAMME.catalog)
    }


def test_coverage_that_has_begun_says_so_and_asks_to_forward_it_to_the_family() -> None:
    told = coverage(date(2026, 12, 1), activated_on=date(2026, 12, 3))
    assert "Anda kini <b>terlindungi" in told["worker"]
    assert "Teruskan pesan ini ke keluarga Anda" in told["worker"]
    assert "Rp42.000.000" in told["worker"] and "Rp42.000.000" in told["sponsor"]


def test_coverage_that_starts_later_is_not_told_as_begun() -> None:
    told = coverage(date(2027, 1, 1), activated_on=date(2026, 12, 3))
    for text in told.values():
        assert "kini" not in text and "terlindungi" not in text
        assert "Perlindungan mulai berlaku: <b>1 Januari 2027</b>" in text
    assert "Teruskan pesan ini ke keluarga Anda" in told["worker"]


def test_the_worker_welcome_shows_the_benefits_in_words() -> None:
    chat = Chat(user_id=2002)
    chat.host.is_worker = True
    chat.command("start")
    welcome = chat.rendered()
    assert "JKK + JKM" not in welcome
    assert "perawatan kecelakaan kerja tanpa batas biaya" in welcome and "/klaim" in welcome


def test_saving_a_salary_deduction_sends_the_treasurer_s_copy_of_the_statement() -> None:
    chat = signed_up()
    run(chat, JOURNEY)
    chat.press("save")
    (copy,) = [e for e in chat.sent if isinstance(e, SendStatementCopy)]
    assert copy.statement.key == "consent_2026_12.salary_deduction"
    assert copy.version == "2026-12-1" and copy.reference == "PR-TEST1"
    command = chat.host.sponsorships[0]
    assert copy.statement == command.consent.statement  # the very statement agreed to
    # The copy's time is in the sponsor's regency's zone, carried so sending reads nothing.
    assert copy.zone == "Asia/Jakarta"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_help_names_klaim(language: str) -> None:
    messages = catalog(language)
    assert "/klaim" in messages["help.worker"]  # every language translates what a worker reads
    # The sponsor's help as shown: Sundanese and Javanese may still show the Indonesian one.
    assert "/klaim" in Renderer(language)(t("help.general"))
