"""The worker's confirmation and everyone's rights, as data: inputs in, effects and commands out."""

from __future__ import annotations

from datetime import date

from flows.commands import (
    ActivateCoverage,
    Applied,
    FailVerification,
    InvitationDetails,
    InvitationOpened,
    OpenInvitation,
    RecordInPersonConsent,
    Refused,
    RequestCorrection,
    WithdrawConsent,
    WorkerConsents,
    WorkerDeclines,
)
from flows.effects import ForgetUserMessage, ShowInvitation, ShowPersonalData, ShowRequestQueue
from flows.inputs import TextReceived
from tests.unit.flowkit import Chat
from tests.unit.test_flows import at_summary

DETAILS = InvitationDetails(
    reference="PR-ABCDEF",
    sponsor_user_id=1001,
    sponsor_name="Dra. Siti Aminah",
    agency_code="dinkes",
    worker_name="Ujang Suryana",
    nik_masked="3205********0001",
    nik_last4="0001",
    birth_date=date(1990, 1, 5),
    job="art",
    job_other=None,
    phone_masked=None,
    district_name="Garut Kota",
    village_name="Kota Kulon",
    programme_code="jkk_jkm",
    monthly_amount=16800,
    status="waiting_worker",
)


def opened(chat: Chat | None = None) -> Chat:
    chat = chat or Chat(user_id=2002)
    chat.host.scripted[OpenInvitation] = [InvitationOpened(DETAILS)]
    chat.command("start", "w_tok3n")
    return chat


def test_saving_shows_the_sponsor_the_invitation() -> None:
    chat = at_summary()
    chat.press("save")
    invitation = [e for e in chat.sent if isinstance(e, ShowInvitation)]
    assert invitation == [ShowInvitation("PR-TEST1", "token1", "Ujang Suryana", "id")]


def test_worker_link_shows_who_registered_them_then_asks_to_verify() -> None:
    chat = opened()
    assert chat.host.applied[0] == OpenInvitation(2002, "tok3n")
    assert chat.session.flow == "worker" and chat.session.step == "verify"
    shown = chat.rendered()
    assert "Dra. Siti Aminah" in shown and "Dinas Kesehatan" in shown
    assert "16.800" in shown and "Rp42.000.000" in shown


def test_worker_verifies_by_birth_date_and_consents() -> None:
    chat = opened()
    chat.do(TextReceived("05-01-1990", message_id=9))
    assert chat.sent[0] == ForgetUserMessage(9)
    assert chat.session.step == "review"
    notice = chat.rendered()
    assert "3205********0001" in notice and "UU 27/2022" in notice and "3 x 24 jam" in notice
    chat.press("agree")
    consent = chat.host.applied[-1]
    assert isinstance(consent, WorkerConsents)
    assert consent.reference == "PR-ABCDEF" and consent.user_id == 2002
    assert consent.statement.key == "privacy_2026_12.worker_notice" and consent.message_id == 77
    assert chat.message_keys() == ["worker.consented"]
    assert not chat.session.active


def test_worker_verifies_by_the_nik_ending() -> None:
    chat = opened()
    chat.type("0001")
    assert chat.session.step == "review"


def test_three_wrong_verifications_lock_the_link() -> None:
    chat = opened()
    chat.host.scripted[FailVerification] = [
        Applied(reference="PR-ABCDEF", attempts_left=2),
        Applied(reference="PR-ABCDEF", attempts_left=1),
        Refused("invitation_locked"),
    ]
    chat.type("9999")
    assert chat.message_keys() == ["worker.verify_wrong", "worker.ask_verify"]
    assert "Sisa percobaan: 2" in chat.rendered()
    chat.type("01-01-1991")
    assert "Sisa percobaan: 1" in chat.rendered()
    chat.type("1234")
    assert chat.message_keys()[-1] == "invitation.invitation_locked"
    assert not chat.session.active
    fails = [c for c in chat.host.applied if isinstance(c, FailVerification)]
    assert len(fails) == 3
    chat.type("halo")  # what was typed does not count as a fourth try
    assert len([c for c in chat.host.applied if isinstance(c, FailVerification)]) == 3


def test_badly_formatted_verification_is_not_a_try() -> None:
    chat = opened()
    chat.type("kemarin")
    assert chat.message_keys()[0] == "answer.rejected"
    assert not any(isinstance(c, FailVerification) for c in chat.host.applied)


