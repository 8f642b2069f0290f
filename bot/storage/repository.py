"""The unit of work for domain commands: everything a turn asks for commits together, or not at all.

Synchronous on purpose: the bot calls it through asyncio.to_thread, and plain SQLAlchemy sessions
are simpler to reason about than async ones. Each call opens its own session, so one Repository
can be shared by threads.

Rules the database enforces (so they hold across processes, not just inside one):
- one sponsor row per Telegram account, one Telegram account per NIP (unique blind index);
- one open sponsorship per worker NIK (unique active_nik_index);
- one sponsorship per idempotency key (double press of "Simpan", replayed updates);
- one notification per de-duplication key (outbox.dedupe_key): a repeated change enqueues nothing.

Notifications to other people go into the outbox in the same transaction as the change itself:
handlers record domain events (flows.events), the injected `notify` (bot.notifications.notices)
words them, and the unit of work inserts the notices before the commit. The delivery engine
(bot.delivery) sends them, claiming and marking rows through `Repository.delivery`
(bot.storage.delivery_store: a lease, so two processes sharing the database never send the same
row).

Where things are: bot.storage.handlers (one module per aggregate, a handler per command type),
bot.storage.lookups (what handlers share), bot.storage.reads (read queries),
bot.storage.outbox_store (writing outbox rows). This module is the unit of work and the facade.

Erasure of a worker's personal data (decline, withdrawal by the worker): the name, NIK (sealed,
index, masked), phone, village, KPJ number and the NIK remark become NULL, the outbox messages
about that sponsorship are deleted and open requests about the worker closed with their text
erased; relationship, job, district, programme, amount, status and timestamps stay for anonymous
counts, and the consent records stay as proof (they hold only Telegram ids and hashes), as does
worker_user_id. On SQLite the write-ahead log is checkpointed afterwards and secure_delete zeroes
the old bytes (bot.storage.db).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Final, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.security.crypto import Sealer
from bot.storage import audit, counts, staff
from bot.storage.announcements import AnnouncementStore
from bot.storage.db import checkpoint_wal, immediate
from bot.storage.delivery_store import DeliveryStore
from bot.storage.exports import DeductionRow, TransferRow, export_deductions, export_transfers
from bot.storage.handlers import Handler, coverage, requests, sponsor, sponsorship
from bot.storage.handlers import announce as announce_handlers
from bot.storage.handlers import campaign as campaign_handlers
from bot.storage.handlers import ledger as ledger_handlers
from bot.storage.handlers import staff as staff_handlers
from bot.storage.ledger import Ledger
from bot.storage.lookups import (
    MAX_FAILED_VERIFICATIONS,
    MAX_OPEN_REQUESTS,
    REFERENCE_ALPHABET,
    REQUEST_DUE,
    ConsentStatement,
    ConsentTextHash,
    IdempotencyConflict,
    Keep,
    Rules,
    Turn,
    hash_token,
    mask_kpj,
    random_reference,
    random_token,
    upsert_user,
)
from bot.storage.models import utc_now
from bot.storage.outbox_store import enqueue
from bot.storage.reads import Reads
from bot.storage.reminders import ReminderChecks, ReminderStore, Zones
from bot.storage.statistics import Statistics, view_statistics
from bot.storage.views import (
    ConsentRecordView,
    CoverageCheck,
    PersonalData,
    RequestView,
    SponsorshipView,
    SponsorView,
    UserRecord,
    WorkerDataView,
    WorkerSponsorshipView,
)
from flows.access import Scope
from flows.commands import (
    ActivateCoverage,
    Applied,
    Command,
    InvitationOpened,
    Outcome,
    Refused,
    SubmitSponsorship,
)
from flows.events import Event, Notice
from flows.reminders import Settings as ReminderSettings

__all__ = [
    "MAX_FAILED_VERIFICATIONS",
    "MAX_OPEN_REQUESTS",
    "REFERENCE_ALPHABET",
    "REQUEST_DUE",
    "ConsentRecordView",
    "ConsentStatement",
    "ConsentTextHash",
    "CoverageCheck",
    "IdempotencyConflict",
    "Notify",
    "PersonalData",
    "Repository",
    "RequestView",
    "SponsorView",
    "SponsorshipView",
    "UserRecord",
    "WorkerDataView",
    "WorkerSponsorshipView",
    "hash_token",
    "mask_kpj",
    "random_reference",
    "random_token",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

QUEUE_VIEW: Final = "queue.view"
STAFF_VIEW: Final = "staff.view"

Transaction = Session
"""The unit of work's open transaction, as code above storage sees it when it runs inside one
(the service settles a turn's outcomes before the commit: Repository.apply(then=...))."""

Notify = Callable[[Event], Iterable[Notice]]
"""The notification layer (bot.notifications.notices): the worded outbox messages an event
asks for. Injected by the composition root; storage never words a message itself."""


def _registry(*groups: Mapping[type, Handler]) -> Mapping[type, Handler]:
    """One handler per command type, from the aggregates' handler modules."""
    handlers: dict[type, Handler] = {}
    for group in groups:
        for command_type, handler in group.items():
            if command_type in handlers:
                raise TypeError(f"two handlers for {command_type.__name__}")
            handlers[command_type] = handler
    return handlers


HANDLERS: Final = _registry(
    sponsor.HANDLERS,
    sponsorship.HANDLERS,
    requests.HANDLERS,
    coverage.HANDLERS,
    staff_handlers.HANDLERS,
    ledger_handlers.HANDLERS,
    campaign_handlers.HANDLERS,
    announce_handlers.HANDLERS,
)
"""Every command type's handler, built once: the unit of work looks a command up here."""


class Repository:
    """Reads and the unit of work over the domain tables; sealing happens here, so nothing
    above this layer ever handles ciphertext and nothing below it ever sees an identifier."""

    def __init__(
        self,
        engine: Engine,
        sealer: Sealer,
        *,
        notify: Notify,
        max_sponsorships_per_sponsor: int = 1,
        max_sponsorships_by_agency: Mapping[str, Mapping[str, int]] | None = None,
        new_reference: Callable[[], str] | None = None,
        clock: Callable[[], datetime] = utc_now,
        invitation_ttl: timedelta = timedelta(days=14),
        admin_ids: frozenset[int] = frozenset(),
        new_token: Callable[[], str] | None = None,
        agency_codes: frozenset[str] = frozenset(),
        announcement_threshold: int = 1000,
        max_sponsorships_by_funder: Mapping[str, int] | None = None,
    ) -> None:
        by_agency = {
            code: dict(limits) for code, limits in (max_sponsorships_by_agency or {}).items()
        }
        limits = [limit for regency in by_agency.values() for limit in regency.values()]
        if min((max_sponsorships_per_sponsor, *limits)) < 1:
            raise ValueError("max_sponsorships_per_sponsor must be at least 1")
        if invitation_ttl <= timedelta(0):
            raise ValueError("invitation_ttl must be positive")
        self._engine = engine
        self._writer = immediate(engine)
        self._sealer = sealer
        self._notify = notify
        self._clock = clock
        self._rules = Rules(
            sealer=sealer,
            max_open=max_sponsorships_per_sponsor,
            new_reference=new_reference if new_reference is not None else random_reference,
            clock=clock,
            invitation_ttl=invitation_ttl,
            admin_ids=frozenset(admin_ids),
            new_token=new_token if new_token is not None else random_token,
            agency_codes=frozenset(agency_codes),
            announcement_threshold=announcement_threshold,
            max_open_by_funder=dict(max_sponsorships_by_funder or {}),
            max_open_by_agency=by_agency,
        )
        self._reads = Reads(engine, sealer, clock)
        self.delivery = DeliveryStore(self._writer, sealer, clock)
        """The delivery queue's claims and marks (bot.storage.delivery_store), for bot.delivery."""
        self.ledger = Ledger(self._writer, sealer, notify, clock)
        """The monthly ledger (bot.storage.ledger), for the running bot's periodic upkeep."""
        self.announcements = AnnouncementStore(self._writer, clock)
        """Announcements' previews, progress and reports (bot.storage.announcements)."""

    def reminders(self, zones: Zones, settings: ReminderSettings | None = None) -> ReminderStore:
        """The reminder scheduler's storage (bot.storage.reminders)."""
        return ReminderStore(self._writer, self._sealer, zones, settings, reader=self._engine)

    def reminder_gate(self) -> ReminderChecks:
        """The delivery engine's ReminderGate: re-checks a reminder's reason before sending."""
        return ReminderChecks(self._engine, self._clock)

    @property
    def admin_ids(self) -> frozenset[int]:
        return self._rules.admin_ids

    # ---- reads (bot.storage.reads) -----------------------------------------------------------

    def user_record(self, user_id: int) -> UserRecord:
        return self._reads.user_record(user_id)

    def user_record_within(self, session: Session, user_id: int) -> UserRecord:
        """The user's record as a transaction in progress sees it (its own writes included):
        one statement when the user has a row (a turn re-reading after its commands)."""
        found = self._reads.at_turn_within(session, user_id)
        return (
            found.record if found is not None else self._reads.user_record_within(session, user_id)
        )

    def sponsorships_of(self, user_id: int) -> list[SponsorshipView]:
        """The user's sponsorships as sponsor, newest first."""
        return self._reads.sponsorships_of(user_id)

    def worker_sponsorships(self, user_id: int) -> list[WorkerSponsorshipView]:
        """The sponsorships where the user is the linked worker, newest first."""
        return self._reads.worker_sponsorships(user_id)

    def status_of(
        self, user_id: int
    ) -> tuple[UserRecord, list[SponsorshipView], list[WorkerSponsorshipView]]:
        """What /status reads: the user's record, sponsorships as sponsor and as worker, on
        one connection (bot.storage.reads.Reads.status_of)."""
        return self._reads.status_of(user_id)

    def personal_data(self, user_id: int) -> PersonalData:
        """Everything stored about the user, identifiers masked (/data_saya)."""
        return self._reads.personal_data(user_id)

    def open_requests(self) -> list[RequestView]:
        """The admin queue, details decrypted. For admins only: the caller checks who asks."""
        return self._reads.open_requests()

    def open_requests_viewed(self, user_id: int) -> list[RequestView]:
        """The admin queue as a superadmin views it (/antrian), the view audited with its row
        count in the same transaction. Empty for anyone else: the caller checks too."""
        if user_id not in self._rules.admin_ids:
            return []
        with Session(self._writer) as session, session.begin():
            requests = self._reads.open_requests_within(session)
            actor = audit.Actor(Scope.superadmin(), user_id)
            audit.record(session, actor, QUEUE_VIEW, self._clock(), row_count=len(requests))
        return requests

    def staff_viewed(self, user_id: int) -> list[staff.StaffMember]:
        """The operators and treasurers as a superadmin views them (/admin), audited."""
        if user_id not in self._rules.admin_ids:
            return []
        with Session(self._writer) as session, session.begin():
            members = staff.members(session)
            actor = audit.Actor(Scope.superadmin(), user_id)
            audit.record(session, actor, STAFF_VIEW, self._clock(), row_count=len(members))
        return members

    def reveal_nik(self, reference: str) -> str | None:
        """Decrypt a worker's NIK (for an administrator's duty, e.g. registering with BPJS)."""
        return self._reads.reveal_nik(reference)

    def reference_for_nik(self, nik: str) -> str | None:
        """The reference of the open sponsorship of the worker with this NIK (16 digits)."""
        return self._reads.reference_for_nik(nik)

    def coverage_check(self, reference: str, kpj_number: str) -> CoverageCheck | None:
        """The sponsorship's status and whether it is already active with this KPJ number."""
        return self._reads.coverage_check(reference, kpj_number)

    def statistics(
        self,
        actor: audit.Actor,
        agencies: Iterable[str] | None,
        now: datetime,
        catalog_codes: Sequence[str],
    ) -> Statistics:
        """The statistics of the agencies asked (None: all) within the actor's scope; the view
        is recorded in the audit log in the same transaction (bot.storage.statistics)."""
        return view_statistics(self._engine, actor, agencies, now=now, catalog_codes=catalog_codes)

    def fold_counts(self) -> int:
        """Fold the statistics' deltas into their totals (bot.storage.counts.fold; the running
        bot's upkeep, bot.background.keep_counts); the number of delta rows folded."""
        with self._writer.begin() as connection:
            return counts.fold(connection, self._clock())

    # ---- exports and the audit log (bot.storage.exports, bot.storage.audit) ------------------

    def export_transfers(
        self,
        actor: audit.Actor,
        month: date,
        agencies: frozenset[str] | None,
        now: datetime,
        write: Callable[[Iterator[TransferRow]], T],
        *,
        detail: str,
    ) -> tuple[T, int]:
        """The month's transfers of sponsors without a NIP within `agencies` and the actor's
        scope streamed into `write` (/rekap's transfers), the export audit-logged."""
        return export_transfers(
            self._engine, self._writer, actor, month, now, write, agencies=agencies, detail=detail
        )

    def export_deductions(
        self,
        actor: audit.Actor,
        month: date,
        agencies: frozenset[str] | None,
        now: datetime,
        write: Callable[[Iterator[DeductionRow]], T],
        *,
        detail: str,
    ) -> tuple[T, int]:
        """The month's deduction rows within `agencies` (the caller restricts them to the
        actor's scope) streamed into `write`, the export audit-logged; (result, rows)."""
        return export_deductions(
            self._engine,
            self._writer,
            self._sealer,
            actor,
            month,
            agencies,
            now,
            write,
            detail=detail,
        )

    def record_audit(
        self,
        actor: audit.Actor,
        action: str,
        now: datetime | None = None,
        *,
        detail: str | None = None,
        row_count: int | None = None,
    ) -> None:
        """An audit entry in a transaction of its own: a refused request (nothing else
        happened), or an action made of several transactions (the coverage import: one per
        row), written when it ends. now: the repository's clock when not given."""
        with Session(self._writer) as session, session.begin():
            at = now if now is not None else self._clock()
            audit.record(session, actor, action, at, detail=detail, row_count=row_count)

    # ---- writes ------------------------------------------------------------------------------

    def remember_chat(self, user_id: int, chat_id: int) -> None:
        with Session(self._writer) as session, session.begin():
            # Writing to the bot again makes an unreachable person (403) reachable: cleared in
            # the same statement, so it costs nothing.
            upsert_user(session, user_id, self._clock(), chat_id=chat_id, unreachable_at=None)

    def apply(
        self,
        user_id: int | None,
        commands: Sequence[Command],
        *,
        consent_text_hash: ConsentTextHash | None = None,
        dry_run: bool = False,
        then: Callable[[Session, list[Outcome]], None] | None = None,
    ) -> list[Outcome]:
        """Apply commands in order in ONE transaction; one outcome per command.

        Each command runs in its own savepoint, so a Refused one leaves no trace while the others
        still commit (except the third failed verification: the lock stays). Unexpected errors
        roll everything back and propagate.

        user_id: whose turn it is; every command must be that user's. None only for an
        ActivateCoverage without actor (the coverage file import).
        consent_text_hash: needed by SubmitSponsorship, WorkerConsents and RecordInPersonConsent.
        dry_run: compute the outcomes, then roll everything back (nothing is written).
        then: more work of the same transaction, run after the commands with their outcomes and
        before the commit (the turn journal writes the session and the answer there); it may
        raise to roll everything back. With `then`, a transaction is opened even without commands.
        """
        if not commands and then is None:
            return []
        with Session(self._writer) as session:
            transaction = session.begin()
            try:
                outcomes = self.apply_within(
                    session, user_id, commands, consent_text_hash=consent_text_hash
                )
                if then is not None:
                    then(session, outcomes)
            except BaseException:
                transaction.rollback()
                raise
            if dry_run:
                transaction.rollback()
            else:
                transaction.commit()
        if session.info.get(ERASED) and not dry_run:
            checkpoint_wal(self._engine)
        log_outcomes(user_id, commands, outcomes, dry_run=dry_run)
        return outcomes

    def apply_within(
        self,
        session: Session,
        user_id: int | None,
        commands: Sequence[Command],
        *,
        consent_text_hash: ConsentTextHash | None = None,
    ) -> list[Outcome]:
        """`apply`'s commands inside the caller's open transaction (a turn's: Repository.unit),
        each in its own savepoint; the caller commits. An erasure is noted in session.info, so
        the unit checkpoints SQLite's log after the commit."""
        for command in commands:
            if _command_user(command) != user_id:
                raise ValueError(f"{type(command).__name__} is for another user than {user_id}")
        outcomes: list[Outcome] = []
        if not commands:
            return outcomes
        turn = Turn(session, self._rules, consent_text_hash, self._clock())
        for command in commands:
            result = self._apply_one(turn, command)
            outcomes.append(result.outcome if isinstance(result, Keep) else result)
        if turn.erased:
            session.info[ERASED] = True
        return outcomes

    @contextmanager
    def unit(self) -> Iterator[Session]:
        """One write transaction for a whole turn (bot.storage.state.TurnJournal.turn): reads,
        commands (apply_within), the session and the journal's row commit together, or nothing
        does when the block raises. SQLite: the write lock is taken at BEGIN (immediate)."""
        with Session(self._writer) as session:
            with session.begin():
                yield session
            erased = bool(session.info.get(ERASED))
        if erased:
            checkpoint_wal(self._engine)

    def turn_record(self, session: Session, user_id: int, chat_id: int) -> UserRecord:
        """The user's record at the start of a turn, inside the turn's transaction; the chat is
        remembered only when it is new or changed (or the person was unreachable): an ordinary
        update writes nothing here. The objects read are let go, so the commands start from
        what the database holds, as in a transaction of their own."""
        found = self._reads.at_turn_within(session, user_id)
        if found is None or found.chat_id != chat_id or found.unreachable:
            # Writing to the bot again makes an unreachable person (403) reachable.
            upsert_user(session, user_id, self._clock(), chat_id=chat_id, unreachable_at=None)
            found = self._reads.at_turn_within(session, user_id)
            if found is None:  # pragma: no cover - the row was just written
                raise RuntimeError("the user's row is missing after its upsert")
        session.expunge_all()
        return found.record

    def _apply_one(self, turn: Turn, command: Command) -> Outcome | Keep:
        """One command in its own savepoint, with the notices for the events it recorded."""
        handler = HANDLERS.get(type(command))
        if handler is None:
            raise TypeError(f"unknown command {type(command).__name__}")
        savepoint = turn.session.begin_nested()
        turn.events.clear()
        result = handler(turn, command)
        if isinstance(result, Refused):
            savepoint.rollback()
            return result
        for event in turn.events:
            for notice in self._notify(event):
                enqueue(turn.session, self._sealer, notice, turn.now)
        savepoint.commit()
        return result


ERASED: Final = "peduli_erased"
"""session.info key: a command of this transaction erased personal data (checkpoint after)."""


def log_outcomes(
    user_id: int | None,
    commands: Sequence[Command],
    outcomes: Sequence[Outcome],
    *,
    dry_run: bool = False,
) -> None:
    for command, outcome in zip(commands, outcomes, strict=True):
        logger.info(
            "user %s: %s -> %s%s",
            user_id,
            type(command).__name__,
            _describe(outcome),
            " (dry run)" if dry_run else "",
        )


def _command_user(command: Command) -> int | None:
    if isinstance(command, SubmitSponsorship):
        return command.sponsor_user_id
    if isinstance(command, ActivateCoverage):
        return command.actor_user_id
    return command.user_id


def _describe(outcome: Outcome) -> str:
    """An outcome for the log: no token (it is a credential) and no worker data."""
    if isinstance(outcome, InvitationOpened):
        return f"InvitationOpened({outcome.details.reference})"
    if isinstance(outcome, Applied):
        parts = [repr(outcome.reference)]
        if outcome.invitation_token is not None:
            parts.append("invitation_token=<issued>")
        if outcome.attempts_left is not None:
            parts.append(f"attempts_left={outcome.attempts_left}")
        return f"Applied({', '.join(parts)})"
    return repr(outcome)
