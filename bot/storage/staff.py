"""Who runs the programme: operators and treasurers (the table staff_roles, models.StaffRole).

One role per person: granting a role replaces whatever role the person had (the result says which,
so the caller can tell). An operator is given one or more agencies, a treasurer exactly one; every
agency must be one of the programme catalog's. Superadmins come from ADMIN_IDS only: they are
never granted or revoked here. Every change writes its audit entry (bot.storage.audit) in the
caller's transaction, so a change is never missing from the log.

Nothing here words a message: refusals are StaffError with a reason code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.storage import audit
from bot.storage.models import StaffRole
from flows.access import GRANTED_ROLES, Role

GRANT = "staff.grant"
REVOKE = "staff.revoke"

# Reasons of StaffError
SUPERADMIN = "superadmin"  # the person is a superadmin (ADMIN_IDS): configured, not granted
NOT_GRANTABLE = "not_grantable"  # a role that is not granted (superadmin) or unknown
NO_AGENCY = "no_agency"
TREASURER_ONE_AGENCY = "treasurer_one_agency"
UNKNOWN_AGENCY = "unknown_agency"
NOT_STAFF = "not_staff"  # revoking someone without a role
BAD_USER_ID = "bad_user_id"

MAX_USER_ID = 2**63 - 1  # staff_roles.user_id is a BIGINT


class StaffError(ValueError):
    """A grant or revocation refused; nothing was written. reason: one of the codes above;
    agencies: the unknown agency codes (UNKNOWN_AGENCY)."""

    def __init__(self, reason: str, agencies: Iterable[str] = ()) -> None:
        self.reason = reason
        self.agencies = tuple(sorted(agencies))
        detail = f": {', '.join(self.agencies)}" if self.agencies else ""
        super().__init__(f"{reason}{detail}")


@dataclass(frozen=True)
class StaffMember:
    user_id: int
    role: Role
    agencies: tuple[str, ...]  # sorted
    granted_at: datetime
    granted_by_user_id: int | None


@dataclass(frozen=True)
class Granted:
    """The member as granted, and what they were before (None: no role)."""

    member: StaffMember
    previous: StaffMember | None

    @property
    def role_replaced(self) -> bool:
        return self.previous is not None and self.previous.role is not self.member.role


def checked_grant(
    role: Role | str, agencies: Iterable[str], is_agency: Callable[[str], bool]
) -> tuple[Role, frozenset[str]]:
    """The role and agencies of a grant, or StaffError: a granted role (operator, treasurer), at
    least one agency, exactly one for a treasurer, every one known to the catalog."""
    try:
        granted = Role(role)
    except ValueError:
        raise StaffError(NOT_GRANTABLE) from None
    if granted not in GRANTED_ROLES:
        raise StaffError(NOT_GRANTABLE)
    codes = frozenset(code.strip() for code in agencies if code.strip())
    if not codes:
        raise StaffError(NO_AGENCY)
    if granted is Role.TREASURER and len(codes) != 1:
        raise StaffError(TREASURER_ONE_AGENCY)
    unknown = [code for code in codes if not is_agency(code)]
    if unknown:
        raise StaffError(UNKNOWN_AGENCY, unknown)
    return granted, codes


def grant(
    session: Session,
    actor: audit.Actor,
    user_id: int,
    role: Role | str,
    agencies: Iterable[str],
    now: datetime,
    *,
    is_agency: Callable[[str], bool],
    superadmins: frozenset[int],
) -> Granted:
    """Give the person the role for these agencies, replacing any role they had."""
    _check_user_id(user_id)
    if user_id in superadmins:
        raise StaffError(SUPERADMIN)
    granted, codes = checked_grant(role, agencies, is_agency)
    previous = member(session, user_id, lock=True)
    session.execute(delete(StaffRole).where(col(StaffRole.user_id) == user_id))
    for code in sorted(codes):
        session.add(
            StaffRole(
                user_id=user_id,
                agency_code=code,
                role=granted.value,
                granted_at=now,
                granted_by_user_id=actor.user_id,
            )
        )
    session.flush()
    detail = f"user {user_id}: {granted.value} {','.join(sorted(codes))}"
    if previous is not None:
        detail += f" (was {previous.role.value} {','.join(previous.agencies)})"
    audit.record(session, actor, GRANT, now, detail=detail, row_count=len(codes))
    current = StaffMember(user_id, granted, tuple(sorted(codes)), now, actor.user_id)
    return Granted(current, previous)


def revoke(
    session: Session,
    actor: audit.Actor,
    user_id: int,
    now: datetime,
    *,
    superadmins: frozenset[int],
) -> StaffMember:
    """Take the person's role away; returns what they had."""
    _check_user_id(user_id)
    if user_id in superadmins:
        raise StaffError(SUPERADMIN)
    previous = member(session, user_id, lock=True)
    if previous is None:
        raise StaffError(NOT_STAFF)
    result = session.execute(delete(StaffRole).where(col(StaffRole.user_id) == user_id))
    detail = f"user {user_id}: {previous.role.value} {','.join(previous.agencies)}"
    audit.record(
        session, actor, REVOKE, now, detail=detail, row_count=getattr(result, "rowcount", None)
    )
    return previous


def member(session: Session, user_id: int, *, lock: bool = False) -> StaffMember | None:
    query = select(StaffRole).where(col(StaffRole.user_id) == user_id)
    if lock:
        query = query.with_for_update()
    rows = session.scalars(query).all()
    return _members(rows)[0] if rows else None


def members(session: Session) -> list[StaffMember]:
    """Every member of staff, by Telegram id."""
    rows = session.scalars(
        select(StaffRole).order_by(col(StaffRole.user_id), col(StaffRole.agency_code))
    ).all()
    return _members(rows)


def _members(rows: Iterable[StaffRole]) -> list[StaffMember]:
    found: dict[int, list[StaffRole]] = {}
    for row in rows:
        found.setdefault(row.user_id, []).append(row)
    result = []
    for user_id, own in sorted(found.items()):
        result.append(
            StaffMember(
                user_id=user_id,
                role=Role(own[0].role),
                agencies=tuple(sorted(row.agency_code for row in own)),
                granted_at=min(row.granted_at for row in own),
                granted_by_user_id=own[0].granted_by_user_id,
            )
        )
    return result


def _check_user_id(user_id: int) -> None:
    if not 0 < user_id <= MAX_USER_ID:
        raise StaffError(BAD_USER_ID)
