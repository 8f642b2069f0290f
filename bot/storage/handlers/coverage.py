"""The coverage aggregate: BPJS coverage becomes active (an admin's /aktifkan, the import)."""

from __future__ import annotations

from datetime import UTC

from bot.storage import audit
from bot.storage.handlers import Handlers
from bot.storage.lookups import Turn, mask_kpj, move, row_id, sponsor_by_id, sponsorship
from flows.access import Scope
from flows.commands import ActivateCoverage, Applied, Outcome, Refused
from flows.events import CoverageActivated
from flows.statuses import SponsorshipStatus
from flows.validators.kpj import check_kpj

ACTIVATE = "coverage.activate"


def activate_coverage(turn: Turn, command: ActivateCoverage) -> Outcome:
    rules = turn.rules
    if command.actor_user_id is not None and command.actor_user_id not in rules.admin_ids:
        return Refused("not_allowed")
    kpj = command.kpj_number
    if check_kpj(kpj) != kpj:
        # Commands carry normalized numbers; anything else is a bug upstream, not user input.
        raise ValueError("KPJ number must be 8 to 16 digits")
    row = sponsorship(turn.session, command.reference)
    if row is None:
        return Refused("unknown_reference")
    if row.status == SponsorshipStatus.ACTIVE:
        if row.kpj_sealed is not None and rules.sealer.open(row.kpj_sealed) == kpj:
            return Applied(reference=row.reference)  # a repeated import: nothing new
        return Refused("wrong_state")
    if row.status != SponsorshipStatus.CONFIRMED:
        return Refused("wrong_state")
    move(row, SponsorshipStatus.ACTIVE, turn.now)
    row.kpj_sealed = rules.sealer.seal(kpj)
    row.kpj_masked = mask_kpj(kpj)
    row.coverage_start = command.coverage_start
    row.activated_at = turn.now
    row.activated_by_user_id = command.actor_user_id
    if command.actor_user_id is not None:  # /aktifkan; the file import audits itself, once
        actor = audit.Actor(Scope.superadmin(), command.actor_user_id)
        audit.record(turn.session, actor, ACTIVATE, turn.now, detail=row.reference, row_count=1)
    sponsor = sponsor_by_id(turn.session, row.sponsor_id)
    turn.record(
        CoverageActivated(
            reference=row.reference,
            sponsorship_id=row_id(row),
            sponsor_user_id=sponsor.user_id,
            sponsor_name=sponsor.full_name,
            worker_user_id=row.worker_user_id,
            worker_name=row.worker_full_name or "",
            kpj_number=kpj,
            coverage_start=command.coverage_start,
            programme_code=row.programme_code,
            agency_code=sponsor.agency_code,
            # The UTC date: never later than Indonesia's local date, so a start date told as
            # begun has begun (at worst today's start is told as "from today").
            activated_on=turn.now.astimezone(UTC).date(),
        )
    )
    return Applied(reference=row.reference)


HANDLERS: Handlers = {ActivateCoverage: activate_coverage}
