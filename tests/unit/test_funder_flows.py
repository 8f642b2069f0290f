"""Sponsors without a NIP (issue 12), through the pure router: "Saya bukan ASN" under the NIP
question, each funder type's own questions, its payment routes and consent statement, and its
own limit of workers; and the programme file's [[funder_types]] as the host loads them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from bot.catalog import CatalogError, load_programme
from bot.i18n import Renderer
from bot.settings import DEFAULT_PROGRAMME_FILE
from bot.statistics_render import chat as statistics_chat
from bot.statistics_render.text_formats import render_json, render_table
from bot.storage.statistics import FunderStatistics, Statistics
from flows import router
from flows.catalog import ASN
from flows.commands import RegisterSponsor, SubmitSponsorship
from tests.unit import flowkit
from tests.unit.flowkit import PROGRAMME, VALID_NIK, VALID_NIP, Chat

DATA = Path(flowkit.__file__).resolve().parents[2] / "bot" / "data"


def without_nip(funder: str) -> Chat:
    chat = Chat()
    chat.command("start")
    chat.press("lang:id")
    assert "no_nip" in chat.values()  # under the NIP question
    chat.press("no_nip")
    assert chat.message_keys() == ["funder.ask_type"]
    assert chat.values()[:4] == ["desa", "baznas", "perusahaan", "honorer"]
    chat.press(funder)
    return chat


def village_signed_up() -> Chat:
    chat = without_nip("desa")
    assert chat.message_keys() == ["prompt.list"]
    chat.type("wanaraja")  # the kecamatan, searched
    chat.press("32.05.03")
    chat.press("32.05.03.2001")  # Desa Wanaraja
    assert chat.message_keys() == ["funder.ask_officer_name"]
    assert "Pemerintah Desa Wanaraja" in chat.rendered()
    chat.type("Asep Saepudin")
    chat.type("Kepala Desa")
    chat.share_contact("6281234567890")
    return chat


def worker_until_payment(chat: Chat) -> None:
    chat.press("rumah_tangga")  # the relationship, then the job (asked apart)
    chat.press("art")
    chat.type("Ujang Suryana")
    chat.type(VALID_NIK)
    chat.press("ok")
    chat.press("skip")
    chat.press("id")
    chat.press("32.05.01")
    chat.press("32.05.01.1001")
    chat.press("jkk_jkm")


def test_a_village_signs_up_with_its_own_questions() -> None:
    chat = village_signed_up()
    assert chat.host.sponsor == RegisterSponsor(
        user_id=1001,
        nip=None,
        nip_kind=None,
        full_name="Asep Saepudin",
        agency_code="dpmd",  # the programme's agency for villages
        phone_e164="+6281234567890",
        funder_type="desa",
        organisation_name="Wanaraja",
        organisation_code="32.05.03.2001",
        position="Kepala Desa",
    )
    assert "funder.done" in chat.message_keys()
    assert "100 pekerja" in chat.rendered()  # a village sponsors many
    assert chat.session.flow == "sponsorship"


def test_the_village_list_holds_desa_only() -> None:
    chat = without_nip("desa")
    flow = router.FLOWS["signup"]
    districts = flow.step("org_district").options(chat.session.answers, chat.context())  # type: ignore[misc]
    codes = {option.value for option in districts}
    assert "32.05.03" in codes and "32.05.01" not in codes  # Garut Kota: kelurahan only
    chat.press("32.05.04")  # Tarogong Kaler: kelurahan and desa
    villages = flow.step("org_village").options(chat.session.answers, chat.context())  # type: ignore[misc]
    assert villages and all(".2" in option.value[8:] for option in villages)
    assert "32.05.04.1012" not in {option.value for option in villages}  # a kelurahan


def test_a_village_pays_from_its_budget_and_agrees_to_its_own_statement() -> None:
    chat = village_signed_up()
    worker_until_payment(chat)
    assert chat.values()[:1] == ["village_budget"]
    assert "salary_deduction" not in chat.values() and "self_payment" not in chat.values()
    chat.press("salary_deduction")  # forged: not an option of a village
    assert chat.message_keys() == ["toast.stale"]
    chat.press("village_budget")
    statement = chat.rendered()
    assert "APBDes" in statement and "Pemerintah Desa Wanaraja" in statement
    assert "Kepala Desa" in statement and "NIP" not in statement
    chat.press("agree")
    chat.press("save")
    [submitted] = chat.host.sponsorships
    assert submitted.payment_method == "village_budget"
    assert submitted.consent.statement.key == "funder.consent_village_budget"
    assert submitted.consent.text_version == "2026-12-1"


def test_a_company_names_itself_and_pays_from_csr() -> None:
    chat = without_nip("perusahaan")
    assert chat.message_keys() == ["funder.ask_company"]
    chat.type("PT")  # too short
    assert chat.message_keys() == ["answer.rejected"]
    chat.type("PT Sumber Rejeki Garut")
    assert "PT Sumber Rejeki Garut" in chat.rendered()
    chat.type("Rina Marlina")
    chat.type("Manajer CSR")
    chat.share_contact("6281234567890")
    sponsor = chat.host.sponsor
    assert sponsor is not None and sponsor.funder_type == "perusahaan"
    assert (sponsor.organisation_name, sponsor.organisation_code) == (
        "PT Sumber Rejeki Garut",
        None,
    )
    assert sponsor.agency_code == "disnakertrans" and sponsor.nip is None
    worker_until_payment(chat)
    assert chat.values()[:1] == ["csr"]


def test_baznas_is_named_with_its_regency() -> None:
    chat = without_nip("baznas")
    assert chat.message_keys() == ["funder.ask_officer_name"]
    assert "BAZNAS Kabupaten Garut" in chat.rendered()
    chat.type("H. Endang Suherman")
    chat.type("Wakil Ketua")
    chat.share_contact("6281234567890")
    sponsor = chat.host.sponsor
    assert sponsor is not None and sponsor.funder_type == "baznas"
    assert sponsor.agency_code == "dinsos"


def test_an_honorer_picks_their_agency_and_pays_directly_or_from_apbd() -> None:
    chat = without_nip("honorer")
    assert chat.message_keys() == ["signup.ask_name"]
    chat.type("Dede Kurnia")
    chat.press("dinkes")
    chat.share_contact("6281234567890")
    sponsor = chat.host.sponsor
    assert sponsor is not None
    assert (sponsor.funder_type, sponsor.agency_code, sponsor.nip) == ("honorer", "dinkes", None)
    worker_until_payment(chat)
    assert chat.values()[:2] == ["direct_payment", "regional_budget"]


def test_back_from_the_funder_type_to_the_nip_stays_an_asn() -> None:
    chat = without_nip("desa")
    chat.press("back")  # the kecamatan list -> the funder type
    chat.press("back")  # -> the NIP question
    chat.type(VALID_NIP)
    chat.press("yes")
    chat.type("Budi Santoso")
    chat.press("dinkes")
    chat.share_contact("6281234567890")
    sponsor = chat.host.sponsor
    assert sponsor is not None and sponsor.funder_type == ASN and sponsor.nip == VALID_NIP


def test_no_button_without_other_funder_types(monkeypatch: pytest.MonkeyPatch) -> None:
    only_asn = replace(PROGRAMME, catalog=replace(PROGRAMME.catalog, funder_types=()))
    monkeypatch.setattr(flowkit, "PROGRAMME", only_asn)
    chat = Chat()
    chat.command("start")
    chat.press("lang:id")
    assert "no_nip" not in chat.values()
    chat.press("no_nip")  # forged
    assert chat.message_keys() == ["toast.stale"]
    # ASN alone pay as before: every payment method of the programme.
    methods = only_asn.catalog.payment_methods_for(ASN)
    assert methods == only_asn.catalog.payment_methods


@pytest.mark.parametrize(("funder", "limit"), [("desa", 100), ("asn", 1), ("honorer", 1)])
def test_each_funder_type_has_its_own_limit_in_the_flow(funder: str, limit: int) -> None:
    chat = Chat()
    chat.host.sponsor = RegisterSponsor(
        1001,
        VALID_NIP if funder == ASN else None,
        "PNS" if funder == ASN else None,
        "Asep",
        "dpmd",
        "+6281234567890",
        funder_type=funder,
        organisation_name="Wanaraja",
    )
    chat.host.language = "id"
    placeholder: list[SubmitSponsorship] = [object()] * (limit - 1)  # type: ignore[list-item]
    chat.host.sponsorships = list(placeholder)
    chat.command("pekerja")
    assert chat.session.flow == "sponsorship"  # one below the limit: may register one more
    chat.command("batal")
    chat.host.sponsorships.append(object())  # type: ignore[arg-type]
    chat.command("pekerja")
    assert chat.session.flow is None
    assert chat.message_keys() == ["menu.with_text"]
    assert f"menanggung {limit} pekerja" in chat.rendered()


def _programme(tmp_path: Path, funder_types: str) -> Path:
    text = (DATA / "programme.toml").read_text(encoding="utf-8")
    start = text.index("# Who may sponsor (issue 12)")
    end = text.index("# ---- What the worker and the sponsor are told")
    text = text[:start] + funder_types + text[end:]
    text = text.replace('"agencies_garut.csv"', f'"{DATA / "agencies_garut.csv"}"')
    path = tmp_path / "programme.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('code = "koperasi"\npayment_methods = ["csr"]', "must be one of"),
        ('code = "desa"\npayment_methods = ["salary_deduction"]\nagency = "dpmd"', "only asn"),
        ('code = "desa"\npayment_methods = ["village_budget"]', "needs an agency"),
        ('code = "desa"\npayment_methods = ["village_budget"]\nagency = "nope"', "needs an agency"),
        ('code = "desa"\npayment_methods = ["transfer"]\nagency = "dpmd"', "payment methods"),
        ('code = "honorer"\npayment_methods = ["direct_payment"]\nmax_sponsorships = 0', ">= 1"),
        # An ASN's limit is max_sponsorships_per_sponsor: a second figure would contradict it.
        ('code = "asn"\npayment_methods = ["self_payment"]\nmax_sponsorships = 2', "asn limit"),
    ],
)
def test_funder_types_are_checked_when_loaded(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        load_programme(_programme(tmp_path, f"[[funder_types]]\n{table}\n\n"))


def test_limits_by_funder_as_the_storage_gets_them(tmp_path: Path) -> None:
    catalog = PROGRAMME.catalog
    assert catalog.limits_by_funder() == {
        "asn": 1,
        "desa": 100,
        "baznas": 500,
        "perusahaan": 500,
        "honorer": 1,
    }
    only_asn = load_programme(_programme(tmp_path, "")).catalog
    assert only_asn.limits_by_funder() == {"asn": only_asn.max_sponsorships}


def test_every_new_question_has_its_help() -> None:
    chat = without_nip("perusahaan")
    chat.press("help")
    assert chat.message_keys() == ["help.step", "funder.ask_company"]
    assert "CSR" in chat.rendered()


def test_statistics_show_sponsors_per_funder_type() -> None:
    funders = (FunderStatistics("asn", 12, 12), FunderStatistics("desa", 2, 150))
    stats = Statistics(date(2026, 12, 1), (), (), (), 0, funders)
    catalog = PROGRAMME.catalog
    shown = statistics_chat.summary(stats, catalog, Renderer("id"), all_agencies=True).text
    assert "Penanggung menurut jenis" in shown
    assert "Pemerintah desa (APBDes): 2 penanggung, 150 pekerja" in shown
    assert '"funder_type": "desa"' in render_json(stats, catalog)
    assert "desa 2 (150 sponsorships)" in render_table(stats, catalog)
    # ASN alone: the summary reads as it always did.
    only_asn = Statistics(date(2026, 12, 1), (), (), (), 0, funders[:1])
    plain = statistics_chat.summary(only_asn, catalog, Renderer("id"), all_agencies=True).text
    assert "Penanggung menurut jenis" not in plain


def test_signed_up_again_a_village_is_told_as_a_sponsor_not_an_asn() -> None:
    chat = village_signed_up()
    chat.command("batal")
    chat.command("daftar")
    assert "sudah terdaftar sebagai penanggung (Pemerintah desa (APBDes))" in chat.rendered()


DEPLOYMENT = DEFAULT_PROGRAMME_FILE.parent / "regencies_example.toml"


def test_several_regencies_a_village_chooses_its_regency_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Garut + Kendal + Majene: the regency is asked before the funder type, then that regency's
    kecamatan and desa and the agency that looks after its villages (issue 12)."""
    monkeypatch.setattr(flowkit, "PROGRAMME", load_programme(DEPLOYMENT))
    chat = Chat()
    chat.command("start")
    chat.press("lang:id")
    chat.press("no_nip")
    assert chat.message_keys() == ["funder2.ask_regency"]
    assert chat.values()[:3] == ["32.05", "33.24", "76.05"]
    chat.press("33.24")
    assert chat.message_keys() == ["funder.ask_type"]
    chat.press("desa")
    assert "Kabupaten Kendal" in chat.rendered()
    assert chat.values()[0] == "33.24.01"  # Kendal's kecamatan, not Garut's
    chat.press("33.24.01")
    chat.press("33.24.01.2001")
    chat.type("Slamet Riyadi")
    chat.type("Kepala Desa")
    chat.share_contact("6281234567890")
    sponsor = chat.host.sponsor
    assert sponsor is not None
    assert (sponsor.agency_code, sponsor.organisation_code) == ("kdl-dispermasdes", "33.24.01.2001")


def test_several_regencies_baznas_is_named_after_the_chosen_regency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(flowkit, "PROGRAMME", load_programme(DEPLOYMENT))
    chat = Chat()
    chat.command("start")
    chat.press("lang:id")
    chat.press("no_nip")
    chat.press("76.05")
    chat.press("baznas")
    assert "BAZNAS Kabupaten Majene" in chat.rendered()
    chat.press("back")
    chat.press("back")  # the regency again
    assert chat.message_keys() == ["funder2.ask_regency"]
