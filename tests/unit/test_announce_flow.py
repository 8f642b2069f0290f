"""/umumkan as data (flows.announce through the router): who knows the command, the body's
HTML and length checks (1024 with media, 4096 without), agencies within the operator's scope,
the command built from the answers, back and cancel, the buttons' wiring; and the renderer."""

from __future__ import annotations

import json

import pytest

from bot.announcements import render_announcement
from bot.delivery.contracts import AnnouncementContent
from bot.transport import Media
from flows import announce, callbacks
from flows.access import Role, Scope
from flows.commands import (
    Applied,
    DecideAnnouncement,
    PrepareAnnouncement,
    SetAnnouncementsOff,
    SteerAnnouncement,
    SubmitAnnouncement,
)
from flows.effects import RequestAnnouncementApproval, ShowAnnouncementPreview, TrackAnnouncement
from flows.inputs import MediaReceived, TextReceived
from tests.unit.flowkit import Chat

OPERATOR = Scope(Role.OPERATOR, frozenset({"dinkes", "setda"}))


def staff_chat(scope: Scope | None, admin: bool = False) -> Chat:
    chat = Chat(user_id=4242)
    chat.host.scope, chat.host.is_admin = scope, admin
    return chat


@pytest.mark.parametrize(
    ("scope", "admin", "knows"),
    [
        (Scope.superadmin(), True, True),
        (OPERATOR, False, True),
        (Scope(Role.TREASURER, frozenset({"dinkes"})), False, False),
        (None, False, False),
    ],
)
def test_who_knows_umumkan(scope: Scope | None, admin: bool, knows: bool) -> None:
    chat = staff_chat(scope, admin)
    chat.command("umumkan")
    assert ("announce.ask_body" in chat.message_keys()) is knows
    assert ("tidak dikenal" in chat.rendered()) is not knows


def body(html: str, media: str | None = None) -> str:
    answer = announce.as_answer(
        MediaReceived(media, "FILE", html) if media else TextReceived("plain", html=html)
    )
    assert isinstance(answer, TextReceived)
    return answer.text


def test_the_body_is_checked_for_html_and_length() -> None:
    chat = staff_chat(OPERATOR)
    chat.command("umumkan")
    chat.do(TextReceived("x", html="<b>open"))
    assert "tidak dapat dikirim Telegram" in chat.rendered()
    chat.do(MediaReceived("photo", "AgAD", "x" * 1025))
    assert "1.025 karakter, batasnya 1.024" in chat.rendered()
    chat.do(TextReceived("x" * 1025))  # without media up to 4096
    assert chat.session.step == "button"
    assert chat.session.answers["body"] == "x" * 1025
    assert chat.session.answers["media_kind"] is None


def test_plain_text_is_escaped_and_media_kept() -> None:
    assert json.loads(body("<b>Halo</b>"))["html"] == "<b>Halo</b>"
    escaped = announce.as_answer(TextReceived("a < b & c"))
    assert isinstance(escaped, TextReceived)
    assert json.loads(escaped.text) == {"html": "a &lt; b &amp; c"}
    chat = staff_chat(OPERATOR)
    chat.command("umumkan")
    chat.do(MediaReceived("document", "BQAD", "<i>Lampiran</i>"))
    assert chat.session.answers["media_kind"] == "document"
    assert chat.session.answers["media_file_id"] == "BQAD"


def test_a_photo_elsewhere_is_unsupported() -> None:
    chat = staff_chat(OPERATOR)
    chat.command("koreksi")  # not registered: told how; start a flow that takes text instead
    chat.command("umumkan")
    chat.type("Halo")  # now at the button step: a photo is not an answer here
    chat.do(MediaReceived("photo", "AgAD"))
    assert chat.session.step == "button"
    assert "foto" in chat.rendered().lower()


def test_agencies_are_checked_against_the_scope_and_the_command_built() -> None:
    chat = staff_chat(OPERATOR)
    chat.command("umumkan")
    chat.type("Halo")
    chat.press("sponsor")
    chat.press("agency_asn")
    assert chat.session.step == "agencies"
    chat.type("disdik")
    assert "di luar wewenang Anda: disdik" in chat.rendered()
    chat.type("nope")
    assert "tidak dikenal: nope" in chat.rendered()
    chat.host.scripted[PrepareAnnouncement] = [Applied(reference="7", row_count=12)]
    effects = chat.type("SETDA, dinkes")
    prepared = chat.host.applied[-1]
    assert prepared == PrepareAnnouncement(
        4242, "Halo", "agency_asn", ("setda", "dinkes"), None, None, "sponsor"
    )
    assert ShowAnnouncementPreview(7) in effects
    assert not chat.session.active


