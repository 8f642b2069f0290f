"""Which reminders are due, and when: pure rules over facts storage gathers (bot.storage.reminders).

The scheduler (bot.reminders) calls `plan` every minute and queues what it returns as outbox rows
(kind "reminder"); `upcoming` runs the same `plan` at every moment something could fall due over
the coming days, so the report shows what will later be queued, not an estimate of it.

Rules:
- Each person lives in a time zone (their agency's: WIB, WITA or WIT; the programme's by default).
  A reminder that falls due in quiet hours (20:00-07:00 local by default) waits for 07:00 local:
  a transactional one is queued at once with not_before = 07:00 (and may be voided before then:
  bot.storage.reminders re-checks its reason right before sending); an optional one is queued at
  07:00, when the day's one optional reminder is chosen among all then due. Someone whose zone
  is not known yet (mid-sign-up, no agency chosen) in a deployment spanning several zones keeps
  the quiet hours of every one of them (Person.also_quiet_in): 07:00-18:00 WIB across WIB to WIT.
- OPTIONAL kinds (nudges: unfinished flows, the campaign, a worker not confirming yet) reach a
  person at most once per local day (the day of their not_before) and never after
  /berhenti_pengingat. TRANSACTIONAL kinds (the worker's link about to expire, the first salary
  deduction) concern money or a deadline of the person's own sponsorship: they ignore the
  opt-out and the daily cap, like the sponsorship notifications do (issue 9).
- Staged reminders (1 and 3 days; day 2 and day 7) only offer their latest stage: a bot that was
  down for days does not send two stale nudges in a row.
- The dedupe key names the reason and its stage, so a repeated plan, a restart or a second
  scheduler process queues nothing twice (the outbox's unique dedupe_key).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import partial
from typing import Final, TypeAlias

from flows import callbacks
from flows.catalog import ASN, SALARY_DEDUCTION
from flows.effects import Button
from flows.formatting import long_date, month_year
from flows.text import Raw, Text, t

UNFINISHED: Final = "unfinished"
CAMPAIGN: Final = "campaign"
UNCONFIRMED_SPONSOR: Final = "unconfirmed_sponsor"
INVITATION_EXPIRING: Final = "invitation_expiring"
WORKER_STALLED: Final = "worker_stalled"
FIRST_DEDUCTION: Final = "first_deduction"

KINDS: Final = (
    CAMPAIGN,
    UNCONFIRMED_SPONSOR,
    WORKER_STALLED,
    UNFINISHED,
    INVITATION_EXPIRING,
    FIRST_DEDUCTION,
)
"""Every kind, in the order a person's one optional reminder of the day is chosen: the campaign
day is lost if not sent that day, a waiting worker is someone else waiting."""
_RANK: Final = {kind: rank for rank, kind in enumerate(KINDS)}
OPTIONAL_KINDS: Final = frozenset({CAMPAIGN, UNCONFIRMED_SPONSOR, WORKER_STALLED, UNFINISHED})
TRACKED_FLOWS: Final = frozenset({"signup", "sponsorship"})
"""The flows whose unfinished drafts are tracked (unfinished_flows) and reminded of."""
PREFIX: Final = "reminder:"


@dataclass(frozen=True)
class Settings:
    quiet_start: time = time(20, 0)
    quiet_end: time = time(7, 0)
    unfinished_days: tuple[int, ...] = (1, 3)
    unfinished_window: timedelta = timedelta(days=7)  # no nudge about a draft idle longer
    sponsor_days: tuple[int, ...] = (2, 7)
    expiry_warning: timedelta = timedelta(days=2)
    worker_stalled_after: timedelta = timedelta(days=1)
    deduction_notice: timedelta = timedelta(days=7)  # before the first deducted month

    def __post_init__(self) -> None:
        if self.quiet_start == self.quiet_end:
            raise ValueError("quiet hours must not be empty nor the whole day")


@dataclass(frozen=True)
class Person:
    user_id: int
    zone: tzinfo
    reminders_off: bool = False
    optional_days: frozenset[date] = frozenset()
    """Local days on which an optional reminder is already queued or sent to this person."""
    agency: str | None = None  # their agency (a worker: their sponsor's), for staff reports
    funder_type: str = ASN  # a sponsor's (issue 12): a village is not reminded as an ASN
    also_quiet_in: tuple[tzinfo, ...] = ()
    """Zones whose quiet hours hold too: someone mid-sign-up (no agency yet, so no zone known)
    in a deployment spanning WIB, WITA and WIT hears only when it is daytime in all of them."""

    @property
    def zones(self) -> tuple[tzinfo, ...]:
        return (self.zone, *self.also_quiet_in)


@dataclass(frozen=True)
class Unfinished:
    user_id: int
    flow: str
    step: str
    started_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Waiting:
    """A sponsorship waiting for its worker's decision."""

    sponsorship_id: int
    reference: str
    sponsor_user_id: int
    worker_name: str
    invited_at: datetime
    expires_at: datetime | None  # of its newest usable invitation; None: none left
    opener_user_id: int | None = None  # who last opened the link (the worker, presumably)
    opened_at: datetime | None = None


