"""Reminders in the database: the facts the planner (flows.reminders) reads, the rows it queues,
the unfinished flows the conversation leaves, the campaign, and the gate that re-checks a queued
reminder's reason right before it is sent (the delivery engine's ReminderGate).

A scheduler round (`ReminderStore.run_round`) reads the facts, plans and queues in ONE
transaction that first takes a lock every round takes (pg_advisory_xact_lock on PostgreSQL; the
write lock of BEGIN IMMEDIATE on SQLite): two scheduler processes run their rounds one after the
other, the second sees the first's rows, so the daily cap holds across processes, and the unique
dedupe_key makes any repeat a no-op anyway.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, bindparam, delete, func, select, text
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.security.crypto import Sealer
from bot.storage.db import dialect_insert, immediate
from bot.storage.models import (
    DELIVERY_PRIORITY,
    OPEN_STATUSES,
    Campaign,
    Consent,
    Invitation,
    InvitationOpener,
    OutboxMessage,
    Sponsor,
    Sponsorship,
    TelegramUser,
    UnfinishedFlow,
)
from flows import reminders as rules
from flows.catalog import ASN, Catalog
from flows.ledger import month_of
from flows.session import Session as Conversation
from flows.statuses import SponsorshipStatus
from flows.text import to_json

LOCK_KEY: Final = 0x70656475_6C69  # "peduli": the reminder rounds' advisory lock
KEYS_KEPT: Final = timedelta(days=400)  # dedupe keys read back; older reasons are long gone


# --- unfinished flows -------------------------------------------------------------------------


def _tracked(session: Conversation) -> tuple[str, str] | None:
    if session.flow in rules.TRACKED_FLOWS and session.step is not None:
        return session.flow, session.step
    return None


def track_unfinished(
    db: Session | Connection, user_id: int, before: Conversation, after: Conversation, now: datetime
) -> None:
    """Keep unfinished_flows in step with the conversation, in the turn's transaction: a row
    while the person is part-way in a sign-up or sponsorship, none once it ends. Written only
    when the flow or the step changes, so most turns (a wrong answer, /status) write nothing."""
    was, now_at = _tracked(before), _tracked(after)
    if was == now_at:
        return
    # Core statements on the transaction's Connection: through the ORM Session an INSERT of
    # the mapped class took the ORM's bulk path, for nothing these need.
    connection = db.connection() if isinstance(db, Session) else db
    if now_at is None:
        connection.execute(_unfinished_delete(), {"user_id": user_id})
        return
    flow, step = now_at
    same_draft = was is not None and was[0] == flow  # it started when it did
    statement = _unfinished_upsert(connection.dialect.name, same_draft)
    connection.execute(statement, {"user_id": user_id, "flow": flow, "step": step, "now": now})


@functools.cache
def _unfinished_delete() -> Any:
    """The person's unfinished flow ended: built once, like the upsert."""
    table = UnfinishedFlow.__table__  # type: ignore[attr-defined]
    return delete(table).where(table.c.user_id == bindparam("user_id", type_=table.c.user_id.type))


@functools.cache
def _unfinished_upsert(dialect_name: str, same_draft: bool) -> Any:
    """The upsert of a person's unfinished flow, built once per dialect and case (a turn that
    moves a step on runs it; building it cost as much as running it)."""
    table = UnfinishedFlow.__table__  # type: ignore[attr-defined]
    user_id = bindparam("user_id", type_=table.c.user_id.type)
    flow = bindparam("flow", type_=table.c.flow.type)
    step = bindparam("step", type_=table.c.step.type)
    now = bindparam("now", type_=table.c.updated_at.type)
    insert = dialect_insert(dialect_name)(table)
    started: Any = table.c.started_at if same_draft else insert.excluded.started_at
    return insert.values(
        user_id=user_id, flow=flow, step=step, started_at=now, updated_at=now
    ).on_conflict_do_update(
        index_elements=["user_id"],
        set_={"flow": flow, "step": step, "updated_at": now, "started_at": started},
    )


# --- the campaign -----------------------------------------------------------------------------


def current_campaign(db: Session) -> Campaign | None:
    return db.scalars(select(Campaign).order_by(col(Campaign.id).desc()).limit(1)).first()


def campaign_plan(row: Campaign | None) -> rules.CampaignPlan | None:
    if row is None:
        return None
    days = rules.reminder_days(row.reminder_days)
    return None if days is None else rules.CampaignPlan(row.deadline, days)