def test_back_and_cancel_at_every_step() -> None:
    chat = staff_chat(Scope.superadmin(), admin=True)
    chat.command("umumkan")
    chat.type("Halo")
    chat.press("none")
    assert chat.session.step == "audience"
    chat.command("kembali")
    assert chat.session.step == "button"
    chat.command("batal")
    assert not chat.session.active and "cancel.done" in chat.message_keys()


def test_the_buttons_under_preview_approval_and_progress() -> None:
    chat = staff_chat(Scope.superadmin(), admin=True)
    chat.host.scripted[SubmitAnnouncement] = [
        Applied(reference="5", row_count=3, announcement_status="sending"),
        Applied(reference="6", row_count=3000, announcement_status="awaiting_approval"),
    ]
    assert TrackAnnouncement(5) in chat.press(callbacks.announcement("annsend", 5))
    assert RequestAnnouncementApproval(6) in chat.press(callbacks.announcement("annsend", 6))
    chat.press(callbacks.announcement("annok", 6))
    assert chat.host.applied[-1] == DecideAnnouncement(4242, 6, True)
    chat.press(callbacks.announcement("annpause", 5))
    assert chat.host.applied[-1] == SteerAnnouncement(4242, 5, "pause")
    chat.press(callbacks.announcement("annstop", 5))
    assert chat.host.applied[-1] == SteerAnnouncement(4242, 5, "cancel")
    # An operator cannot approve; an outsider cannot press any of them.
    operator = staff_chat(OPERATOR)
    operator.press(callbacks.announcement("annok", 6))
    assert operator.host.applied == [] and operator.message_keys() == ["toast.not_allowed"]
    outsider = staff_chat(None)
    outsider.press(callbacks.announcement("annpause", 5))
    assert outsider.host.applied == []


def test_anyone_can_stop_and_restart_announcements() -> None:
    chat = staff_chat(None)
    chat.press(callbacks.announcement_opt_out(5))
    assert chat.host.applied == [SetAnnouncementsOff(4242, True)]
    assert "announce.off_done" in chat.message_keys()
    chat.command("mulai_pengumuman")
    assert chat.host.applied[-1] == SetAnnouncementsOff(4242, False)
    chat.command("berhenti")
    assert chat.host.applied[-1] == SetAnnouncementsOff(4242, True)


def test_the_renderer_always_adds_the_opt_out_button() -> None:
    plain = render_announcement(AnnouncementContent(3, "<b>Halo</b>", None, None), "id")
    assert plain.text == "<b>Halo</b>"
    assert [[label for label, _ in row] for row in plain.inline_keyboard] == [
        ["🔕 Berhenti menerima pengumuman"]
    ]
    assert plain.inline_keyboard[0][0][1] == callbacks.encode(0, "act:annoff:3")
    media = Media("photo", "AgAD")
    full = render_announcement(AnnouncementContent(3, "Hi", media, "sponsor"), "en")
    assert [[label for label, _ in row] for row in full.inline_keyboard] == [
        ["➕ Register a worker"],
        ["🔕 Stop receiving announcements"],
    ]
    assert full.inline_keyboard[0][0][1] == callbacks.encode(0, "menu:sponsor")


@pytest.mark.parametrize(
    ("html", "problem"),
    [
        ("<b>ok</b> <a href='https://x.id'>x</a>", None),
        ("<b>open", "unbalanced"),
        ("<b><i>x</b></i>", "unbalanced"),
        ("<script>x</script>", "tag"),
        ("a &lt; b", None),
    ],
)
def test_html_problems(html: str, problem: str | None) -> None:
    assert announce.html_problem(html) == problem


def test_each_audience_button_says_how_many_it_reaches() -> None:
    """The host's counts (within the author's scope) are on the audience buttons; the chosen
    agencies' audience is counted in the preview once they are typed."""
    from bot.i18n import Renderer

    chat = staff_chat(OPERATOR)
    chat.host.audience_sizes = {name: 10 + n for n, name in enumerate(announce.AUDIENCES)}
    del chat.host.audience_sizes["agency_asn"]
    chat.command("umumkan")
    chat.type("Halo")
    chat.press(chat.values()[0])  # no button
    labels = {
        button.value: (Renderer("id").plain(button.label), Renderer("en").plain(button.label))
        for row in chat.last().buttons
        for button in row
    }
    assert labels["all_asn"] == ("👥 Semua ASN · 10 orang", "👥 All ASN · 10 people")
    assert labels["everyone"][0] == "🌐 Semua (ASN dan pekerja) · 15 orang"
    assert labels["agency_asn"][0] == "🏢 ASN instansi tertentu"  # counted in the preview
