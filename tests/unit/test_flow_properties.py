"""Property tests: no sequence of inputs crashes a conversation or leaves it in a broken state."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.inputs import (
    ChoicePicked,
    CommandIssued,
    ContactShared,
    TextReceived,
    UnsupportedReceived,
)
from flows.router import FLOWS
from flows.session import Session
from tests.unit.flowkit import VALID_NIK, VALID_NIP, Chat

BUTTON_VALUES = [
    "lang:id",
    "lang:en",
    "lang:su",
    "lang:jv",
    "su",
    "jv",
    "yes",
    "no",
    "dinkes",
    "art",
    "lainnya",
    "ok",
    "differs",
    "skip",
    "32.05.01",
    "32.05.01.1001",
    "jkk_jkm",
    "salary_deduction",
    "agree",
    "disagree",
    "save",
    "edit:nik",
    "edit:programme",
    "back",
    "cancel",
    "help",
    "retry",
    "page:next",
    "page:prev",
    "resume:continue",
    "resume:restart",
    "menu:sponsor",
    "menu:status",
    "menu:language",
    "x" * 50,
]
TEXTS = [VALID_NIP, VALID_NIK, "Budi Santoso", "0812 3456 7890", "kes", "garut", "", "🙂", "/"]

inputs = st.one_of(
    st.builds(TextReceived, st.one_of(st.sampled_from(TEXTS), st.text(max_size=40))),
    st.builds(
        ChoicePicked,
        st.one_of(st.just(-1), st.integers(0, 60)),
        st.sampled_from(BUTTON_VALUES),
    ),
    st.builds(ContactShared, st.sampled_from(["6281234567890", "+6591234567", "x"]), st.booleans()),
    st.builds(
        CommandIssued,
        st.sampled_from(
            ["start", "batal", "bantuan", "kembali", "status", "pekerja", "bahasa", "zz"]
        ),
    ),
    st.builds(UnsupportedReceived, st.sampled_from(["photo", "sticker", "voice", "other"])),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(inputs, max_size=40), st.booleans())
def test_no_input_sequence_crashes_or_breaks_the_session(
    events: list, use_current_seq: bool
) -> None:
    chat = Chat()
    for event in events:
        if use_current_seq and isinstance(event, ChoicePicked):
            event = ChoicePicked(chat.session.seq, event.value, 1)
        chat.do(event)  # renders every message in both languages
        session = chat.session
        assert Session.from_json(session.to_json()) == session
        if session.flow is not None:
            flow = FLOWS[session.flow]
            assert session.step == "summary" or session.step in flow.steps
        assert chat.sent, f"no answer to {event!r}"
