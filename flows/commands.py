"""Domain commands the engine asks the host to apply, and the outcomes the host feeds back.

The host applies every command of a turn in one database transaction and only then tells the user
that something was saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, TypeAlias

from flows.text import Text


@dataclass(frozen=True)
class SetLanguage:
    user_id: int
    language: str  # "id" or "en"


@dataclass(frozen=True)
class RegisterSponsor:
    """A sponsor finishes sign-up. NIP and phone are personal data: the host stores them sealed.

    An ASN has a NIP; the other funder types (flows.catalog.FUNDER_TYPES) have none, and may
    name their organisation (a village's name and Kemendagri code, a company's name) and the
    position of the officer who signs up for it."""

    user_id: int
    nip: str | None  # 18 digits for an ASN; None for the others
    nip_kind: Literal["PNS", "PPPK"] | None
    full_name: str
    agency_code: str
    phone_e164: str
    funder_type: str = "asn"
    organisation_name: str | None = None
    organisation_code: str | None = None  # a village's dotted Kemendagri code
    position: str | None = None  # the officer's position (kepala desa, sekretaris, ...)


@dataclass(frozen=True)
class WorkerDetails:
    relationship: str  # who the worker is to the sponsor: a catalog code, e.g. "tetangga"
    job: str  # what the worker does: a catalog code, e.g. "art", "guru_ngaji", "lainnya"
    job_other: str | None  # free text when the job needs a description ("lainnya")
    full_name: str
    nik: str  # 16 digits; the host seals it and keeps only a keyed hash and a masked form
    nik_disagreement: str | None  # what the sponsor said differs from what the NIK encodes
    phone_e164: str | None
    district_code: str  # kecamatan, dotted Kemendagri code "32.05.01"
    district_name: str
    village_code: str | None  # desa/kelurahan, "32.05.01.1001"; None when typed by hand
    village_name: str


@dataclass(frozen=True)
class ConsentGiven:
    """The sponsor's explicit consent to the salary deduction, as the user saw and pressed it."""

    statement: Text  # exactly what was shown; the host renders it again to hash the text
    text_version: str
    amount: int  # rupiah a month
    first_month: date  # first day of the first month deducted
    message_id: int | None  # the Telegram message the consent button was pressed on
    given_at: datetime


@dataclass(frozen=True)
class SubmitSponsorship:
    idempotency_key: str  # one per draft: pressing Simpan twice stores one sponsorship
    sponsor_user_id: int
    worker: WorkerDetails
    programme_code: str
    monthly_amount: int
    payment_method: str  # "salary_deduction" or "self_payment"
    consent: ConsentGiven
    worker_language: str = "id"  # the invitation's and the worker's messages' (flows.languages)


# --- the worker's side (issue 3) ---------------------------------------------------------


@dataclass(frozen=True)
class OpenInvitation:
    """A worker opened the deep link. The first Telegram account to open it is bound to it; the
    token is used up by the worker's decision (consent, decline or correction request)."""

    user_id: int  # the worker's Telegram id
    token: str


@dataclass(frozen=True)
class FailVerification:
    """The worker typed a wrong birth date or NIK ending. The third failure locks the link."""

    user_id: int
    reference: str


@dataclass(frozen=True)
class WorkerConsents:
    """The worker agrees to the processing of their data (UU 27/2022: the data subject's own
    consent), in their own chat."""

    user_id: int
    reference: str
    statement: Text
    text_version: str
    message_id: int | None
    given_at: datetime


@dataclass(frozen=True)
class WorkerDeclines:
    """The worker refuses: the sponsorship is declined and the worker's personal data erased."""

    user_id: int
    reference: str
    message_id: int | None
    at: datetime


@dataclass(frozen=True)
class RequestCorrection:
    """Something is wrong in the data: a request in the admin queue (due in 3 x 24 hours).

    subject: "worker" (from the worker's chat, uses up the invitation) or "sponsor".
    """

    user_id: int
    reference: str | None  # None: about the sponsor's own sign-up data
    subject: Literal["worker", "sponsor"]
    details: str  # free text; personal data: stored sealed
    at: datetime