def set_campaign(
    db: Session, deadline: date, days: tuple[int, ...], user_id: int | None, now: datetime
) -> Campaign:
    row = Campaign(
        deadline=deadline,
        reminder_days=",".join(str(day) for day in days),
        set_by_user_id=user_id,
        set_at=now,
    )
    db.add(row)
    db.flush()
    return row


# --- facts ------------------------------------------------------------------------------------


def _key(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone)


@dataclass(frozen=True)
class Zones:
    """Each person's time zone: their agency's, else the programme's."""

    default: tzinfo
    by_agency: Mapping[str, tzinfo]

    @classmethod
    def of(cls, catalog: Catalog, default: tzinfo) -> Zones:
        zones: dict[str, tzinfo] = {}
        for agency in catalog.agencies:
            if agency.timezone:
                zones[agency.code] = ZoneInfo(agency.timezone)
        return cls(default, zones)

    def unknown(self) -> tuple[tzinfo, ...]:
        """The zones besides the default that someone with no agency yet may live in: every
        other zone of the deployment, whose quiet hours they keep too (flows.reminders)."""
        seen = {_key(self.default)}
        others: list[tzinfo] = []
        for zone in self.by_agency.values():
            if _key(zone) not in seen:
                seen.add(_key(zone))
                others.append(zone)
        return tuple(others)

    def zone(self, agency_code: str | None) -> tzinfo:
        if agency_code is None:
            return self.default
        return self.by_agency.get(agency_code, self.default)


def read_facts(db: Session, now: datetime, zones: Zones) -> rules.Facts:
    """Everything the planner needs, read in the caller's transaction."""
    window = now - max(rules.Settings().unfinished_window, timedelta(days=8))
    unfinished = [
        rules.Unfinished(row.user_id, row.flow, row.step, row.started_at, row.updated_at)
        for row in db.scalars(select(UnfinishedFlow).where(col(UnfinishedFlow.updated_at) > window))
    ]
    waiting = _waiting(db)
    campaign = campaign_plan(current_campaign(db))
    without_worker: list[int] = []
    if campaign is not None:
        open_sponsorship = select(col(Sponsorship.sponsor_id)).where(
            col(Sponsorship.status).in_(OPEN_STATUSES)
        )
        without_worker = list(
            db.scalars(select(col(Sponsor.user_id)).where(col(Sponsor.id).not_in(open_sponsorship)))
        )
    deductions = _first_deductions(db, now, zones)
    # Workers live where their sponsor's agency is.
    worker_agency = {w.opener_user_id: w.agency_code for w in waiting if w.opener_user_id}
    recipients: set[int] = {u.user_id for u in unfinished} | set(without_worker)
    recipients |= {w.fact.sponsor_user_id for w in waiting} | set(worker_agency)
    recipients |= {d.sponsor_user_id for d in deductions}
    people = _people(db, recipients, worker_agency, zones)
    queued, optional = _queued(db, now, people)
    return rules.Facts(
        people={
            user_id: rules.Person(
                person.user_id,
                person.zone,
                person.reminders_off,
                frozenset(optional.get(user_id, ())),
                person.agency,
                person.funder_type,
                person.also_quiet_in,
            )
            for user_id, person in people.items()
        },
        unfinished=unfinished,
        waiting=[w.fact for w in waiting],
        without_worker=without_worker,
        first_deductions=deductions,
        campaign=campaign,
        queued=frozenset(queued),
    )


@dataclass(frozen=True)
class _WaitingRow:
    fact: rules.Waiting
    agency_code: str
    opener_user_id: int | None


