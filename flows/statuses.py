"""A sponsorship's status values and which may follow which, in one place.

Used by storage (the CHECK constraints are built from these values, the handlers move a row only
along TRANSITIONS), the presenters and the flows. The values are what the database stores: never
rename one without a migration.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final


class SponsorshipStatus(StrEnum):
    WAITING_WORKER = "waiting_worker"  # submitted; the worker has not decided
    CONFIRMED = "confirmed"  # the worker consented (in their chat, or in person)
    ACTIVE = "active"  # BPJS coverage is active
    DECLINED = "declined"  # the worker refused
    WITHDRAWN = "withdrawn"  # the sponsor or the worker withdrew consent
    LAPSED = "lapsed"  # no deduction recorded for 2 months (flows.ledger.is_overdue)


OPEN_STATUSES: Final = (
    SponsorshipStatus.WAITING_WORKER,
    SponsorshipStatus.CONFIRMED,
    SponsorshipStatus.ACTIVE,
)
"""Statuses in which a sponsorship holds its worker's NIK (nobody else may sponsor them)."""
CLOSED_STATUSES: Final = (
    SponsorshipStatus.DECLINED,
    SponsorshipStatus.WITHDRAWN,
    SponsorshipStatus.LAPSED,
)

TRANSITIONS: Final[Mapping[SponsorshipStatus, frozenset[SponsorshipStatus]]] = {
    SponsorshipStatus.WAITING_WORKER: frozenset(
        {SponsorshipStatus.CONFIRMED, SponsorshipStatus.DECLINED, SponsorshipStatus.WITHDRAWN}
    ),
    SponsorshipStatus.CONFIRMED: frozenset({SponsorshipStatus.ACTIVE, SponsorshipStatus.WITHDRAWN}),
    SponsorshipStatus.ACTIVE: frozenset({SponsorshipStatus.WITHDRAWN, SponsorshipStatus.LAPSED}),
    SponsorshipStatus.DECLINED: frozenset(),
    SponsorshipStatus.WITHDRAWN: frozenset(),
    SponsorshipStatus.LAPSED: frozenset(),
}
"""Which status may follow which; a closed status is final."""


class IllegalTransition(ValueError):
    """A move the table does not allow: a bug in a handler, never a user's mistake (handlers
    refuse a command in the wrong state before they move anything)."""


def can_follow(current: str, new: SponsorshipStatus) -> bool:
    return new in TRANSITIONS.get(SponsorshipStatus(current), frozenset())


def checked_transition(current: str, new: SponsorshipStatus) -> SponsorshipStatus:
    """new, when it may follow current; otherwise IllegalTransition."""
    if not can_follow(current, new):
        raise IllegalTransition(f"a sponsorship cannot go from {current} to {new}")
    return new


def is_open(status: str) -> bool:
    return status in OPEN_STATUSES