@dataclass(frozen=True)
class FirstDeduction:
    sponsorship_id: int
    reference: str
    sponsor_user_id: int
    month: date  # the 1st of the first month deducted
    amount: int
    # How it is paid: only a salary deduction cuts a salary; any other route (a village's
    # budget, zakat, CSR, paying directly) is told as the first month paid (issue 12).
    payment_method: str = SALARY_DEDUCTION


@dataclass(frozen=True)
class CampaignPlan:
    deadline: date
    days: tuple[int, ...]


@dataclass(frozen=True)
class Facts:
    people: Mapping[int, Person]
    unfinished: Sequence[Unfinished] = ()
    waiting: Sequence[Waiting] = ()
    without_worker: Sequence[int] = ()  # user ids of signed-up ASN with no open sponsorship
    first_deductions: Sequence[FirstDeduction] = ()
    campaign: CampaignPlan | None = None
    queued: frozenset[str] = frozenset()  # dedupe keys already queued (any outcome)


@dataclass(frozen=True)
class Reminder:
    kind: str
    recipient_user_id: int
    dedupe_key: str
    message: Text
    buttons: tuple[tuple[Button, ...], ...]
    not_before: datetime  # UTC; the moment it may be sent (out of quiet hours)
    sponsorship_id: int | None = None

    @property
    def optional(self) -> bool:
        return self.kind in OPTIONAL_KINDS


Wording: TypeAlias = tuple[Text, tuple[tuple[Button, ...], ...]]


@dataclass(frozen=True)
class _Candidate:
    """A reminder whose reason holds from `due` until `until` (exclusive). Its wording is made
    only when it is chosen: most candidates of a round are not due, and a round sees them all."""

    kind: str
    recipient_user_id: int
    dedupe_key: str
    due: datetime
    until: datetime | None
    wording: Callable[[], Wording]
    sponsorship_id: int | None = None

    @property
    def optional(self) -> bool:
        return self.kind in OPTIONAL_KINDS

    def reminder(self, not_before: datetime) -> Reminder:
        message, buttons = self.wording()
        return Reminder(
            self.kind,
            self.recipient_user_id,
            self.dedupe_key,
            message,
            buttons,
            not_before,
            self.sponsorship_id,
        )


def kind_of(dedupe_key: str) -> str | None:
    """The kind a reminder's dedupe key names, or None for another key."""
    if not dedupe_key.startswith(PREFIX):
        return None
    kind = dedupe_key[len(PREFIX) :].split(":", 1)[0]
    return kind if kind in KINDS else None


def is_quiet(moment: datetime, zone: tzinfo, settings: Settings) -> bool:
    local = moment.astimezone(zone).time()
    start, end = settings.quiet_start, settings.quiet_end
    if start > end:  # across midnight, as 20:00-07:00
        return local >= start or local < end
    return start <= local < end


def out_of_quiet(moment: datetime, zone: tzinfo, settings: Settings) -> datetime:
    """`moment`, or the end of the quiet hours it falls in (07:00 local), in UTC."""
    if not is_quiet(moment, zone, settings):
        return moment.astimezone(UTC)
    local = moment.astimezone(zone)
    day = local.date()
    if settings.quiet_start > settings.quiet_end and local.time() >= settings.quiet_start:
        day += timedelta(days=1)
    return datetime.combine(day, settings.quiet_end, tzinfo=zone).astimezone(UTC)


def is_quiet_for(moment: datetime, person: Person, settings: Settings) -> bool:
    """Quiet hours in the person's zone, or in any other zone they may live in."""
    return any(is_quiet(moment, zone, settings) for zone in person.zones)


