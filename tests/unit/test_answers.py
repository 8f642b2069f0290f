"""A turn's answer survives the turn journal: every effect the engine can emit is stored as JSON
and comes back equal, so an answer sent after a crash is the answer the turn produced."""

from __future__ import annotations

import json
import typing

import pytest

from bot import answers
from bot.service import Incoming, answer_from_json, answer_to_json
from flows.commands import SetLanguage
from flows.effects import (
    Apply,
    Button,
    Effect,
    ForgetUserMessage,
    Message,
    RequestAnnouncementApproval,
    SendDeductionRecap,
    SendStatementCopy,
    ShowAnnouncementPreview,
    ShowCampaign,
    ShowInvitation,
    ShowPersonalData,
    ShowRequestQueue,
    ShowStaff,
    ShowStatistics,
    ShowStatus,
    ShowUpcomingReminders,
    Toast,
    TrackAnnouncement,
)
from flows.inputs import ChoicePicked, TextReceived
from flows.text import Raw, t

EFFECTS: list[Effect] = [
    Message(
        t("summary.body", name=Raw("Ujang <b>"), amount=16800, part=t("x.y", n=Raw("z"))),
        buttons=((Button(t("button.save"), "save"), Button(Raw("Dinas"), "a:1")),),
        seq=7,
        request_contact=t("signup.share"),
        remove_keyboard=True,
        replace=True,
    ),
    Toast(t("toast.old")),
    ShowStatus(),
    ShowPersonalData(),
    ShowRequestQueue(),
    ShowStaff(page=2),
    ForgetUserMessage(777),
    ShowInvitation("PR-7K3QX9", "token_abc", "Ujang Suryana"),
    SendStatementCopy(
        "PR-7K3QX9",
        t("consent_2026_12.salary_deduction", amount=16800, worker=Raw("Ujang Suryana")),
        "2026-12-1",
        "2026-11-21T09:30:00+07:00",
    ),
    ShowStatistics(),
    ShowStatistics("dinkes"),
    SendDeductionRecap("2026-12"),
    SendDeductionRecap("2026-12", "dinkes"),
    ShowCampaign(),
    ShowUpcomingReminders(7),
    ShowAnnouncementPreview(7),
    RequestAnnouncementApproval(7),
    TrackAnnouncement(7),
]


def test_every_effect_round_trips_through_json() -> None:
    stored = json.loads(json.dumps(answers.effects_to_json(EFFECTS)))
    assert answers.effects_from_json(stored) == EFFECTS


def test_every_kind_of_effect_can_be_stored() -> None:
    """A new effect type must be storable, or turns emitting it would fail to commit."""
    kinds = {type(effect) for effect in EFFECTS} | {Apply}
    assert set(typing.get_args(Effect)) <= kinds, "add the new effect to EFFECTS above"


def test_applied_commands_are_not_stored_with_the_answer() -> None:
    stored = answers.effects_to_json([Apply(SetLanguage(1, "id")), ShowStatus()])
    assert answers.effects_from_json(stored) == [ShowStatus()]


def test_what_is_not_an_effect_is_refused() -> None:
    with pytest.raises(TypeError):
        answers.encode(object())


@pytest.mark.parametrize(
    "incoming",
    [
        Incoming(5, 7, 70, TextReceived("3205014501900001", 9)),
        Incoming(6, 7, 70, ChoicePicked(3, "save", 44), "cb", 44, "💾 Simpan", "<b>Ringkasan</b>"),
    ],
)
def test_the_answer_keeps_what_sending_needs_of_the_update(incoming: Incoming) -> None:
    stored = json.loads(json.dumps(answer_to_json(incoming, EFFECTS, "en")))
    again, effects, language = answer_from_json(incoming.update_id, stored)
    assert (effects, language) == (EFFECTS, "en")
    assert "3205014501900001" not in json.dumps(stored)  # the typed text is not kept
    kept = ("update_id", "user_id", "chat_id", "callback_query_id", "callback_message_id")
    assert [getattr(again, k) for k in kept] == [getattr(incoming, k) for k in kept]
    assert (again.pressed_label, again.pressed_message_html) == (
        incoming.pressed_label,
        incoming.pressed_message_html,
    )
    if isinstance(incoming.input, ChoicePicked):
        assert isinstance(again.input, ChoicePicked)
        assert again.input.value == incoming.input.value
