"""Staff roles (bot.storage.staff), the chat's grant and revoke commands through the unit of work,
the audit of admin actions, and the append-only audit log; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.coverage import import_coverage
from bot.storage import audit, staff
from bot.storage.models import AppendOnlyViolation, AuditEntry
from bot.storage.repository import Repository
from flows.access import Role, Scope
from flows.commands import Applied, GrantStaffRole, Refused, ResolveRequest, RevokeStaffRole
from tests.clock import MovableClock
from tests.integration.test_storage_repository import SEALER
from tests.integration.test_storage_worker import (
    ADMIN,
    SPONSOR,
    T0,
    activate,
    apply,
    confirmed,
    correction,
    one,
    register,
    rows,
)
from tests.notify import notify

AGENCIES = frozenset({"dinkes", "disdik", "setda"})
OPERATOR = 5001
OUTSIDER = 5002
NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
CLI = audit.Actor.cli()


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0)


@pytest.fixture
def repo(engine: Engine, clock: MovableClock) -> Repository:
    return Repository(
        engine,
        SEALER,
        notify=notify,
        clock=clock,
        admin_ids=frozenset({ADMIN}),
        agency_codes=AGENCIES,
    )


def grant(engine: Engine, user_id: int, role: str, *agencies: str) -> staff.Granted:
    with Session(engine) as session, session.begin():
        return staff.grant(
            session,
            CLI,
            user_id,
            role,
            agencies,
            NOW,
            is_agency=AGENCIES.__contains__,
            superadmins=frozenset({ADMIN}),
        )


def members(engine: Engine) -> list[staff.StaffMember]:
    with Session(engine) as session:
        return staff.members(session)


def log(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(audit.entries(session))


def test_grant_list_replace_and_revoke_each_audited(engine: Engine) -> None:
    granted = grant(engine, OPERATOR, "operator", "dinkes", "setda")
    assert granted.previous is None and not granted.role_replaced
    [member] = members(engine)
    assert (member.user_id, member.role, member.agencies) == (
        OPERATOR,
        Role.OPERATOR,
        ("dinkes", "setda"),
    )
    # One role per person: a treasurer grant replaces the operator rows, and says what it was.
    replaced = grant(engine, OPERATOR, "treasurer", "disdik")
    assert replaced.role_replaced and replaced.previous is not None
    assert replaced.previous.role is Role.OPERATOR
    assert [(m.role, m.agencies) for m in members(engine)] == [(Role.TREASURER, ("disdik",))]
    assert len(rows(engine, "SELECT * FROM staff_roles")) == 1
    with Session(engine) as session, session.begin():
        staff.revoke(session, CLI, OPERATOR, NOW, superadmins=frozenset({ADMIN}))
    assert members(engine) == []
    entries = log(engine)
    assert [(e.action, e.row_count, e.scope, e.channel, e.actor_user_id) for e in entries] == [
        (staff.GRANT, 2, "*", "cli", None),
        (staff.GRANT, 1, "*", "cli", None),
        (staff.REVOKE, 1, "*", "cli", None),
    ]
    assert entries[1].detail is not None and "was operator" in entries[1].detail


def test_a_treasurer_has_exactly_one_agency(engine: Engine) -> None:
    with pytest.raises(staff.StaffError) as refused:
        grant(engine, OPERATOR, "treasurer", "dinkes", "setda")
    assert refused.value.reason == staff.TREASURER_ONE_AGENCY
    with pytest.raises(staff.StaffError) as none:
        grant(engine, OPERATOR, "operator")
    assert none.value.reason == staff.NO_AGENCY
    assert members(engine) == [] and log(engine) == []


def test_an_unknown_agency_is_refused_and_nothing_written(engine: Engine) -> None:
    with pytest.raises(staff.StaffError) as refused:
        grant(engine, OPERATOR, "operator", "dinkes", "nope")
    assert refused.value.reason == staff.UNKNOWN_AGENCY and refused.value.agencies == ("nope",)
    assert members(engine) == [] and log(engine) == []


@pytest.mark.parametrize("role", ["superadmin", "kepala"])
def test_only_operator_and_treasurer_are_granted(engine: Engine, role: str) -> None:
    with pytest.raises(staff.StaffError) as refused:
        grant(engine, OPERATOR, role, "dinkes")
    assert refused.value.reason == staff.NOT_GRANTABLE


def test_a_superadmin_is_neither_granted_nor_revoked(engine: Engine) -> None:
    with pytest.raises(staff.StaffError) as granted:
        grant(engine, ADMIN, "operator", "dinkes")
    assert granted.value.reason == staff.SUPERADMIN
    with Session(engine) as session, session.begin(), pytest.raises(staff.StaffError) as revoked:
        staff.revoke(session, CLI, ADMIN, NOW, superadmins=frozenset({ADMIN}))
    assert revoked.value.reason == staff.SUPERADMIN
    assert members(engine) == [] and log(engine) == []


def test_the_chat_commands_through_the_unit_of_work(engine: Engine, repo: Repository) -> None:
    assert one(repo, ADMIN, GrantStaffRole(ADMIN, OPERATOR, "operator", ("dinkes",))) == Applied()
    assert repo.user_record(OPERATOR).staff_role == "operator"
    assert repo.user_record(OPERATOR).staff_agencies == frozenset({"dinkes"})
    outcome = one(repo, ADMIN, GrantStaffRole(ADMIN, OPERATOR, "treasurer", ("setda",)))
    assert outcome == Applied(replaced_role="operator")
    assert one(repo, ADMIN, RevokeStaffRole(ADMIN, OPERATOR)) == Applied()
    assert repo.user_record(OPERATOR).staff_role is None
    assert one(repo, ADMIN, RevokeStaffRole(ADMIN, OPERATOR)) == Refused(staff.NOT_STAFF)
    entries = log(engine)
    assert [(e.action, e.actor_user_id, e.channel, e.scope) for e in entries] == [
        (staff.GRANT, ADMIN, "telegram", "*"),
        (staff.GRANT, ADMIN, "telegram", "*"),
        (staff.REVOKE, ADMIN, "telegram", "*"),
    ]


def test_the_unit_of_work_checks_the_catalog_and_the_treasurer_rule(
    engine: Engine, repo: Repository
) -> None:
    unknown = GrantStaffRole(ADMIN, OPERATOR, "operator", ("dinkes", "nope"))
    assert one(repo, ADMIN, unknown) == Refused(staff.UNKNOWN_AGENCY)
    two = GrantStaffRole(ADMIN, OPERATOR, "treasurer", ("dinkes", "setda"))
    assert one(repo, ADMIN, two) == Refused(staff.TREASURER_ONE_AGENCY)
    assert members(engine) == [] and log(engine) == []


@pytest.mark.parametrize("actor", [OPERATOR, OUTSIDER])
def test_only_a_superadmin_grants_or_revokes_whatever_the_command_says(
    engine: Engine, repo: Repository, actor: int
) -> None:
    grant(engine, OPERATOR, "operator", "dinkes")
    before = (members(engine), len(log(engine)))
    forged = GrantStaffRole(actor, OUTSIDER, "operator", ("dinkes", "setda"))
    assert one(repo, actor, forged) == Refused("not_allowed")
    assert one(repo, actor, RevokeStaffRole(actor, OPERATOR)) == Refused("not_allowed")
    assert (members(engine), len(log(engine))) == before


def test_activation_and_resolution_by_an_admin_are_audited(
    engine: Engine, repo: Repository
) -> None:
    reference = confirmed(repo)
    assert one(repo, ADMIN, activate(reference, actor=ADMIN)) == Applied(reference)
    apply(repo, SPONSOR, correction(None, SPONSOR, "sponsor"))
    [request] = repo.open_requests()
    assert one(repo, ADMIN, ResolveRequest(ADMIN, request.id, T0)) == Applied(None)
    entries = log(engine)
    assert [(e.action, e.actor_user_id, e.scope, e.row_count) for e in entries] == [
        ("coverage.activate", ADMIN, "*", 1),
        ("request.resolve", ADMIN, "*", 1),
    ]
    assert entries[0].detail == reference and entries[1].detail == f"request {request.id}"


def test_a_refused_activation_leaves_no_audit_entry(engine: Engine, repo: Repository) -> None:
    assert one(repo, ADMIN, activate("PR-NOSUCH", actor=ADMIN)) == Refused("unknown_reference")
    assert log(engine) == []


def test_viewing_the_queue_and_the_staff_list_is_audited_with_the_row_count(
    engine: Engine, repo: Repository
) -> None:
    apply(repo, SPONSOR, register(SPONSOR), correction(None, SPONSOR, "sponsor"))
    grant(engine, OPERATOR, "operator", "dinkes", "setda")
    assert len(repo.open_requests_viewed(ADMIN)) == 1
    assert [m.user_id for m in repo.staff_viewed(ADMIN)] == [OPERATOR]
    # Anyone else gets nothing, and nothing is logged for them.
    assert repo.open_requests_viewed(OPERATOR) == [] and repo.staff_viewed(OPERATOR) == []
    views = [(e.action, e.actor_user_id, e.row_count) for e in log(engine)[1:]]
    assert views == [("queue.view", ADMIN, 1), ("staff.view", ADMIN, 1)]


def test_the_coverage_import_is_audited_once_with_its_row_count(
    engine: Engine, repo: Repository
) -> None:
    reference = confirmed(repo)
    text = (
        "reference,kpj,start_date\n"
        f"{reference},23012345678,2026-12-01\n"
        "PR-NOSUCH,1234567890,2026-12-01\n"
    )
    import_coverage(repo, text, dry_run=True)
    assert log(engine) == []  # a dry run writes nothing, the log included
    import_coverage(repo, text)
    [entry] = log(engine)
    assert (entry.action, entry.channel, entry.actor_user_id, entry.scope) == (
        "coverage.import",
        "cli",
        None,
        "*",
    )
    assert entry.row_count == 1 and entry.detail is not None and "unmatched 1" in entry.detail


def test_audit_entries_cannot_be_updated_or_deleted(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        audit.record(
            session, audit.Actor(Scope.superadmin(), ADMIN), "queue.view", NOW, row_count=3
        )
    with Session(engine) as session:
        entry = session.scalars(sa.select(AuditEntry)).one()
        entry.row_count = 0
        with pytest.raises(AppendOnlyViolation):
            session.flush()
        session.rollback()
        entry = session.scalars(sa.select(AuditEntry)).one()
        session.delete(entry)
        with pytest.raises(AppendOnlyViolation):
            session.flush()
        session.rollback()
    [kept] = log(engine)
    assert kept.row_count == 3 and kept.actor_user_id == ADMIN