@dataclass(frozen=True)
class RecordInPersonConsent:
    """A worker without Telegram agreed in person; the sponsor records it (and says so)."""

    user_id: int  # the sponsor
    reference: str
    statement: Text
    text_version: str
    message_id: int | None
    given_at: datetime


@dataclass(frozen=True)
class WithdrawConsent:
    """A withdrawal, append-only like the consent it ends.

    subject "worker": the worker withdraws consent to their data; the sponsorship is withdrawn and
    the worker's personal data erased (anonymous counts stay).
    subject "sponsor": the sponsor withdraws the salary-deduction consent; the sponsorship stops
    from the first day of the next month (effective_month) and the treasurer export reflects it.
    """

    user_id: int
    reference: str
    subject: Literal["worker", "sponsor"]
    message_id: int | None
    at: datetime
    effective_month: date


@dataclass(frozen=True)
class ActivateCoverage:
    """BPJS accepted the worker: the membership (KPJ) number and the coverage start date."""

    reference: str
    kpj_number: str
    coverage_start: date
    actor_user_id: int | None  # the admin, or None for a file import


@dataclass(frozen=True)
class ReissueInvitation:
    """The sponsor asks for a new link (the old one expired, was locked or used by a correction
    request). The new link replaces every unused one, so only the newest works."""

    user_id: int  # the sponsor
    reference: str


@dataclass(frozen=True)
class ResolveRequest:
    """An admin closes a request of the queue."""

    user_id: int  # the admin
    request_id: int
    at: datetime


@dataclass(frozen=True)
class GrantStaffRole:
    """A superadmin makes a person an operator (one or more agencies) or a treasurer (exactly
    one); it replaces any role the person had. The host checks the agencies against the catalog
    and that the actor is a superadmin, whatever the engine checked."""

    user_id: int  # the superadmin
    target_user_id: int
    role: str  # "operator" or "treasurer" (flows.access.Role)
    agencies: tuple[str, ...]


@dataclass(frozen=True)
class RevokeStaffRole:
    """A superadmin takes a person's role away."""

    user_id: int  # the superadmin
    target_user_id: int


@dataclass(frozen=True)
class MarkMonthDeducted:
    """A treasurer (or a superadmin) marks a month's unmarked deduction rows as deducted: of one
    agency, or of their whole scope (agency None). The host reads the actor's role again and
    marks only within it, whatever the engine checked."""

    user_id: int
    month: date  # the 1st
    agency: str | None = None
    # True: the transfers of sponsors without a NIP (a village, BAZNAS, a company, an honorer)
    # marked paid; False: the ASN's rows of the treasurer's workbook (issue 12).
    transfers: bool = False


@dataclass(frozen=True)
class SetReminders:
    """/berhenti_pengingat (off) and /pengingat_aktif (on): optional reminders for this person."""

    user_id: int
    off: bool


@dataclass(frozen=True)
class PrepareAnnouncement:
    """/umumkan composed: keep it as a draft and count its audience (the host cuts the audience
    to the author's scope, read again from the database). body is Telegram HTML."""

    user_id: int
    body: str
    audience: str
    agencies: tuple[str, ...] = ()
    media_kind: str | None = None
    media_file_id: str | None = None
    button: str | None = None


@dataclass(frozen=True)
class SubmitAnnouncement:
    """The author confirms their draft: queued, or held for a second superadmin's approval."""

    user_id: int
    announcement_id: int


@dataclass(frozen=True)
class DecideAnnouncement:
    """A second superadmin approves (queued) or rejects an announcement awaiting approval."""

    user_id: int
    announcement_id: int
    approve: bool


