"""What sponsors without a NIP read (issue 12): a village, BAZNAS, a company or an honorer is
not told of a salary cut or a treasurer, nor greeted as an ASN. The sign-up's intro and title,
the honorer's agency help, the reminders (campaign, unfinished sign-up, first month), the lapse
notices and the statistics' "signed up"; ASN keep their own wording."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import Renderer
from bot.notifications import lapsed
from bot.statistics_render import chat as statistics_chat
from bot.storage.statistics import FunderStatistics, Statistics
from flows import reminders as r
from flows.events import SponsorshipLapsed
from tests.unit import flowkit
from tests.unit.flowkit import PROGRAMME, Chat

WIB = ZoneInfo("Asia/Jakarta")


def started() -> Chat:
    chat = Chat()
    chat.command("start")
    chat.press("lang:id")
    return chat


def test_the_sign_up_intro_names_every_sponsor_when_others_may_sign_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "Pendaftaran penanggung" in started().rendered()
    assert "Pendaftaran ASN" not in started().rendered()
    only_asn = replace(PROGRAMME, catalog=replace(PROGRAMME.catalog, funder_types=()))
    monkeypatch.setattr(flowkit, "PROGRAMME", only_asn)
    assert "Pendaftaran ASN" in started().rendered()  # ASN alone: as it always was


def test_a_sponsor_without_a_nip_resumes_a_sponsors_sign_up_not_an_asns() -> None:
    chat = started()
    chat.press("no_nip")
    chat.command("start")
    assert "pendaftaran penanggung" in chat.rendered()
    asn = started()
    asn.command("start")
    assert "pendaftaran ASN" in asn.rendered()


def test_the_honorer_is_not_told_of_a_treasurer_cutting_a_salary() -> None:
    chat = started()
    chat.press("no_nip")
    chat.press("honorer")
    chat.type("Dede Kurnia")
    chat.press("help")  # at the agency
    shown = chat.rendered()
    assert "tempat Anda bekerja sebagai honorer" in shown and "memotong" not in shown


def test_an_asn_reads_the_agency_help_as_before() -> None:
    chat = started()
    chat.type(flowkit.VALID_NIP)
    chat.press("yes")
    chat.type("Budi Santoso")
    chat.press("help")
    assert "bendahara yang memotong iuran dari gaji Anda" in chat.rendered()


def lapse(method: str) -> SponsorshipLapsed:
    return SponsorshipLapsed(
        reference="PR-AAAAAA",
        sponsorship_id=1,
        sponsor_user_id=1,
        sponsor_name="Asep Saepudin",
        worker_user_id=2,
        worker_name="Ujang",
        agency_code="dpmd",
        operator_user_ids=(3,),
        unpaid=(date(2026, 10, 1), date(2026, 11, 1)),
        payment_method=method,
    )


@pytest.mark.parametrize("recipient", ["sponsor", "operator"])
def test_a_lapsed_transfer_is_not_told_as_a_salary_deduction(recipient: str) -> None:
    render = Renderer("id")
    village = render(lapsed(recipient, lapse("village_budget"), "DPMD"))  # type: ignore[arg-type]
    assert "potongan gaji" not in village.casefold() and "bendahara" not in village
    assert "pembayaran iuran" in village.casefold()
    asn = render(lapsed(recipient, lapse("salary_deduction"), "DPMD"))  # type: ignore[arg-type]
    assert "otongan gaji" in asn


def test_the_worker_reads_the_same_lapse_whatever_the_route() -> None:
    render = Renderer("id")
    assert render(lapsed("worker", lapse("village_budget"), "DPMD")) == render(
        lapsed("worker", lapse("salary_deduction"), "DPMD")
    )


def test_the_campaign_reminds_a_village_of_its_workers_not_of_one() -> None:
    campaign = r.CampaignPlan(date(2026, 12, 20), (7,))
    people = {1: r.Person(1, WIB, funder_type="desa"), 2: r.Person(2, WIB)}
    facts = r.Facts(people, without_worker=[1, 2], campaign=campaign)
    due = r.plan(facts, datetime(2026, 12, 13, 7, 0, tzinfo=WIB).astimezone(UTC))
    keys = {reminder.recipient_user_id: reminder.message.key for reminder in due}
    assert keys == {1: "funder2.campaign_organisation", 2: "reminders.campaign"}


def test_the_first_month_of_a_transfer_is_not_a_salary_cut() -> None:
    notices = [
        r.FirstDeduction(9, "ABC123", 1, date(2027, 1, 1), 16800, "village_budget"),
        r.FirstDeduction(8, "DEF456", 2, date(2027, 1, 1), 16800),
    ]
    facts = r.Facts({1: r.Person(1, WIB), 2: r.Person(2, WIB)}, first_deductions=notices)
    due = r.plan(facts, datetime(2026, 12, 25, 7, 0, tzinfo=WIB).astimezone(UTC))
    keys = {reminder.recipient_user_id: reminder.message.key for reminder in due}
    assert keys == {1: "funder2.first_payment", 2: "reminders.first_deduction"}
    shown = Renderer("id")(next(x for x in due if x.recipient_user_id == 1).message)
    assert "dipotong <b>" not in shown and "tidak dipotong dari gaji" in shown


def test_an_unfinished_sign_up_without_a_nip_is_not_an_asns() -> None:
    left = datetime(2026, 12, 1, 10, 0, tzinfo=WIB).astimezone(UTC)
    drafts = [
        r.Unfinished(1, "signup", "officer_name", left - timedelta(minutes=5), left),
        r.Unfinished(2, "signup", "nip", left - timedelta(minutes=5), left),
    ]
    facts = r.Facts({1: r.Person(1, WIB), 2: r.Person(2, WIB)}, unfinished=drafts)
    due = r.plan(facts, left + timedelta(days=1))
    keys = {reminder.recipient_user_id: reminder.message.key for reminder in due}
    assert keys == {1: "funder2.unfinished_signup", 2: "reminders.unfinished_signup"}


def test_statistics_count_sponsors_not_asn_once_villages_sponsor() -> None:
    funders = (FunderStatistics("asn", 12, 12), FunderStatistics("desa", 2, 150))
    stats = Statistics(date(2026, 12, 1), (), (), (), 0, funders)
    render = Renderer("id")
    shown = statistics_chat.summary(stats, PROGRAMME.catalog, render, all_agencies=True).text
    assert "penanggung terdaftar" in shown and "ASN ikut" not in shown
    only_asn = replace(stats, funders=funders[:1])
    plain = statistics_chat.summary(only_asn, PROGRAMME.catalog, render, all_agencies=True).text
    assert "ASN ikut" in plain


def test_the_transfers_list_names_baznas_after_the_regency_of_its_agency() -> None:
    """Several regencies in one bot: Kendal's BAZNAS is not "BAZNAS Kabupaten Garut"."""
    import io

    from bot.catalog import load_programme
    from bot.exports.transfers import write_csv
    from bot.settings import DEFAULT_PROGRAMME_FILE
    from bot.storage.exports import TransferRow

    deployment = load_programme(DEFAULT_PROGRAMME_FILE.parent / "regencies_example.toml")
    row = TransferRow(
        "baznas", "", "Ahmad", "Ketua", "kdl-dinsos", "PR-AAAAAA", "zakat", 16800, "Siti",
        "3324********0001", "funder.consent_zakat", "2026-12-1", "active", None,
    )  # fmt: skip
    out = io.StringIO()
    assert write_csv(out, [row], programme=deployment.catalog, render=Renderer("id")) == 1
    assert "BAZNAS Kabupaten Kendal" in out.getvalue()