def out_of_quiet_for(moment: datetime, person: Person, settings: Settings) -> datetime:
    """The first moment from `moment` out of quiet hours in all the person's zones: each zone's
    07:00 in turn until none is quiet (with 20:00-07:00 in WIB to WIT, 07:00-18:00 WIB). When
    the zones share no daytime (quiet hours set too long for them), the person's own zone."""
    found = moment.astimezone(UTC)
    for _ in range(2 * len(person.zones) + 2):
        later = found
        for zone in person.zones:
            later = out_of_quiet(later, zone, settings)
        if later == found:
            return found
        found = later
    return out_of_quiet(moment, person.zone, settings)


def _local_start(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def plan(facts: Facts, now: datetime, settings: Settings | None = None) -> list[Reminder]:
    """The reminders to queue at `now`: due, not queued before, within each person's daily
    cap of one optional reminder; each with not_before out of quiet hours."""
    settings = settings or Settings()
    return _choose(_ranked(facts, settings), facts, now, settings)


def _ranked(facts: Facts, settings: Settings) -> list[_Candidate]:
    """Every candidate, in the order the daily cap picks among them."""
    return sorted(
        _candidates(facts, settings),
        key=lambda c: (_RANK[c.kind], c.due, c.dedupe_key),
    )


def _choose(
    candidates: Sequence[_Candidate], facts: Facts, now: datetime, settings: Settings
) -> list[Reminder]:
    chosen: list[Reminder] = []
    capped: dict[int, set[date]] = {}
    for candidate in candidates:
        if candidate.due > now or candidate.dedupe_key in facts.queued:
            continue
        if candidate.until is not None and now >= candidate.until:
            continue
        person = facts.people.get(candidate.recipient_user_id)
        if person is None:
            continue
        send_at = out_of_quiet_for(max(now, candidate.due), person, settings)
        if candidate.until is not None and send_at >= candidate.until:
            continue
        if candidate.optional:
            # Chosen only out of quiet hours: the day's one optional reminder is picked at 07:00
            # among all that are due by then (a campaign day starting at midnight included),
            # not by whichever fell due the evening before.
            if person.reminders_off or is_quiet_for(now, person, settings):
                continue
            day = send_at.astimezone(person.zone).date()
            taken = capped.setdefault(person.user_id, set(person.optional_days))
            if day in taken:
                continue
            taken.add(day)
        chosen.append(candidate.reminder(send_at))
    return chosen


def upcoming(
    facts: Facts, now: datetime, days: int, settings: Settings | None = None
) -> list[Reminder]:
    """What `plan` will queue from `now` over the next `days` days if no reason goes away
    meanwhile: `plan` run at every moment a reminder can fall due, each result fed back as
    queued (so the daily cap and the dedupe keys act as they will)."""
    settings = settings or Settings()
    end = now + timedelta(days=days)
    ranked = _ranked(facts, settings)  # the facts' reasons do not change; only what is queued
    moments = {now}
    for candidate in ranked:
        if now < candidate.due < end:
            moments.add(candidate.due)
    zones = {id(zone): zone for p in facts.people.values() for zone in p.zones}
    for zone in zones.values():
        # The daily cap postpones to a later day: each morning (and midnight) is a moment too.
        day = now.astimezone(zone).date()
        while (start := _local_start(day, zone)) < end:
            for moment in (start, datetime.combine(day, settings.quiet_end, tzinfo=zone)):
                if now < moment < end:
                    moments.add(moment.astimezone(UTC))
            day += timedelta(days=1)
    planned: list[Reminder] = []
    for moment in sorted(moments):
        due = _choose(ranked, facts, moment, settings)
        if not due:
            continue
        planned.extend(due)
        facts = _fed_back(facts, due)
    return planned


def _fed_back(facts: Facts, queued: Iterable[Reminder]) -> Facts:
    people = dict(facts.people)
    keys = set(facts.queued)
    for reminder in queued:
        keys.add(reminder.dedupe_key)
        person = people[reminder.recipient_user_id]
        if reminder.optional:
            day = reminder.not_before.astimezone(person.zone).date()
            people[person.user_id] = replace(person, optional_days=person.optional_days | {day})
    return replace(facts, people=people, queued=frozenset(keys))


# --- the kinds --------------------------------------------------------------------------------


def _candidates(facts: Facts, settings: Settings) -> Iterator[_Candidate]:
    yield from _unfinished(facts, settings)
    yield from _waiting(facts, settings)
    yield from _campaign(facts)
    yield from _first_deductions(facts, settings)


def _latest_stage(
    start: datetime, stages: Sequence[tuple[str, datetime]], until: datetime
) -> Iterator[tuple[str, datetime, datetime]]:
    """Each stage with the time it falls due and the time the next stage takes over."""
    ordered = sorted(stages, key=lambda stage: stage[1])
    for index, (name, due) in enumerate(ordered):
        following = ordered[index + 1][1] if index + 1 < len(ordered) else until
        if due >= start:
            yield name, due, following


def _resume_buttons() -> tuple[tuple[Button, ...], ...]:
    return ((Button(t("reminders.button_resume"), callbacks.menu("resume")),),)


# Sign-up steps only a sponsor without a NIP reaches (flows.signup): their unfinished sign-up is
# not "your sign-up as an ASN".
NO_NIP_STEPS: Final = frozenset(
    {"org_regency", "funder_type", "org_district", "org_village"}
    | {"company_name", "officer_name", "position"}
)


def _unfinished_words(flow: str, days: int, step: str | None = None) -> Wording:
    if flow == "signup" and step in NO_NIP_STEPS:
        return t("funder2.unfinished_signup", days=days), _resume_buttons()
    return t(f"reminders.unfinished_{flow}", days=days), _resume_buttons()


def _reinvite_buttons(reference: str) -> tuple[tuple[Button, ...], ...]:
    return (
        (Button(t("reminders.button_new_link"), callbacks.action("reinvite", reference)),),
        (Button(t("reminders.button_status"), callbacks.menu("status")),),
    )


def _unconfirmed_words(item: Waiting, days: int, expired: bool) -> Wording:
    message = t(
        "reminders.unconfirmed_expired" if expired else "reminders.unconfirmed",
        worker=Raw(item.worker_name),
        reference=Raw(item.reference),
        days=days,
    )
    return message, _reinvite_buttons(item.reference)


def _expiring_words(item: Waiting) -> Wording:
    message = t(
        "reminders.invitation_expiring",
        worker=Raw(item.worker_name),
        reference=Raw(item.reference),
    )
    return message, _reinvite_buttons(item.reference)


def _stalled_words(item: Waiting) -> Wording:
    return t("reminders.worker_stalled", reference=Raw(item.reference)), _resume_buttons()


MANY: Final = frozenset({"desa", "baznas", "perusahaan"})  # funder types sponsoring many workers


def _campaign_words(days: int, deadline: date, funder_type: str = ASN) -> Wording:
    # A village, BAZNAS or a company sponsors many workers: not "one vulnerable worker".
    key = "funder2.campaign_organisation" if funder_type in MANY else "reminders.campaign"
    message = t(key, days=days, deadline=long_date(deadline))
    return message, ((Button(t("reminders.button_sponsor"), callbacks.menu("sponsor")),),)


def _deduction_words(item: FirstDeduction) -> Wording:
    cut = item.payment_method == SALARY_DEDUCTION
    message = t(
        "reminders.first_deduction" if cut else "funder2.first_payment",
        amount=item.amount,
        month=month_year(item.month),
        reference=Raw(item.reference),
    )
    return message, ((Button(t("reminders.button_status"), callbacks.menu("status")),),)


def _unfinished(facts: Facts, settings: Settings) -> Iterator[_Candidate]:
    for draft in facts.unfinished:
        if draft.flow not in TRACKED_FLOWS:
            continue
        stages = [
            (f"day{n}", draft.updated_at + timedelta(days=n)) for n in settings.unfinished_days
        ]
        until = draft.updated_at + settings.unfinished_window
        started = int(draft.started_at.timestamp())
        for stage, due, following in _latest_stage(draft.updated_at, stages, until):
            key = f"{PREFIX}{UNFINISHED}:{draft.user_id}:{draft.flow}:{started}:{stage}"
            days = (due - draft.updated_at).days
            words = partial(_unfinished_words, draft.flow, days, draft.step)
            yield _Candidate(UNFINISHED, draft.user_id, key, due, following, words)


def _waiting(facts: Facts, settings: Settings) -> Iterator[_Candidate]:
    for item in facts.waiting:
        sponsorship = item.sponsorship_id
        until = item.expires_at or item.invited_at + timedelta(days=max(settings.sponsor_days) + 1)
        stages = [(f"day{n}", item.invited_at + timedelta(days=n)) for n in settings.sponsor_days]
        for stage, due, following in _latest_stage(item.invited_at, stages, until):
            expired = item.expires_at is None or item.expires_at <= due
            key = f"{PREFIX}{UNCONFIRMED_SPONSOR}:{sponsorship}:{stage}"
            words = partial(_unconfirmed_words, item, (due - item.invited_at).days, expired)
            # A later stage after the link expired still tells the sponsor how to get a new one.
            yield _Candidate(
                UNCONFIRMED_SPONSOR,
                item.sponsor_user_id,
                key,
                due,
                None if expired else following,
                words,
                sponsorship,
            )
        if item.expires_at is not None:
            key = f"{PREFIX}{INVITATION_EXPIRING}:{sponsorship}:{int(item.expires_at.timestamp())}"
            yield _Candidate(
                INVITATION_EXPIRING,
                item.sponsor_user_id,
                key,
                item.expires_at - settings.expiry_warning,
                item.expires_at,
                partial(_expiring_words, item),
                sponsorship,
            )
        if item.opener_user_id is not None and item.opened_at is not None:
            key = f"{PREFIX}{WORKER_STALLED}:{sponsorship}:{item.opener_user_id}"
            yield _Candidate(
                WORKER_STALLED,
                item.opener_user_id,
                key,
                item.opened_at + settings.worker_stalled_after,
                until,
                partial(_stalled_words, item),
                sponsorship,
            )


def _campaign(facts: Facts) -> Iterator[_Candidate]:
    campaign = facts.campaign
    if campaign is None:
        return
    deadline = campaign.deadline.isoformat()
    for user_id in facts.without_worker:
        person = facts.people.get(user_id)
        if person is None:
            continue
        for days in campaign.days:
            day = campaign.deadline - timedelta(days=days)
            key = f"{PREFIX}{CAMPAIGN}:{user_id}:{deadline}:d{days}"
            # Only on its own day: "7 days left" is wrong the day after.
            start = _local_start(day, person.zone)
            end = _local_start(day + timedelta(days=1), person.zone)
            words = partial(_campaign_words, days, campaign.deadline, person.funder_type)
            yield _Candidate(CAMPAIGN, user_id, key, start, end, words)


def _first_deductions(facts: Facts, settings: Settings) -> Iterator[_Candidate]:
    for item in facts.first_deductions:
        person = facts.people.get(item.sponsor_user_id)
        if person is None:
            continue
        key = f"{PREFIX}{FIRST_DEDUCTION}:{item.sponsorship_id}:{item.month:%Y-%m}"
        month_start = _local_start(item.month, person.zone)
        next_month = item.month.replace(day=28) + timedelta(days=4)
        end = _local_start(next_month.replace(day=1), person.zone)
        yield _Candidate(
            FIRST_DEDUCTION,
            item.sponsor_user_id,
            key,
            month_start - settings.deduction_notice,
            end,
            partial(_deduction_words, item),
            item.sponsorship_id,
        )


@dataclass(frozen=True)
class DayCount:
    day: date
    kind: str
    count: int


def per_day(reminders: Iterable[Reminder], people: Mapping[int, Person]) -> list[DayCount]:
    """The report: how many reminders of each kind go out on each local day."""
    counts: dict[tuple[date, str], int] = {}
    for reminder in reminders:
        person = people.get(reminder.recipient_user_id)
        zone = person.zone if person is not None else UTC
        key = (reminder.not_before.astimezone(zone).date(), reminder.kind)
        counts[key] = counts.get(key, 0) + 1
    return [
        DayCount(day, kind, count)
        for (day, kind), count in sorted(
            counts.items(), key=lambda i: (i[0][0], KINDS.index(i[0][1]))
        )
    ]


def reminder_days(text: str) -> tuple[int, ...] | None:
    """ "14,7,1" -> (14, 7, 1): distinct whole days 0-366, largest first; None if not that."""
    parts = [part.strip() for part in text.split(",")]
    if not parts or any(not (p.isascii() and p.isdigit()) or len(p) > 3 for p in parts):
        return None
    days = tuple(sorted({int(p) for p in parts}, reverse=True))
    if len(days) != len(parts) or days[0] > 366:
        return None
    return days
