"""What the repository's reads return: plain frozen dataclasses, identifiers masked.

Nothing here holds ciphertext. Decrypted values appear only where a duty needs them and the
docstring says so (RequestView.details, for admins).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flows.commands import SponsorshipSummary


@dataclass(frozen=True)
class SponsorView:
    user_id: int
    full_name: str
    agency_code: str
    nip_masked: str | None  # None for a sponsor without a NIP (funder_type other than asn)
    nip_kind: str | None
    phone_masked: str
    funder_type: str = "asn"
    organisation_name: str | None = None
    position: str | None = None


@dataclass(frozen=True)
class UserRecord:
    user_id: int
    language: str | None
    sponsor: SponsorView | None
    open_sponsorships: int
    worker_sponsorships: int = 0  # sponsorships the user is linked to as the worker
    staff_role: str | None = None  # operator or treasurer (staff_roles); superadmins are configured
    staff_agencies: frozenset[str] = frozenset()
    # A linked worker's newest sponsor's agency: the worker lives by that regency's programme
    # (its time zone) unless they are a sponsor themselves.
    worker_agency: str | None = None


@dataclass(frozen=True)
class AtTurn:
    """A user as a turn starts: their record, and the chat the bot last knew them in."""

    record: UserRecord
    chat_id: int | None
    unreachable: bool


@dataclass(frozen=True)
class SponsorshipView:
    """A sponsorship as its sponsor sees it (/status).

    worker_full_name and nik_masked are None once the worker's data are erased (declined or
    withdrawn by the worker). consent_channel: how the worker consented ("telegram" in their own
    chat, "in_person" recorded by the sponsor), None while nobody has.
    """

    reference: str
    worker_full_name: str | None
    nik_masked: str | None
    worker_relationship: str | None
    worker_job: str | None
    worker_job_other: str | None
    programme_code: str
    monthly_amount: int
    payment_method: str
    status: str
    created_at: datetime
    worker_linked: bool = False
    kpj_masked: str | None = None
    coverage_start: date | None = None
    consent_channel: str | None = None
    withdrawal_effective_month: date | None = None
    marked_months: int = 0  # ledger months marked deducted (the scholarship count)
    worker_language: str = "id"  # chosen by the sponsor (flows.languages)


@dataclass(frozen=True)
class WorkerSponsorshipView(SponsorshipSummary):
    """A sponsorship as the linked worker sees it (/status in the worker's chat)."""

    coverage_start: date | None
    kpj_masked: str | None


@dataclass(frozen=True)
class WorkerDataView:
    """What is stored about a linked worker in one sponsorship (/data_saya), masked."""

    reference: str
    status: str
    worker_full_name: str | None
    nik_masked: str | None
    phone_masked: str | None
    job: str | None
    job_other: str | None
    district_name: str
    village_name: str | None
    sponsor_name: str
    agency_code: str
    programme_code: str
    monthly_amount: int
    kpj_masked: str | None
    coverage_start: date | None
    created_at: datetime


@dataclass(frozen=True)
class ConsentRecordView:
    """One row of the append-only consent record.

    subject: whose consent it is ("sponsor" or "worker"); channel "in_person" means the sponsor
    recorded the worker's consent.
    """

    reference: str
    subject: str
    kind: str
    action: str
    channel: str
    text_version: str
    amount: int
    recorded_at: datetime


@dataclass(frozen=True)
class RequestView:
    """A request of the admin queue. details is the decrypted free text: only admins get it
    (open_requests); PersonalData.open_requests leaves it None. overdue: past due_at by the
    repository clock and not resolved."""

    id: int
    kind: str
    subject: str
    reference: str | None
    requester_user_id: int
    created_at: datetime
    due_at: datetime
    overdue: bool
    details: str | None


@dataclass(frozen=True)
class PersonalData:
    """Everything stored about one Telegram user (/data_saya), identifiers masked.

    sponsorships: as sponsor. as_worker: the sponsorships where they are the linked worker.
    consents: records they are the subject of, or that they recorded (in-person consent).
    """

    user_id: int
    language: str | None
    known_since: datetime | None
    sponsor: SponsorView | None
    sponsorships: list[SponsorshipView]
    as_worker: list[WorkerDataView]
    consents: list[ConsentRecordView]
    open_requests: list[RequestView]


@dataclass(frozen=True)
class CoverageCheck:
    """For the coverage import's report: the sponsorship's status, and whether it is already
    active with the KPJ number given."""

    status: str
    same_kpj: bool
