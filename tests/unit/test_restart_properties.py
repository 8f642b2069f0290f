"""Issue 6 item 6: "🔄 Mulai ulang", continue, cancel and back at every step of every flow.

Every flow is walked once to every one of its steps (each a recipe of inputs replayed on a fresh
chat); at each, the navigation a person can do (start over, continue, cancel, back, help, change
language, come back later, an old button) must neither raise nor produce a message that is not
valid: every text renders in both languages, is within Telegram's 4096 characters, and every
button's callback data fits in 64 bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.catalog import load_programme
from bot.i18n import Renderer
from bot.service import TEXT_LIMIT, ConversationService
from bot.settings import DEFAULT_PROGRAMME_FILE
from flows import engine, worker
from flows.access import Scope
from flows.callbacks import ACTION, LANGUAGE, MENU
from flows.commands import InvitationOpened, OpenInvitation
from flows.effects import Message
from flows.inputs import ChoicePicked, CommandIssued, TextReceived
from flows.router import FLOWS
from flows.session import Session
from tests.unit.flowkit import VALID_NIK, VALID_NIP, Chat
from tests.unit.test_worker_and_rights_flows import DETAILS

Action = tuple[str, str]

SIGNUP: tuple[Action, ...] = (
    ("command", "start"),
    ("press", "lang:id"),
    ("type", VALID_NIP),
    ("press", "yes"),
    ("type", "Dra. Siti Aminah"),
    ("press", "dinkes"),
    ("contact", "6281234567890"),
)
SPONSORSHIP: tuple[Action, ...] = (
    ("press", "rumah_tangga"),
    ("press", "art"),
    ("type", "Ujang Suryana"),
    ("type", VALID_NIK),
    ("press", "ok"),
    ("type", "0812-3456-7890"),
    ("press", "su"),
    ("press", "32.05.01"),
    ("press", "32.05.01.1001"),
    ("press", "jkk_jkm"),
    ("press", "salary_deduction"),
    ("press", "agree"),
)
SAVED = (*SIGNUP, *SPONSORSHIP, ("press", "save"))
# Sponsors without a NIP (issue 12): "Saya bukan ASN" under the NIP question, then their type.
NO_NIP: tuple[Action, ...] = (("command", "start"), ("press", "lang:id"), ("press", "no_nip"))
PAID_BY = SPONSORSHIP[:-2]  # the worker, up to the payment route of the funder type
INVITED: tuple[Action, ...] = (("invitation", ""), ("command", "start:w_tok3n"))


@dataclass(frozen=True)
class Recipe:
    """Inputs that bring a fresh chat to one step of one flow."""

    user_id: int
    actions: tuple[Action, ...]

    def chat(self) -> Chat:
        chat = Chat(user_id=self.user_id)
        for action, argument in self.actions:
            ACTIONS[action](chat, argument)
        return chat


def _command(chat: Chat, argument: str) -> None:
    name, _, parameter = argument.partition(":")
    chat.command(name, parameter)


def _invitation(chat: Chat, argument: str) -> None:
    chat.host.scripted[OpenInvitation] = [InvitationOpened(DETAILS)]


def _superadmin(chat: Chat, argument: str) -> None:
    chat.host.is_admin = True
    chat.host.scope = Scope.superadmin()


def _deployment(chat: Chat, argument: str) -> None:
    """A deployment of several regencies (Garut, Kendal, Majene): its steps shown only then."""
    chat.programme = DEPLOYMENT


DEPLOYMENT = load_programme(DEFAULT_PROGRAMME_FILE.parent / "regencies_example.toml")

ACTIONS: dict[str, Callable[[Chat, str], object]] = {
    "deployment": _deployment,
    "superadmin": _superadmin,
    "command": _command,
    "press": lambda chat, value: chat.press(value),
    "type": lambda chat, text: chat.type(text),
    "contact": lambda chat, phone: chat.share_contact(phone),
    "invitation": _invitation,
}

# Each path is walked from its start; every step it passes through is a place to test from.
PATHS: tuple[tuple[int, tuple[Action, ...]], ...] = (
    (1001, (*SIGNUP, *SPONSORSHIP)),
    (1001, (*SIGNUP[:4], ("press", "no"))),
    (1001, (*SIGNUP, ("press", "tetangga"), ("press", "lainnya"), ("type", "tukang becak"))),
    (1001, (*SIGNUP, *SPONSORSHIP[:4], ("press", "differs"), ("type", "lahir 1991"))),
    # A worker living outside the sponsor's regency (issue 12): province, regency, kecamatan.
    (
        1001,
        (
            *SIGNUP,
            *SPONSORSHIP[:7],
            ("press", "elsewhere"),
            ("press", "33"),
            ("press", "33.24"),
            ("press", "33.24.12"),
            ("press", "33.24.12.2001"),
            *SPONSORSHIP[9:],
            ("press", "save"),
        ),
    ),
    (
        1001,
        (
            *NO_NIP,
            ("press", "desa"),
            ("press", "32.05.03"),
            ("press", "32.05.03.2001"),
            ("type", "Asep Saepudin"),
            ("type", "Kepala Desa"),
            ("contact", "6281234567890"),
            *PAID_BY,
            ("press", "village_budget"),
            ("press", "agree"),
            ("press", "save"),
        ),
    ),
    (
        1001,
        (
            *NO_NIP,
            ("press", "perusahaan"),
            ("type", "PT Sumber Rejeki Garut"),
            ("type", "Rina Marlina"),
            ("type", "Manajer CSR"),
            ("contact", "6281234567890"),
        ),
    ),
    (1001, (*NO_NIP, ("press", "honorer"), ("type", "Dede Kurnia"), ("press", "dinkes"))),
    # Several regencies: a village of Kendal chooses its regency first (issue 12).
    (1001, (("deployment", ""), *NO_NIP, ("press", "33.24"), ("press", "desa"))),
    (2002, (*INVITED, ("type", "05-01-1990"), ("press", "decline"))),
    (2002, (*INVITED, ("type", "05-01-1990"), ("press", "wrong"))),
    (1001, (*SAVED, ("press", "act:inperson:PR-TEST1"))),
    (1001, (*SAVED, ("press", "act:withdraw:PR-TEST1"))),
    (1001, (*SAVED, ("command", "koreksi"))),
    (2002, (("press", "act:wwithdraw:PR-ABCDEF"),)),
    (2002, (("press", "act:wcorrect:PR-ABCDEF"),)),
    (
        3003,
        (
            ("superadmin", ""),
            ("command", "umumkan"),
            ("type", "Pendaftaran ditutup 30 September."),
            ("press", "none"),
            ("press", "agency_asn"),
        ),
    ),
)


@cache
def places() -> dict[tuple[str, str], Recipe]:
    """(flow, step) -> the shortest recipe found that reaches it."""
    found: dict[tuple[str, str], Recipe] = {}
    for user_id, actions in PATHS:
        chat = Chat(user_id=user_id)
        for i, (action, argument) in enumerate(actions):
            ACTIONS[action](chat, argument)
            session = chat.session
            if session.flow is not None and session.step is not None:
                found.setdefault((session.flow, session.step), Recipe(user_id, actions[: i + 1]))
    return found


PLACES = sorted(places())
EVERGREEN = (MENU, ACTION, LANGUAGE)  # buttons that mean the same whenever pressed


def assert_valid(chat: Chat) -> None:
    """Every message of the last turn can be sent as is, and the session is sound."""
    assert chat.sent, "no answer"
    for effect in chat.sent:
        if isinstance(effect, Message):
            for language in ("id", "en"):
                outgoing = ConversationService.render(effect, Renderer(language))
                assert len(outgoing.text) <= TEXT_LIMIT
                assert outgoing.text.strip()
            for row in effect.buttons:  # a question's buttons carry its number, or never go stale
                for button in row:
                    assert effect.seq is not None or button.value.startswith(EVERGREEN), button
    session = chat.session
    assert Session.from_json(session.to_json()) == session
    if session.flow is not None:
        flow = FLOWS[session.flow]
        assert session.step == engine.SUMMARY or session.step in flow.steps
        assert all(key in session.answers for key in flow.starts_from), session.answers
        if session.step is not None:  # the current question can always be asked again
            engine.prompt(flow, session, chat.context())


def test_the_walk_reaches_every_step_of_every_flow() -> None:
    expected = {(flow.id, step) for flow in FLOWS.values() for step in flow.steps}
    expected |= {(flow.id, engine.SUMMARY) for flow in FLOWS.values() if flow.summary}
    assert expected <= set(places()), expected - set(places())


@pytest.mark.parametrize(("flow_id", "step"), PLACES)
def test_start_over_at_every_step_starts_the_same_flow_from_where_it_began(
    flow_id: str, step: str
) -> None:
    chat = places()[(flow_id, step)].chat()
    origin = dict(chat.session.origin)
    chat.command("start")
    assert chat.message_keys() == ["resume.offer"]
    assert "resume:restart" in chat.values()
    chat.press("resume:restart")
    assert_valid(chat)
    flow = FLOWS[flow_id]
    assert chat.session.flow == flow_id and chat.session.step == flow.first
    assert chat.session.answers == origin
    chat.type("terima kasih")  # and what follows is answered as the first question
    assert_valid(chat)
    assert "error.unexpected" not in chat.message_keys()


def test_worker_flow_starts_from_every_detail_of_the_invitation() -> None:
    # agency_code (issue 12, the sponsor's regency) is optional: older sessions lack it.
    given = set(worker.answers_from(DETAILS, "Dinas Kesehatan"))
    # funder_type and organisation_name (issue 12) too: the worker is told whose funds pay.
    assert given == {*worker.FLOW.starts_from, "agency_code", "funder_type", "organisation_name"}


def test_a_session_saved_without_its_origin_is_continued_not_restarted() -> None:
    """A session stored before origins were kept: "start over" is not offered (and a pressed
    old "start over" button continues instead of crashing)."""
    chat = places()[("worker", "review")].chat()
    chat.session = chat.session.with_(origin={})
    chat.command("start")
    assert chat.message_keys() == ["resume.offer_continue"]
    assert "resume:restart" not in chat.values()
    chat.press("resume:restart")
    assert_valid(chat)
    assert chat.session.step == "review" and chat.message_keys() == ["worker.ask_decision"]


NAVIGATION = st.one_of(
    st.builds(
        CommandIssued,
        st.sampled_from(
            ["start", "batal", "kembali", "bantuan", "status", "bahasa", "koreksi", "data_saya"]
        ),
    ),
    st.tuples(
        st.sampled_from([0, -1]),  # the current prompt, or an older one
        st.sampled_from(
            [
                "resume:restart",
                "resume:continue",
                "back",
                "cancel",
                "help",
                "retry",
                "skip",
                "save",
                "lang:en",
                "lang:id",
                "lang:su",
                "lang:jv",
                "invite:open",
            ]
        ),
    ),
    st.just(CommandIssued("start", "w_tok3n")),  # an invitation link (unknown here)
    st.just(TextReceived("terima kasih")),
    st.just("later"),  # the user comes back a day later
)


SINGLE_MOVES: list[object] = [
    *[CommandIssued(name) for name in ("start", "batal", "kembali", "bantuan", "bahasa")],
    CommandIssued("start", "w_tok3n"),
    *[(0, value) for value in ("back", "cancel", "help", "retry", "skip", "save", "lang:en")],
    (-1, "back"),
    TextReceived("terima kasih"),
    "later",
]


def make(chat: Chat, move: object) -> None:
    if move == "later":
        chat.now += timedelta(days=1)
        chat.type("terima kasih")
    elif isinstance(move, tuple):
        offset, value = move
        chat.do(ChoicePicked(chat.session.seq + offset, value, 42))
    else:
        assert isinstance(move, CommandIssued | TextReceived)
        chat.do(move)


@pytest.mark.parametrize(("flow_id", "step"), PLACES)
def test_every_navigation_at_every_step_and_then_start_over_or_continue(
    flow_id: str, step: str
) -> None:
    """Each move once from this step, then /start and each answer of the offer that follows."""
    for move in SINGLE_MOVES:
        for then in ("resume:restart", "resume:continue", "cancel"):
            chat = places()[(flow_id, step)].chat()
            make(chat, move)
            assert_valid(chat)
            chat.command("start")
            assert_valid(chat)
            if then in chat.values():
                chat.press(then)
                assert_valid(chat)
            assert "error.unexpected" not in chat.message_keys()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PLACES), st.lists(NAVIGATION, min_size=1, max_size=6))
def test_navigation_from_every_step_never_crashes_and_every_message_is_valid(
    place: tuple[str, str], moves: list[object]
) -> None:
    chat = places()[place].chat()
    for move in moves:
        make(chat, move)
        assert_valid(chat)
        assert "error.unexpected" not in chat.message_keys()
