"""The sponsorship aggregate: its submission, its invitations, the worker's decision (consent,
decline, verification), the in-person consent and withdrawal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.storage.db import dialect_insert
from bot.storage.handlers import Handlers
from bot.storage.lookups import (
    EMPTY_HASH,
    MAX_FAILED_VERIFICATIONS,
    REFERENCE_ATTEMPTS,
    ConsentRecord,
    IdempotencyConflict,
    Keep,
    Turn,
    add_consent,
    birth_date,
    consent_hash,
    count_open,
    create_invitation,
    digits,
    erase_worker,
    hash_token,
    invitation_refusal,
    latest_given,
    move,
    row_id,
    sponsor_by_id,
    sponsorship,
    use_invitations,
    worker_invitation,
)
from bot.storage.models import Invitation, InvitationOpener, Sponsor, Sponsorship, TelegramUser
from flows.catalog import SALARY_DEDUCTION
from flows.commands import (
    Applied,
    FailVerification,
    InvitationDetails,
    InvitationOpened,
    OpenInvitation,
    Outcome,
    RecordInPersonConsent,
    Refused,
    ReissueInvitation,
    SubmitSponsorship,
    WithdrawConsent,
    WorkerConsents,
    WorkerDeclines,
)
from flows.events import (
    InvitationLocked,
    SponsorWithdrew,
    WorkerConfirmed,
    WorkerDeclined,
    WorkerWithdrew,
)
from flows.languages import DEFAULT_LANGUAGE
from flows.statuses import OPEN_STATUSES, SponsorshipStatus
from flows.validators.masking import mask_nik, mask_phone

# ---- submission and invitations --------------------------------------------------------------


def submit_sponsorship(turn: Turn, command: SubmitSponsorship) -> Outcome:
    session, rules = turn.session, turn.rules
    # FOR UPDATE serializes one sponsor's concurrent submissions on PostgreSQL, so the limit
    # below holds across processes (SQLite already serializes writers with BEGIN IMMEDIATE).
    sponsor = session.scalars(
        select(Sponsor).where(col(Sponsor.user_id) == command.sponsor_user_id).with_for_update()
    ).first()
    if sponsor is None:
        return Refused("not_registered")
    sponsor_id = row_id(sponsor)
    existing = _by_idempotency_key(session, command.idempotency_key, sponsor_id)
    if existing is not None:
        return _replayed_submission(turn, existing)
    if count_open(session, sponsor_id) >= rules.max_open_of(
        sponsor.funder_type, sponsor.agency_code
    ):
        return Refused("limit_reached")
    if command.payment_method == SALARY_DEDUCTION and sponsor.nip_sealed is None:
        # The treasurer cuts a salary by its NIP: a sponsor without one cannot offer it.
        return Refused("payment_not_allowed")
    text_hash = consent_hash(turn, command.consent)
    nik = digits(command.worker.nik, 16, "NIK")
    nik_index = rules.sealer.blind_index(nik, "nik")
    now = rules.clock()
    for _attempt in range(REFERENCE_ATTEMPTS):
        reference = rules.new_reference()
        row = _new_sponsorship(turn, command, sponsor_id, reference, nik, nik_index, now)
        try:
            # No look-up of the NIK first: the unique active_nik_index decides, so two
            # processes racing for one worker get exactly one success.
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            existing = _by_idempotency_key(session, command.idempotency_key, sponsor_id)
            if existing is not None:
                return _replayed_submission(turn, existing)
            if _taken(session, col(Sponsorship.active_nik_index), nik_index):
                return Refused("nik_taken")
            if _taken(session, col(Sponsorship.reference), reference):
                continue  # a one-in-a-billion collision: draw another reference
            raise
        consent = command.consent
        add_consent(
            turn,
            row,
            ConsentRecord(
                subject="sponsor",
                subject_user_id=command.sponsor_user_id,
                kind="salary_deduction",
                action="given",
                channel="telegram",
                recorded_by=command.sponsor_user_id,
                text_key=consent.statement.key,
                text_version=consent.text_version,
                text_hash=text_hash,
                message_id=consent.message_id,
                at=consent.given_at,
                first_month=consent.first_month,
                amount=consent.amount,
            ),
        )
        token = create_invitation(turn, row_id(row), now)
        session.flush()
        return Applied(reference=reference, invitation_token=token)
    raise RuntimeError(f"no free sponsorship reference after {REFERENCE_ATTEMPTS} attempts")


def _new_sponsorship(
    turn: Turn,
    command: SubmitSponsorship,
    sponsor_id: int,
    reference: str,
    nik: str,
    nik_index: str,
    now: datetime,
) -> Sponsorship:
    sealer, worker = turn.rules.sealer, command.worker
    return Sponsorship(
        reference=reference,
        idempotency_key=command.idempotency_key,
        sponsor_id=sponsor_id,
        status=SponsorshipStatus.WAITING_WORKER.value,
        worker_full_name=worker.full_name,
        worker_relationship=worker.relationship,
        worker_job=worker.job,
        worker_job_other=worker.job_other,
        nik_sealed=sealer.seal(nik),
        nik_index=nik_index,
        nik_masked=mask_nik(nik),
        active_nik_index=nik_index,
        nik_disagreement=worker.nik_disagreement,
        worker_phone_sealed=sealer.seal(worker.phone_e164) if worker.phone_e164 else None,
        worker_phone_masked=mask_phone(worker.phone_e164) if worker.phone_e164 else None,
        district_code=worker.district_code,
        district_name=worker.district_name,
        village_code=worker.village_code,
        village_name=worker.village_name,
        programme_code=command.programme_code,
        monthly_amount=command.monthly_amount,
        payment_method=command.payment_method,
        worker_language=command.worker_language,
        created_at=now,
        updated_at=now,
    )


def _replayed_submission(turn: Turn, row: Sponsorship) -> Outcome:
    """The same draft submitted again. The raw token is not stored, so while the worker has not
    decided, a new one replaces the unopened invitations: the sponsor gets a working link
    either way."""
    if row.status != SponsorshipStatus.WAITING_WORKER:
        return Applied(reference=row.reference)
    return _new_invitation(turn, row, unopened_only=True)


def reissue_invitation(turn: Turn, command: ReissueInvitation) -> Outcome:
    session = turn.session
    row = sponsorship(session, command.reference)
    if row is None:
        return Refused("unknown_reference")
    if sponsor_by_id(session, row.sponsor_id).user_id != command.user_id:
        return Refused("not_allowed")
    if row.status != SponsorshipStatus.WAITING_WORKER:
        return Refused("wrong_state")
    return _new_invitation(turn, row, unopened_only=False)


def _new_invitation(turn: Turn, row: Sponsorship, *, unopened_only: bool) -> Outcome:
    """Expire the sponsorship's live invitations (only the unopened ones when asked) and issue
    a new one."""
    sponsorship_id = row_id(row)
    live = [
        col(Invitation.sponsorship_id) == sponsorship_id,
        col(Invitation.used_at).is_(None),
        col(Invitation.expires_at) > turn.now,
    ]
    if unopened_only:
        opened = select(col(InvitationOpener.invitation_id))
        live.append(col(Invitation.id).not_in(opened))
    turn.session.execute(update(Invitation).where(*live).values(expires_at=turn.now))
    token = create_invitation(turn, sponsorship_id, turn.now)
    return Applied(reference=row.reference, invitation_token=token)


def _by_idempotency_key(session: Session, key: str, sponsor_id: int) -> Sponsorship | None:
    row = session.scalars(
        select(Sponsorship).where(col(Sponsorship.idempotency_key) == key)
    ).first()
    if row is None:
        return None
    if row.sponsor_id != sponsor_id:
        raise IdempotencyConflict("idempotency key reused across sponsors")
    return row


def _taken(session: Session, column: Any, value: str) -> bool:
    """Whether a sponsorship holds this value in a unique column (a NIK, a reference)."""
    return session.scalars(select(col(Sponsorship.id)).where(column == value)).first() is not None


# ---- the worker's side -----------------------------------------------------------------------


def open_invitation(turn: Turn, command: OpenInvitation) -> Outcome:
    session = turn.session
    invitation = session.scalars(
        select(Invitation)
        .where(col(Invitation.token_hash) == hash_token(command.token))
        .with_for_update()
    ).first()
    if invitation is None:
        return Refused("invitation_unknown")
    refused = _unusable(turn, invitation, command.user_id)
    if refused is not None:
        return refused
    row = session.get(Sponsorship, invitation.sponsorship_id, with_for_update=True)
    if row is None:
        raise RuntimeError("invitation without its sponsorship")
    sponsor = sponsor_by_id(session, row.sponsor_id)
    if sponsor.user_id == command.user_id:
        return Refused("own_invitation")
    if row.status != SponsorshipStatus.WAITING_WORKER or row.nik_sealed is None:
        return Refused("invitation_used")
    # Recorded, not claimed: whoever opens a forwarded link first must not lock the worker out.
    opener = dialect_insert(session.get_bind().dialect.name)(InvitationOpener).values(
        invitation_id=row_id(invitation), user_id=command.user_id, opened_at=turn.now
    )
    session.execute(opener.on_conflict_do_nothing(index_elements=["invitation_id", "user_id"]))
    nik = turn.rules.sealer.open(row.nik_sealed)
    language = row.worker_language or DEFAULT_LANGUAGE
    # The worker reads the bot in the language their sponsor chose, unless they chose one
    # themselves before (they can switch with /bahasa at any time).
    opener_user = session.get(TelegramUser, command.user_id)
    if opener_user is not None and opener_user.language is None:
        opener_user.language = language
        session.flush()
    return InvitationOpened(
        InvitationDetails(
            reference=row.reference,
            sponsor_user_id=sponsor.user_id,
            sponsor_name=sponsor.full_name,
            agency_code=sponsor.agency_code,
            worker_name=row.worker_full_name or "",
            nik_masked=row.nik_masked or mask_nik(nik),
            nik_last4=nik[-4:],
            birth_date=birth_date(nik, turn.now.date()),
            job=row.worker_job,
            job_other=row.worker_job_other,
            phone_masked=row.worker_phone_masked,
            district_name=row.district_name,
            village_name=row.village_name or "",
            programme_code=row.programme_code,
            monthly_amount=row.monthly_amount,
            status=row.status,
            language=language,
            funder_type=sponsor.funder_type,
            organisation_name=sponsor.organisation_name,
        )
    )


def _unusable(turn: Turn, invitation: Invitation, user_id: int) -> Refused | None:
    """Why an invitation cannot be opened by this user, or None."""
    refused = invitation_refusal(turn, invitation)
    if refused is None and invitation.opened_by_user_id not in (None, user_id):
        return Refused("invitation_used")
    return refused


def fail_verification(turn: Turn, command: FailVerification) -> Outcome | Keep:
    found = worker_invitation(turn, command.user_id, command.reference)
    if isinstance(found, Refused):
        return found
    row, invitation = found
    invitation.failed_attempts += 1
    if invitation.failed_attempts < MAX_FAILED_VERIFICATIONS:
        turn.session.flush()
        return Applied(
            reference=row.reference,
            attempts_left=MAX_FAILED_VERIFICATIONS - invitation.failed_attempts,
        )
    invitation.locked_at = turn.now
    turn.record(
        InvitationLocked(
            invitation_id=row_id(invitation),
            reference=row.reference,
            sponsorship_id=row_id(row),
            sponsor_user_id=sponsor_by_id(turn.session, row.sponsor_id).user_id,
            worker_name=row.worker_full_name or "",
        )
    )
    return Keep(Refused("invitation_locked"))


def _decide(turn: Turn, row: Sponsorship, status: SponsorshipStatus, record: ConsentRecord) -> None:
    """The skeleton every decision about the worker's data shares: the new status, every link
    used up, the consent record."""
    move(row, status, turn.now)
    use_invitations(turn, row_id(row))
    add_consent(turn, row, record)


def _given(
    turn: Turn, command: WorkerConsents | RecordInPersonConsent, channel: str
) -> ConsentRecord:
    """The worker's consent to their data, given in their chat ("telegram": they are its
    subject) or recorded by the sponsor ("in_person")."""
    return ConsentRecord(
        subject="worker",
        subject_user_id=command.user_id if channel == "telegram" else None,
        kind="worker_data",
        action="given",
        channel=channel,
        recorded_by=command.user_id,
        text_key=command.statement.key,
        text_version=command.text_version,
        text_hash=consent_hash(turn, command),
        message_id=command.message_id,
        at=command.given_at,
    )


def worker_consents(turn: Turn, command: WorkerConsents) -> Outcome:
    found = worker_invitation(turn, command.user_id, command.reference, bind=True)
    if isinstance(found, Refused):
        return found
    row, _invitation = found
    row.worker_user_id = command.user_id
    _decide(turn, row, SponsorshipStatus.CONFIRMED, _given(turn, command, "telegram"))
    turn.record(
        WorkerConfirmed(
            reference=row.reference,
            sponsorship_id=row_id(row),
            sponsor_user_id=sponsor_by_id(turn.session, row.sponsor_id).user_id,
            worker_name=row.worker_full_name or "",
        )
    )
    return Applied(reference=row.reference)


def worker_declines(turn: Turn, command: WorkerDeclines) -> Outcome:
    found = worker_invitation(turn, command.user_id, command.reference, bind=True)
    if isinstance(found, Refused):
        return found
    row, _invitation = found
    row.active_nik_index = None
    _decide(
        turn,
        row,
        SponsorshipStatus.DECLINED,
        ConsentRecord(
            subject="worker",
            subject_user_id=command.user_id,
            kind="worker_data",
            action="declined",
            channel="telegram",
            recorded_by=command.user_id,
            text_key="worker.decline",
            text_version="",
            text_hash=EMPTY_HASH,
            message_id=command.message_id,
            at=command.at,
        ),
    )
    erase_worker(turn, row)
    turn.record(
        WorkerDeclined(
            reference=row.reference,
            sponsorship_id=row_id(row),
            sponsor_user_id=sponsor_by_id(turn.session, row.sponsor_id).user_id,
        )
    )
    return Applied(reference=row.reference)


def record_in_person_consent(turn: Turn, command: RecordInPersonConsent) -> Outcome:
    row = sponsorship(turn.session, command.reference)
    if row is None:
        return Refused("unknown_reference")
    if sponsor_by_id(turn.session, row.sponsor_id).user_id != command.user_id:
        return Refused("not_allowed")
    if row.status != SponsorshipStatus.WAITING_WORKER:
        return Refused("wrong_state")
    _decide(turn, row, SponsorshipStatus.CONFIRMED, _given(turn, command, "in_person"))
    return Applied(reference=row.reference)


def withdraw_consent(turn: Turn, command: WithdrawConsent) -> Outcome:
    session = turn.session
    row = sponsorship(session, command.reference)
    if row is None:
        return Refused("unknown_reference")
    sponsor = sponsor_by_id(session, row.sponsor_id)
    owner = row.worker_user_id if command.subject == "worker" else sponsor.user_id
    if owner is None or owner != command.user_id:
        return Refused("not_allowed")
    if row.status not in OPEN_STATUSES:
        return Refused("wrong_state")
    kind = "worker_data" if command.subject == "worker" else "salary_deduction"
    withdrawn = latest_given(session, row_id(row), command.subject, kind)
    move(row, SponsorshipStatus.WITHDRAWN, turn.now)
    row.active_nik_index = None  # the worker may be sponsored again
    row.withdrawn_at = command.at
    row.withdrawn_by = command.subject
    row.withdrawal_effective_month = command.effective_month
    add_consent(
        turn,
        row,
        ConsentRecord(
            subject=command.subject,
            subject_user_id=command.user_id,
            kind=kind,
            action="withdrawn",
            channel="telegram",
            recorded_by=command.user_id,
            text_key=f"{command.subject}.withdraw",
            # Which consent ends: the version and hash of the text that was agreed to.
            text_version=withdrawn.text_version if withdrawn is not None else "",
            text_hash=withdrawn.text_hash if withdrawn is not None else EMPTY_HASH,
            first_month=command.effective_month if kind == "salary_deduction" else None,
            message_id=command.message_id,
            at=command.at,
        ),
    )
    if command.subject == "worker":
        erase_worker(turn, row)
        turn.record(WorkerWithdrew(row.reference, row_id(row), sponsor.user_id))
    elif row.worker_user_id is not None:
        turn.record(
            SponsorWithdrew(
                reference=row.reference,
                sponsorship_id=row_id(row),
                worker_user_id=row.worker_user_id,
                sponsor_name=sponsor.full_name,
                effective_month=command.effective_month,
            )
        )
    return Applied(reference=row.reference)


HANDLERS: Handlers = {
    SubmitSponsorship: submit_sponsorship,
    ReissueInvitation: reissue_invitation,
    OpenInvitation: open_invitation,
    FailVerification: fail_verification,
    WorkerConsents: worker_consents,
    WorkerDeclines: worker_declines,
    RecordInPersonConsent: record_in_person_consent,
    WithdrawConsent: withdraw_consent,
}