@dataclass(frozen=True)
class SteerAnnouncement:
    """Pause, resume or cancel an announcement being sent (its progress message's buttons)."""

    user_id: int
    announcement_id: int
    action: Literal["pause", "resume", "cancel"]


@dataclass(frozen=True)
class SetAnnouncementsOff:
    """/berhenti (off=True) and /mulai_pengumuman (off=False): announcements stop or start again;
    messages about the person's own sponsorship are not affected."""

    user_id: int
    off: bool


@dataclass(frozen=True)
class SetCampaign:
    """A superadmin sets the campaign deadline and its reminder days (/kampanye); the host
    checks again that the user is a superadmin and records an audit entry."""

    user_id: int
    deadline: date
    days: tuple[int, ...]


Command: TypeAlias = (
    SetLanguage
    | RegisterSponsor
    | SubmitSponsorship
    | OpenInvitation
    | FailVerification
    | WorkerConsents
    | WorkerDeclines
    | RequestCorrection
    | RecordInPersonConsent
    | WithdrawConsent
    | ActivateCoverage
    | ReissueInvitation
    | ResolveRequest
    | GrantStaffRole
    | RevokeStaffRole
    | MarkMonthDeducted
    | SetReminders
    | SetCampaign
    | PrepareAnnouncement
    | SubmitAnnouncement
    | DecideAnnouncement
    | SteerAnnouncement
    | SetAnnouncementsOff
)


@dataclass(frozen=True)
class Applied:
    """The command was applied (or had already been applied with the same idempotency key).

    reference: a sponsorship's short reference code. invitation_token: for SubmitSponsorship, the
    worker's single-use deep-link token (only its hash is stored, so it is returned once).
    attempts_left: for FailVerification, the tries left before the link locks.
    replaced_role: for GrantStaffRole, the other role the person had, which the grant replaced.
    row_count: for MarkMonthDeducted, the rows marked (0 when all were marked already).
    """

    reference: str | None = None
    invitation_token: str | None = None
    attempts_left: int | None = None
    replaced_role: str | None = None
    row_count: int | None = None
    announcement_status: str | None = None  # for the announcement commands: the status now


@dataclass(frozen=True)
class SponsorshipSummary:
    """A sponsorship as its worker sees it: whose it is, which programme, how far it is."""

    reference: str
    sponsor_name: str
    agency_code: str
    programme_code: str
    monthly_amount: int
    status: str


@dataclass(frozen=True)
class InvitationDetails(SponsorshipSummary):
    """What a worker is shown about their sponsorship, and what verifies them."""

    sponsor_user_id: int
    worker_name: str
    nik_masked: str
    nik_last4: str  # for verification only; never shown
    birth_date: date  # encoded in the NIK; for verification and the data shown
    job: str | None  # None: registered before the job was asked apart (migration 0012_jobs)
    job_other: str | None
    phone_masked: str | None
    district_name: str
    village_name: str
    language: str = "id"  # chosen by the sponsor: the worker's messages are in it
    # Whose funds pay (issue 12): the worker is told "Pemerintah Desa X", not an agency.
    funder_type: str = "asn"
    organisation_name: str | None = None


@dataclass(frozen=True)
class InvitationOpened:
    details: InvitationDetails


@dataclass(frozen=True)
class Refused:
    """The command broke a rule the database enforces.

    reasons: "nip_taken" (another Telegram account signed up with this NIP), "nik_taken" (the
    worker is already sponsored by another ASN; never say by whom), "limit_reached" (the ASN
    already sponsors as many workers as allowed), "not_registered"; for invitations:
    "invitation_unknown", "invitation_expired", "invitation_used" (decided, or opened by another
    account), "invitation_locked" (three failed verifications), "own_invitation" (the sponsor
    opened their own link); for later steps: "not_allowed" (the user may not act on that
    sponsorship), "wrong_state" (e.g. withdrawing what is already withdrawn), "unknown_reference".
    """

    reason: str


Outcome: TypeAlias = Applied | Refused | InvitationOpened