def _waiting(db: Session) -> list[_WaitingRow]:
    # Columns, not ORM objects: a round reads every waiting sponsorship, every minute.
    rows = db.execute(
        select(
            col(Sponsorship.id),
            col(Sponsorship.reference),
            col(Sponsorship.worker_full_name),
            col(Sponsorship.created_at),
            col(Sponsor.user_id),
            col(Sponsor.agency_code),
        )
        .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
        .where(col(Sponsorship.status) == SponsorshipStatus.WAITING_WORKER.value)
    ).all()
    if not rows:
        return []
    ids = [row[0] for row in rows]
    expiry = dict(
        db.execute(
            select(col(Invitation.sponsorship_id), func.max(col(Invitation.expires_at)))
            .where(
                col(Invitation.sponsorship_id).in_(ids),
                col(Invitation.used_at).is_(None),
                col(Invitation.locked_at).is_(None),
            )
            .group_by(col(Invitation.sponsorship_id))
        ).all()
    )
    openers: dict[int, tuple[int, datetime]] = {}
    for sponsorship_id, user_id, opened_at in db.execute(
        select(
            col(Invitation.sponsorship_id),
            col(InvitationOpener.user_id),
            col(InvitationOpener.opened_at),
        )
        .join(Invitation, col(Invitation.id) == col(InvitationOpener.invitation_id))
        .where(col(Invitation.sponsorship_id).in_(ids))
        .order_by(col(InvitationOpener.opened_at))
    ):
        openers[sponsorship_id] = (user_id, opened_at)  # the latest wins
    found = []
    for key, reference, worker_name, created_at, sponsor_user_id, agency_code in rows:
        sponsorship_id = _id(key)
        opener = openers.get(sponsorship_id)
        if opener is not None and opener[0] == sponsor_user_id:
            opener = None
        expires = expiry.get(sponsorship_id)
        fact = rules.Waiting(
            sponsorship_id=sponsorship_id,
            reference=reference,
            sponsor_user_id=sponsor_user_id,
            worker_name=worker_name or "",
            invited_at=created_at,
            expires_at=_aware(expires),
            opener_user_id=opener[0] if opener else None,
            opened_at=_aware(opener[1]) if opener else None,
        )
        found.append(_WaitingRow(fact, agency_code, fact.opener_user_id))
    return found


def _id(value: int | None) -> int:
    """A primary key read back (never NULL; the column type says it may be before an insert)."""
    if value is None:
        raise ValueError("a row without its id")
    return value