def test_worker_declines_after_confirming() -> None:
    chat = opened()
    chat.type("0001")
    chat.press("decline")
    assert chat.session.step == "decline_confirm"
    chat.press("no")
    assert chat.session.step == "review"
    chat.press("decline")
    chat.press("yes")
    assert isinstance(chat.host.applied[-1], WorkerDeclines)
    assert chat.message_keys() == ["worker.declined"]


def test_worker_reports_a_mistake() -> None:
    chat = opened()
    chat.type("0001")
    chat.press("wrong")
    chat.type("Nama saya Ujang Suryana Putra")
    request = chat.host.applied[-1]
    assert isinstance(request, RequestCorrection) and request.subject == "worker"
    assert request.details == "Nama saya Ujang Suryana Putra"
    assert chat.message_keys() == ["worker.correction_sent"]


def test_expired_used_and_unknown_links_are_explained() -> None:
    for reason in ("invitation_expired", "invitation_used", "invitation_unknown", "own_invitation"):
        chat = Chat(user_id=2003)
        chat.host.scripted[OpenInvitation] = [Refused(reason)]
        chat.command("start", "w_whatever")
        assert chat.message_keys() == [f"invitation.{reason}"]
        assert not chat.session.active and chat.session.pending is None


def test_sponsor_records_in_person_consent_from_a_button() -> None:
    chat = at_summary()
    chat.press("save")
    chat.press("act:inperson:PR-TEST1")
    assert chat.session.flow == "in_person"
    chat.press("yes")
    command = chat.host.applied[-1]
    assert isinstance(command, RecordInPersonConsent) and command.reference == "PR-TEST1"
    assert command.statement.key == "rights.in_person_statement"


def test_sponsor_and_worker_withdraw() -> None:
    chat = at_summary()
    chat.press("save")
    chat.press("act:withdraw:PR-TEST1")
    chat.press("yes")
    command = chat.host.applied[-1]
    assert isinstance(command, WithdrawConsent) and command.subject == "sponsor"
    assert command.effective_month == date(2026, 12, 1)
    assert "Desember 2026" in chat.rendered()

    worker = Chat(user_id=2002)
    worker.press("act:wwithdraw:PR-ABCDEF")
    worker.press("yes")
    withdrawal = worker.host.applied[-1]
    assert isinstance(withdrawal, WithdrawConsent) and withdrawal.subject == "worker"
    worker.host.scripted[WithdrawConsent] = [Refused("not_allowed")]
    worker.press("act:wwithdraw:PR-OTHER1")
    worker.press("yes")
    assert worker.message_keys() == ["refusal.not_allowed"]


def test_personal_data_and_correction_commands() -> None:
    chat = at_summary()
    chat.press("save")
    chat.command("data_saya")
    assert chat.sent == [ShowPersonalData()]
    chat.command("koreksi")
    chat.type("NIP saya salah satu angka")
    request = chat.host.applied[-1]
    assert isinstance(request, RequestCorrection) and request.subject == "sponsor"
    assert request.reference is None


def test_admin_commands_are_only_for_admins() -> None:
    chat = Chat(user_id=9)
    chat.command("antrian")
    assert "command.unknown" in repr(chat.last().text)
    chat.host.is_admin = True
    chat.command("antrian")
    assert chat.sent == [ShowRequestQueue()]
    chat.command("aktifkan", "PR-ABCDEF 23012345678 2026-12-01")
    assert chat.host.applied[-1] == ActivateCoverage(
        "PR-ABCDEF", "23012345678", date(2026, 12, 1), 9
    )
    assert chat.message_keys() == ["admin.activated"]
    chat.command("aktifkan", "PR-ABCDEF")
    assert chat.message_keys() == ["admin.activate_usage"]


def test_a_status_button_mid_flow_asks_before_dropping_the_draft() -> None:
    chat = at_summary()
    chat.press("act:withdraw:PR-TEST9")
    assert chat.message_keys() == ["resume.offer"]
    chat.press("resume:continue")
    assert chat.session.step == "summary" and chat.session.answers.get("nik")


def test_sponsor_makes_a_new_link() -> None:
    from flows.commands import ReissueInvitation

    chat = at_summary()
    chat.press("save")
    chat.host.scripted[ReissueInvitation] = [
        Applied(reference="PR-TEST1", invitation_token="fresh"),
        Refused("wrong_state"),
    ]
    chat.press("act:reinvite:PR-TEST1")
    assert chat.host.applied[-1] == ReissueInvitation(1001, "PR-TEST1")
    assert chat.message_keys() == ["invite.reissued"]
    assert chat.sent[-1] == ShowInvitation("PR-TEST1", "fresh", "")
    chat.press("act:reinvite:PR-TEST1")
    assert chat.message_keys() == ["refusal.wrong_state"]
