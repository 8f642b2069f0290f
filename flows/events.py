"""Domain events: what happened to a sponsorship, as storage records it in the transaction that
made it happen. Storage never words a message; the notification layer (bot.notifications) turns
each event into the worded notices other people get, and the unit of work writes those into the
outbox before the same commit (the change and its notification commit together, or neither).

sponsorship_id ties a notice to its sponsorship, so erasing the worker's data deletes it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeAlias

from flows.text import Text


@dataclass(frozen=True)
class WorkerConfirmed:
    """The worker agreed in their own chat."""

    reference: str
    sponsorship_id: int
    sponsor_user_id: int
    worker_name: str


@dataclass(frozen=True)
class WorkerDeclined:
    """The worker refused; their data are already erased."""

    reference: str
    sponsorship_id: int
    sponsor_user_id: int


@dataclass(frozen=True)
class InvitationLocked:
    """Too many failed verifications locked the worker's link."""

    invitation_id: int
    reference: str
    sponsorship_id: int
    sponsor_user_id: int
    worker_name: str


@dataclass(frozen=True)
class CorrectionRequested:
    """Someone asked for a correction. sponsor_user_id: the sponsor of the sponsorship it is
    about, if any; reference and sponsorship_id None for a request about the requester only."""

    request_id: int
    subject: str
    reference: str | None
    sponsorship_id: int | None
    sponsor_user_id: int | None


@dataclass(frozen=True)
class RequestsWaiting:
    """The admin's queue has a new request (one event per admin)."""

    admin_user_id: int
    at: datetime


@dataclass(frozen=True)
class WorkerWithdrew:
    """The worker withdrew consent; their data are erased."""

    reference: str
    sponsorship_id: int
    sponsor_user_id: int


@dataclass(frozen=True)
class SponsorWithdrew:
    """The sponsor stops paying from effective_month; the linked worker is told."""

    reference: str
    sponsorship_id: int
    worker_user_id: int
    sponsor_name: str
    effective_month: date


@dataclass(frozen=True)
class CoverageActivated:
    """BPJS coverage is active. worker_user_id None: the worker has no chat with the bot."""

    reference: str
    sponsorship_id: int
    sponsor_user_id: int
    sponsor_name: str
    worker_user_id: int | None
    worker_name: str
    kpj_number: str
    coverage_start: date
    programme_code: str
    # The day it was activated (programme's time zone): a start after it is told as a future one,
    # never "kini terlindungi". None: told as started.
    activated_on: date | None = None
    # The sponsor's agency: its regency's programme words the notices (its benefits).
    agency_code: str | None = None


@dataclass(frozen=True)
class SponsorshipLapsed:
    """No deduction was recorded for the months in unpaid (flows.ledger.is_overdue): the
    sponsorship lapsed. The sponsor, the linked worker (None: no chat with the bot) and the
    operators of the agency that deducts (operator_user_ids) are told."""

    reference: str
    sponsorship_id: int
    sponsor_user_id: int
    sponsor_name: str
    worker_user_id: int | None
    worker_name: str
    agency_code: str
    operator_user_ids: tuple[int, ...]
    unpaid: tuple[date, ...]
    # How the months are paid: only a salary deduction is the treasurer's to cut and mark; a
    # village's, BAZNAS's or a company's transfer or a direct payment is told as such (issue 12).
    payment_method: str = "salary_deduction"


Event: TypeAlias = (
    WorkerConfirmed
    | WorkerDeclined
    | InvitationLocked
    | CorrectionRequested
    | RequestsWaiting
    | WorkerWithdrew
    | SponsorWithdrew
    | CoverageActivated
    | SponsorshipLapsed
)


@dataclass(frozen=True)
class Notice:
    """One worded message for the outbox. dedupe_key: a repeated event enqueues nothing."""

    dedupe_key: str
    recipient_user_id: int
    message: Text
    sponsorship_id: int | None
