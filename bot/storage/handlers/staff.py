"""The staff aggregate: a superadmin grants or revokes an operator's or treasurer's role from the
admin chat (the command line calls bot.storage.staff directly)."""

from __future__ import annotations

from bot.storage import staff
from bot.storage.audit import Actor
from bot.storage.handlers import Handlers
from bot.storage.lookups import Turn
from flows.access import Scope
from flows.commands import Applied, GrantStaffRole, Outcome, Refused, RevokeStaffRole


def grant_staff_role(turn: Turn, command: GrantStaffRole) -> Outcome:
    rules = turn.rules
    if command.user_id not in rules.admin_ids:  # a command is never trusted for who may act
        return Refused("not_allowed")
    actor = Actor(Scope.superadmin(), command.user_id)
    try:
        granted = staff.grant(
            turn.session,
            actor,
            command.target_user_id,
            command.role,
            command.agencies,
            turn.now,
            is_agency=rules.agency_codes.__contains__,
            superadmins=rules.admin_ids,
        )
    except staff.StaffError as error:
        return Refused(error.reason)
    replaced = granted.previous.role.value if granted.role_replaced and granted.previous else None
    return Applied(replaced_role=replaced)


def revoke_staff_role(turn: Turn, command: RevokeStaffRole) -> Outcome:
    rules = turn.rules
    if command.user_id not in rules.admin_ids:
        return Refused("not_allowed")
    actor = Actor(Scope.superadmin(), command.user_id)
    try:
        staff.revoke(
            turn.session, actor, command.target_user_id, turn.now, superadmins=rules.admin_ids
        )
    except staff.StaffError as error:
        return Refused(error.reason)
    return Applied()


HANDLERS: Handlers = {GrantStaffRole: grant_staff_role, RevokeStaffRole: revoke_staff_role}
