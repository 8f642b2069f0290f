"""/statistik and the agency buttons in the pure router: who gets figures of which agency, and
that anyone without a role gets exactly what an unknown command gets, mid-flow too."""

from __future__ import annotations

from flows import callbacks, router
from flows.access import Scope
from flows.context import Context, UserFacts
from flows.effects import Message, ShowStatistics, Toast
from flows.inputs import ChoicePicked, CommandIssued, Input
from flows.session import Session
from tests.unit.flowkit import NOW, PROGRAMME

OPERATOR = Scope.of("operator", ["dinkes", "disdik"])


def respond(event: Input, scope: Scope | None, session: Session | None = None) -> list[object]:
    facts = UserFacts(user_id=5, language="id", registered=False, scope=scope)
    context = Context(facts, PROGRAMME.catalog, NOW, lambda: "id")
    return list(router.respond(session or Session(), event, context).effects)


def keys(effects: list[object]) -> list[str]:
    return [e.text.key for e in effects if isinstance(e, Message | Toast)]  # type: ignore[union-attr]


def press(code: str) -> ChoicePicked:
    return ChoicePicked(callbacks.TIMELESS, callbacks.statistics(code), 77)


def test_staff_get_their_agencies_and_nothing_else() -> None:
    assert respond(CommandIssued("statistik"), OPERATOR) == [ShowStatistics()]
    assert respond(CommandIssued("statistik", " dinkes "), OPERATOR) == [ShowStatistics("dinkes")]
    assert respond(press("disdik"), OPERATOR) == [ShowStatistics("disdik")]
    for outside in ("setda", "nosuch", "dinkes,setda"):
        assert keys(respond(CommandIssued("statistik", outside), OPERATOR)) == ["stats.not_allowed"]
        assert keys(respond(press(outside), OPERATOR)) == ["stats.not_allowed"]
    # A superadmin covers every agency of the catalog, but not a code outside it.
    admin = Scope.superadmin()
    assert respond(CommandIssued("statistik", "setda"), admin) == [ShowStatistics("setda")]
    assert keys(respond(press("nosuch"), admin)) == ["stats.not_allowed"]


def test_without_a_role_statistik_is_an_unknown_command() -> None:
    for session in (Session(), Session(flow="signup", version=1, step="full_name", seq=3)):
        unknown = respond(CommandIssued("statistik"), None, session)
        other = respond(CommandIssued("tidakada"), None, session)
        assert repr(unknown).replace("/statistik", "/x") == repr(other).replace("/tidakada", "/x")
        assert not any(isinstance(e, ShowStatistics) for e in unknown)
    assert keys(respond(press("dinkes"), None)) == ["toast.stale"]