def _aware(value: datetime | None) -> datetime | None:
    """Aggregates (max) bypass the UTC column type: SQLite hands back naive UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _first_deductions(db: Session, now: datetime, zones: Zones) -> list[rules.FirstDeduction]:
    """Active sponsorships and the first month their sponsor's salary is cut: the consent's
    first month, or the month coverage started if later (flows.ledger: both must hold)."""
    rows = db.execute(
        select(
            col(Sponsorship.id),
            col(Sponsorship.reference),
            col(Sponsorship.monthly_amount),
            col(Sponsorship.coverage_start),
            col(Sponsor.user_id),
            col(Sponsor.agency_code),
            col(Consent.first_month),
            col(Sponsorship.payment_method),
        )
        .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
        .join(Consent, col(Consent.sponsorship_id) == col(Sponsorship.id))
        .where(
            col(Sponsorship.status) == SponsorshipStatus.ACTIVE.value,
            col(Consent.kind) == "salary_deduction",
            col(Consent.action) == "given",
            col(Consent.subject) == "sponsor",
        )
        .order_by(col(Consent.id))
    ).all()
    latest = {row[0]: row for row in rows}  # the latest consent given wins
    found = []
    for (
        key,
        reference,
        amount,
        coverage_start,
        user_id,
        agency,
        first,
        method,
    ) in latest.values():
        if first is None:
            continue
        month = first
        if coverage_start is not None:
            month = max(month, month_of(coverage_start))
        this_month = month_of(now.astimezone(zones.zone(agency)).date())
        if month < this_month:  # deducted already: no "before the first deduction" any more
            continue
        found.append(rules.FirstDeduction(_id(key), reference, user_id, month, amount, method))
    return found


@dataclass(frozen=True)
class _Person:
    user_id: int
    zone: tzinfo
    reminders_off: bool
    agency: str | None
    funder_type: str = ASN
    also_quiet_in: tuple[tzinfo, ...] = ()


def _people(
    db: Session, user_ids: set[int], worker_agency: Mapping[int, str], zones: Zones
) -> dict[int, _Person]:
    if not user_ids:
        return {}
    people: dict[int, _Person] = {}
    rows = db.execute(
        select(
            col(TelegramUser.user_id),
            col(TelegramUser.reminders_off_at),
            col(Sponsor.agency_code),
            col(Sponsor.funder_type),
        )
        .outerjoin(Sponsor, col(Sponsor.user_id) == col(TelegramUser.user_id))
        .where(col(TelegramUser.user_id).in_(user_ids))
    ).all()
    unknown = zones.unknown()
    for user_id, off_at, agency_code, funder_type in rows:
        agency = agency_code or worker_agency.get(user_id)
        people[user_id] = _Person(
            user_id,
            zones.zone(agency),
            off_at is not None,
            agency,
            funder_type or ASN,
            # No agency yet (mid-sign-up): the deployment's every zone keeps its quiet hours.
            unknown if agency is None else (),
        )
    return people


def _queued(
    db: Session, now: datetime, people: Mapping[int, _Person]
) -> tuple[set[str], dict[int, set[date]]]:
    """The reminder keys queued already, and each person's local days holding an optional
    reminder (queued or sent; a voided or skipped one did not reach them, so it does not count)."""
    keys: set[str] = set()
    days: dict[int, set[date]] = {}
    rows = db.execute(
        select(
            col(OutboxMessage.dedupe_key),
            col(OutboxMessage.recipient_user_id),
            col(OutboxMessage.not_before),
            col(OutboxMessage.created_at),
            col(OutboxMessage.outcome),
        ).where(
            col(OutboxMessage.kind) == "reminder",
            col(OutboxMessage.created_at) > now - KEYS_KEPT,
        )
    ).all()
    for key, user_id, not_before, created_at, outcome in rows:
        keys.add(key)
        person = people.get(user_id)
        if person is None or rules.kind_of(key) not in rules.OPTIONAL_KINDS:
            continue
        if outcome in ("void", "skipped", "cancelled"):
            continue
        moment = not_before or created_at
        days.setdefault(user_id, set()).add(moment.astimezone(person.zone).date())
    return keys, days


# --- queueing ---------------------------------------------------------------------------------


def document(reminder: rules.Reminder) -> str:
    """The outbox message of a reminder: the Text as flows.text.to_json (what any reader of the
    outbox renders), plus its buttons (bot.reminder_text renders both)."""
    body: dict[str, Any] = dict(to_json(reminder.message))
    body["buttons"] = [
        [{"label": to_json(button.label), "value": button.value} for button in row]
        for row in reminder.buttons
    ]
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


ENQUEUE_BATCH: Final = 500  # rows per INSERT (well under SQLite's and PostgreSQL's limits)


def enqueue(
    db: Session, sealer: Sealer, reminders: Iterable[rules.Reminder], now: datetime
) -> list[str]:
    """Queue the reminders unless their keys exist; returns the keys queued now. Many rows per
    INSERT ... ON CONFLICT DO NOTHING RETURNING: a campaign day queues thousands at once."""
    insert = dialect_insert(db.get_bind().dialect.name)
    rows = [
        {
            "dedupe_key": reminder.dedupe_key,
            "recipient_user_id": reminder.recipient_user_id,
            "sponsorship_id": reminder.sponsorship_id,
            "kind": "reminder",
            "priority": DELIVERY_PRIORITY["reminder"],
            "message": sealer.seal(document(reminder)),
            "created_at": now,
            "not_before": reminder.not_before,
            "attempts": 0,
            "claims": 0,
        }
        for reminder in reminders
    ]
    queued: list[str] = []
    for start in range(0, len(rows), ENQUEUE_BATCH):
        statement = (
            insert(OutboxMessage)
            .values(rows[start : start + ENQUEUE_BATCH])
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(col(OutboxMessage.dedupe_key))
        )
        queued.extend(db.execute(statement).scalars())
    order = {row["dedupe_key"]: index for index, row in enumerate(rows)}
    return sorted(queued, key=order.__getitem__)


def take_round_lock(db: Session) -> None:
    """Serialize reminder rounds across processes (SQLite: the immediate transaction does)."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


