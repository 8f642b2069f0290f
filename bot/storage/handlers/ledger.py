"""The ledger's marks from the chat: a treasurer (or a superadmin) marks a month's rows as
deducted under /rekap (the command line calls bot.storage.ledger directly, as a superadmin)."""

from __future__ import annotations

from bot.storage import audit, staff
from bot.storage.audit import Actor
from bot.storage.handlers import Handlers
from bot.storage.ledger_marks import mark_deducted
from bot.storage.lookups import Turn
from flows import ledger as ledger_rules
from flows.access import Scope
from flows.commands import Applied, MarkMonthDeducted, Outcome, Refused

MARK: str = "ledger.mark"  # the audit action, as `peduli ledger mark` writes it


def mark_month_deducted(turn: Turn, command: MarkMonthDeducted) -> Outcome:
    """Marks the month's unmarked rows within the actor's scope, read here from ADMIN_IDS and
    staff_roles (a command is never trusted for who may act), with an audit entry in the same
    transaction. An actor who may not mark, or an agency outside their scope, marks nothing."""
    scope = _scope_of(turn, command.user_id)
    if scope is None or not ledger_rules.may_mark(scope):
        return Refused("not_allowed")
    agencies = scope.restrict(None if command.agency is None else [command.agency])
    if agencies is not None and not agencies:
        return Refused("not_allowed")
    month = ledger_rules.check_month(command.month)
    # What /rekap listed and asks about: the ASN's rows of the treasurer's workbook, or the
    # transfers of sponsors without a NIP (issue 12), never both at once.
    count = mark_deducted(
        turn.session, month, agencies, command.user_id, turn.now, asn=not command.transfers
    )
    kind = " transfers" if command.transfers else ""
    detail = f"month={month:%Y-%m} agency={command.agency or '*'} chat{kind}"
    actor = Actor(scope, command.user_id, audit.TELEGRAM)
    audit.record(turn.session, actor, MARK, turn.now, detail=detail, row_count=count)
    return Applied(row_count=count)


def _scope_of(turn: Turn, user_id: int) -> Scope | None:
    if user_id in turn.rules.admin_ids:
        return Scope.superadmin()
    member = staff.member(turn.session, user_id)
    return None if member is None else Scope.of(member.role, member.agencies)


HANDLERS: Handlers = {MarkMonthDeducted: mark_month_deducted}
