"""Sponsorship statuses live in one place (flows.statuses): the handlers move a row only along
the transition table, and the database constraints are built from the same values."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import CheckConstraint

from bot.storage.lookups import move
from bot.storage.models import Sponsorship
from flows.statuses import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    TRANSITIONS,
    IllegalTransition,
    SponsorshipStatus,
    checked_transition,
)

NOW = datetime(2026, 3, 10, tzinfo=UTC)
HANDLERS = Path(__file__).resolve().parents[2] / "bot" / "storage" / "handlers"
# The ledger lapses sponsorships outside the command handlers (a periodic check, not a command).
LEDGER = HANDLERS.parent / "ledger.py"
# What the handlers do, by hand: submit (new row, waiting_worker), the worker's consent or the
# sponsor's in-person record (confirmed), the worker's refusal (declined), a withdrawal from any
# open status (withdrawn), the coverage import or /aktifkan (active), the ledger's lapse check
# (lapsed: no deduction recorded for two months).
EXPECTED_MOVES = {
    (SponsorshipStatus.WAITING_WORKER, SponsorshipStatus.CONFIRMED),
    (SponsorshipStatus.WAITING_WORKER, SponsorshipStatus.DECLINED),
    (SponsorshipStatus.WAITING_WORKER, SponsorshipStatus.WITHDRAWN),
    (SponsorshipStatus.CONFIRMED, SponsorshipStatus.ACTIVE),
    (SponsorshipStatus.CONFIRMED, SponsorshipStatus.WITHDRAWN),
    (SponsorshipStatus.ACTIVE, SponsorshipStatus.WITHDRAWN),
    (SponsorshipStatus.ACTIVE, SponsorshipStatus.LAPSED),
}


def _moves_in_handlers() -> set[str]:
    """The statuses the handlers and the ledger move a row to (arguments of move(), _decide()
    and checked_transition())."""
    targets: set[str] = set()
    moving = ("move", "_decide", "checked_transition")
    for path in [*HANDLERS.glob("*.py"), LEDGER]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in moving:
                for argument in node.args:
                    if (
                        isinstance(argument, ast.Attribute)
                        and isinstance(argument.value, ast.Name)
                        and argument.value.id == "SponsorshipStatus"
                    ):
                        targets.add(argument.attr)
    return targets


def test_the_table_is_exactly_the_moves_the_handlers_make() -> None:
    table = {(old, new) for old, news in TRANSITIONS.items() for new in news}
    assert table == EXPECTED_MOVES
    assert {SponsorshipStatus[name] for name in _moves_in_handlers()} == {
        new for _old, new in EXPECTED_MOVES
    }


def test_no_handler_sets_a_status_but_through_the_table() -> None:
    for path in HANDLERS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    assert not (isinstance(target, ast.Attribute) and target.attr == "status"), (
                        f"{path.name}:{node.lineno} sets a status without move()"
                    )


def test_closed_statuses_are_final_and_open_and_closed_cover_all() -> None:
    assert set(OPEN_STATUSES) | set(CLOSED_STATUSES) == set(SponsorshipStatus)
    assert not set(OPEN_STATUSES) & set(CLOSED_STATUSES)
    for status in CLOSED_STATUSES:
        assert TRANSITIONS[status] == frozenset()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("declined", SponsorshipStatus.CONFIRMED),
        ("withdrawn", SponsorshipStatus.ACTIVE),
        ("waiting_worker", SponsorshipStatus.ACTIVE),
        ("active", SponsorshipStatus.CONFIRMED),
    ],
)
def test_an_illegal_transition_raises(old: str, new: SponsorshipStatus) -> None:
    with pytest.raises(IllegalTransition):
        checked_transition(old, new)
    row = Sponsorship(status=old)
    with pytest.raises(IllegalTransition):
        move(row, new, NOW)
    assert row.status == old


def test_only_an_active_sponsorship_can_lapse() -> None:
    assert checked_transition("active", SponsorshipStatus.LAPSED) == SponsorshipStatus.LAPSED
    for old in ("waiting_worker", "confirmed", "declined", "withdrawn", "lapsed"):
        with pytest.raises(IllegalTransition):
            checked_transition(old, SponsorshipStatus.LAPSED)


def test_a_legal_transition_moves_the_row() -> None:
    row = Sponsorship(status="confirmed")
    move(row, SponsorshipStatus.ACTIVE, NOW)
    assert row.status == "active" and type(row.status) is str


def test_the_check_constraint_keeps_its_text() -> None:
    """Built from the enum, the constraint reads as the migrations wrote it (no migration)."""
    table = Sponsorship.__table__  # type: ignore[attr-defined]
    checks = {str(c.sqltext) for c in table.constraints if isinstance(c, CheckConstraint)}
    statuses = "'waiting_worker', 'confirmed', 'active', 'declined', 'withdrawn', 'lapsed'"
    assert f"status IN ({statuses})" in checks