class ReminderStore:
    """The scheduler's storage: one round is one transaction."""

    def __init__(
        self,
        writer: Engine,
        sealer: Sealer,
        zones: Zones,
        settings: rules.Settings | None = None,
        *,
        reader: Engine | None = None,
    ) -> None:
        self._writer = writer
        # For the rounds that only read: SQLite transactions on it begin without the write
        # lock (the writer's begin with it: bot.storage.db.immediate).
        self._reader = reader or writer
        self._sealer = sealer
        self.zones = zones
        self.settings = settings or rules.Settings()

    def run_round(self, now: datetime) -> list[str]:
        """Plan at `now` and queue what is due; returns the dedupe keys queued.

        Most rounds find nothing due. They only read, without the round lock: on SQLite that
        lock is the database's write lock, and holding it through the facts' read (about a
        second at 3,000 sponsors) would hold back every conversation's commit once a minute.
        A round that finds something reads again under the lock, and plans and queues there,
        so what it queues is decided by one process at a time."""
        with Session(self._reader) as db, db.begin():
            if not rules.plan(read_facts(db, now, self.zones), now, self.settings):
                return []
        with Session(immediate(self._writer)) as db, db.begin():
            take_round_lock(db)
            facts = read_facts(db, now, self.zones)
            return enqueue(db, self._sealer, rules.plan(facts, now, self.settings), now)

    def campaign(self) -> Campaign | None:
        with Session(self._writer) as db:
            row = current_campaign(db)
            if row is not None:
                db.expunge(row)
            return row

    def upcoming(self, now: datetime, days: int) -> tuple[list[rules.Reminder], rules.Facts]:
        with Session(self._writer) as db, db.begin():
            facts = read_facts(db, now, self.zones)
        return rules.upcoming(facts, now, days, self.settings), facts


# --- the gate ---------------------------------------------------------------------------------


class _Due(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def dedupe_key(self) -> str: ...

    @property
    def recipient_user_id(self) -> int: ...


class ReminderChecks:
    """The real ReminderGate (bot.delivery.contracts): reads each reminder's reason again right
    before it is sent. A reminder is still due when the planner would still have a reason for
    it now: the draft is still unfinished and idle, the sponsorship still waits for its worker
    (or is still active, for the deduction notice), the ASN still has no worker and the campaign
    still has that deadline; and for an optional kind, the person has not opted out since."""

    def __init__(
        self,
        reader: Engine,
        clock: Callable[[], datetime],
        settings: rules.Settings | None = None,
    ) -> None:
        self._reader = reader
        self._clock = clock
        self._settings = settings or rules.Settings()

    def still_due(self, reminders: Collection[_Due]) -> set[int]:
        if not reminders:
            return set()
        now = self._clock()
        with Session(self._reader) as db:
            off = set(
                db.scalars(
                    select(col(TelegramUser.user_id)).where(
                        col(TelegramUser.user_id).in_({r.recipient_user_id for r in reminders}),
                        col(TelegramUser.reminders_off_at).is_not(None),
                    )
                )
            )
            due = set()
            for reminder in reminders:
                kind = rules.kind_of(reminder.dedupe_key)
                if kind is None:
                    continue
                if kind in rules.OPTIONAL_KINDS and reminder.recipient_user_id in off:
                    continue
                if self._reason_holds(db, kind, reminder, now):
                    due.add(reminder.id)
            return due

    def _reason_holds(self, db: Session, kind: str, reminder: _Due, now: datetime) -> bool:
        parts = reminder.dedupe_key.split(":")
        try:
            if kind == rules.UNFINISHED:  # reminder:unfinished:<user>:<flow>:<started>:day<n>
                _, _, user, flow, started, stage = parts
                row = db.get(UnfinishedFlow, int(user))
                return (
                    row is not None
                    and row.flow == flow
                    and int(row.started_at.timestamp()) == int(started)
                    and row.updated_at + timedelta(days=int(stage[3:])) <= now
                )
            if kind == rules.CAMPAIGN:  # reminder:campaign:<user>:<deadline>:d<n>
                _, _, user, deadline, _days = parts
                plan = campaign_plan(current_campaign(db))
                if plan is None or plan.deadline.isoformat() != deadline:
                    return False
                sponsor = db.scalars(
                    select(Sponsor).where(col(Sponsor.user_id) == int(user))
                ).first()
                if sponsor is None:
                    return False
                busy = db.scalars(
                    select(col(Sponsorship.id)).where(
                        col(Sponsorship.sponsor_id) == sponsor.id,
                        col(Sponsorship.status).in_(OPEN_STATUSES),
                    )
                ).first()
                return busy is None
            sponsorship = db.get(Sponsorship, int(parts[2]))
            if sponsorship is None:
                return False
            if kind == rules.FIRST_DEDUCTION:
                return sponsorship.status == SponsorshipStatus.ACTIVE.value
            return sponsorship.status == SponsorshipStatus.WAITING_WORKER.value
        except (ValueError, IndexError):  # a key this code did not write: not a reason
            return False
