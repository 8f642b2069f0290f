"""The correction-request aggregate: a request for a correction, an admin resolving it."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import col

from bot.storage import audit
from bot.storage.handlers import Handlers
from bot.storage.lookups import (
    MAX_OPEN_REQUESTS,
    REQUEST_DUE,
    Turn,
    row_id,
    sponsor_by_id,
    sponsor_of_user,
    sponsorship,
    use_invitations,
    worker_invitation,
)
from bot.storage.models import CorrectionRequest, Sponsorship
from flows.access import Scope
from flows.commands import Applied, Outcome, Refused, RequestCorrection, ResolveRequest
from flows.events import CorrectionRequested, RequestsWaiting


def request_correction(turn: Turn, command: RequestCorrection) -> Outcome:
    session = turn.session
    already_open = session.scalar(
        select(func.count())
        .select_from(CorrectionRequest)
        .where(
            col(CorrectionRequest.requester_user_id) == command.user_id,
            col(CorrectionRequest.resolved_at).is_(None),
        )
    )
    if (already_open or 0) >= MAX_OPEN_REQUESTS:
        return Refused("too_many_requests")
    row = (
        _worker_target(turn, command) if command.subject == "worker" else _own_target(turn, command)
    )
    if isinstance(row, Refused):
        return row
    request = CorrectionRequest(
        kind="correction",
        sponsorship_id=row_id(row) if row is not None else None,
        requester_user_id=command.user_id,
        subject=command.subject,
        details_sealed=turn.rules.sealer.seal(command.details),
        created_at=command.at,
        due_at=command.at + REQUEST_DUE,
    )
    session.add(request)
    session.flush()
    reference = row.reference if row is not None else None
    turn.record(
        CorrectionRequested(
            request_id=row_id(request),
            subject=command.subject,
            reference=reference,
            sponsorship_id=row_id(row) if row is not None else None,
            sponsor_user_id=(
                sponsor_by_id(session, row.sponsor_id).user_id if row is not None else None
            ),
        )
    )
    for admin_id in sorted(turn.rules.admin_ids):
        turn.record(RequestsWaiting(admin_user_id=admin_id, at=command.at))
    return Applied(reference=reference)


def _worker_target(turn: Turn, command: RequestCorrection) -> Sponsorship | Refused:
    """The sponsorship a worker's request is about."""
    if command.reference is None:
        return Refused("unknown_reference")
    row = sponsorship(turn.session, command.reference)
    if row is None:
        return Refused("unknown_reference")
    if row.worker_user_id == command.user_id and row.erased_at is not None:
        return Refused("wrong_state")  # nothing left to correct
    if row.worker_user_id is None or row.worker_user_id != command.user_id:
        # Not (yet) the linked worker: the invitation they opened must still be good, and the
        # request is their decision, which uses it up.
        found = worker_invitation(turn, command.user_id, command.reference, bind=True)
        if isinstance(found, Refused):
            return found
        row, _invitation = found
        use_invitations(turn, row_id(row))
    return row


def _own_target(turn: Turn, command: RequestCorrection) -> Sponsorship | Refused | None:
    """The sponsorship a sponsor's request is about; None for their own data."""
    if command.reference is None:
        if sponsor_of_user(turn.session, command.user_id) is None:
            return Refused("not_registered")
        return None
    row = sponsorship(turn.session, command.reference)
    if row is None:
        return Refused("unknown_reference")
    if sponsor_by_id(turn.session, row.sponsor_id).user_id != command.user_id:
        return Refused("not_allowed")
    return row


RESOLVE = "request.resolve"


def resolve_request(turn: Turn, command: ResolveRequest) -> Outcome:
    if command.user_id not in turn.rules.admin_ids:
        return Refused("not_allowed")
    request = turn.session.get(CorrectionRequest, command.request_id, with_for_update=True)
    if request is None:
        return Refused("unknown_reference")
    if request.resolved_at is not None:
        return Refused("wrong_state")
    request.resolved_at = command.at
    request.resolved_by_user_id = command.user_id
    actor = audit.Actor(Scope.superadmin(), command.user_id)
    audit.record(
        turn.session, actor, RESOLVE, command.at, detail=f"request {request.id}", row_count=1
    )
    reference = None
    if request.sponsorship_id is not None:
        row = turn.session.get(Sponsorship, request.sponsorship_id)
        reference = row.reference if row is not None else None
    turn.session.flush()
    return Applied(reference=reference)


HANDLERS: Handlers = {RequestCorrection: request_correction, ResolveRequest: resolve_request}
