"""Statistics read queries: per agency and per kecamatan/desa of the workers, and participation
against the roster of civil servants.

Everything is aggregated in SQL (GROUP BY), a fixed number of statements whatever the number of
sponsorships: nothing here loops over sponsorship rows in Python. Every query is filtered by the
agencies the reader may see (flows.access.Scope.restrict gives them; None means every agency).

The sponsor's agency (sponsors.agency_code) places a sponsorship; the rupiah deducted are placed
by the ledger row's agency (deductions.agency_code: the treasurer who cut the salary).

State groups (issue 8 names six; the statuses are flows.statuses.SponsorshipStatus):
- draft: a signed-up ASN with no sponsorship submitted yet. A worker being filled in lives only in
  the ASN's conversation (sealed, maybe in Redis), so the signed-up ASN without any sponsorship
  row is the draft figure the database can give;
- waiting (waiting_worker), confirmed, active, lapsed: the status of that name;
- withdrawn: withdrawn, and declined (the worker refused): both ended without coverage.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Engine, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.storage import audit, counts
from bot.storage.db import immediate
from bot.storage.models import RosterEntry, Sponsor
from flows.statuses import SponsorshipStatus

STATE_GROUPS: Final[tuple[str, ...]] = (
    "draft",
    "waiting",
    "confirmed",
    "active",
    "withdrawn",
    "lapsed",
)
GROUP_OF_STATUS: Final[Mapping[SponsorshipStatus, str]] = {
    SponsorshipStatus.WAITING_WORKER: "waiting",
    SponsorshipStatus.CONFIRMED: "confirmed",
    SponsorshipStatus.ACTIVE: "active",
    SponsorshipStatus.DECLINED: "withdrawn",
    SponsorshipStatus.WITHDRAWN: "withdrawn",
    SponsorshipStatus.LAPSED: "lapsed",
}
"""Which of the six groups each status counts in (every status has one: a test checks)."""


@dataclass(frozen=True)
class Counts:
    """The figures of one agency or one area."""

    signed_up: int = 0  # ASN (sponsors); in an area: ASN with a worker there
    states: Mapping[str, int] = field(default_factory=lambda: dict.fromkeys(STATE_GROUPS, 0))
    covered: int = 0  # workers whose BPJS coverage has started (active, start date reached)
    deducted: int = 0  # rupiah marked deducted for the month

    @property
    def sponsorships(self) -> int:
        """Sponsorships submitted (drafts are not sponsorships)."""
        return sum(n for group, n in self.states.items() if group != "draft")


@dataclass(frozen=True)
class AgencyStatistics:
    agency_code: str
    counts: Counts
    roster: int = 0  # ASN of the agency on the roster
    roster_signed_up: int = 0  # of those, how many signed up (matched by the NIP's blind index)

    @property
    def participation(self) -> float | None:
        """Signed-up ASN on the roster / ASN on the roster; None without a roster."""
        return self.roster_signed_up / self.roster if self.roster else None


@dataclass(frozen=True)
class AreaStatistics:
    """One kecamatan (village_code None) or one desa of the workers, within one agency."""

    agency_code: str
    district_code: str
    district_name: str
    village_code: str | None
    village_name: str | None
    counts: Counts


@dataclass(frozen=True)
class FunderStatistics:
    """Sponsors of one funder type (issue 12) and the sponsorships they submitted."""

    funder_type: str
    sponsors: int
    sponsorships: int


@dataclass(frozen=True)
class GroupStatistics:
    """The sponsorships of one job or one relationship to the sponsor (issue 12), over every
    agency read; code None: not recorded (registered before the two questions). signed_up:
    the ASN sponsoring such a worker; deducted is not split this way (0)."""

    code: str | None
    counts: Counts


@dataclass(frozen=True)
class Statistics:
    month: date  # the local month the deducted rupiah are for (its first day)
    agencies: tuple[AgencyStatistics, ...]  # catalog order, then codes no longer in the catalog
    districts: tuple[AreaStatistics, ...]
    villages: tuple[AreaStatistics, ...]
    catalog_agencies: int  # agencies of the catalog within the reader's scope
    # Per funder type with any sponsor, ASN first then by code (issue 12).
    funders: tuple[FunderStatistics, ...] = ()
    # Most sponsorships first, then by code; "not recorded" (None) last.
    jobs: tuple[GroupStatistics, ...] = ()
    relationships: tuple[GroupStatistics, ...] = ()

    @property
    def agencies_taking_part(self) -> int:
        """Agencies with at least one signed-up ASN ("12 dari 39 dinas")."""
        return sum(1 for a in self.agencies if a.counts.signed_up > 0)

    @property
    def signed_up(self) -> int:
        return sum(a.counts.signed_up for a in self.agencies)

    @property
    def roster(self) -> int:
        return sum(a.roster for a in self.agencies)

    @property
    def roster_signed_up(self) -> int:
        return sum(a.roster_signed_up for a in self.agencies)

    @property
    def participation(self) -> float | None:
        """Signed-up ASN on the roster / ASN on the roster, over every agency read ("22,3 %")."""
        return self.roster_signed_up / self.roster if self.roster else None

    @property
    def total(self) -> Counts:
        states = dict.fromkeys(STATE_GROUPS, 0)
        for agency in self.agencies:
            for group, n in agency.counts.states.items():
                states[group] += n
        return Counts(
            signed_up=self.signed_up,
            states=states,
            covered=sum(a.counts.covered for a in self.agencies),
            deducted=sum(a.counts.deducted for a in self.agencies),
        )

    @property
    def row_count(self) -> int:
        """Rows of a view or an export (the audit log's count)."""
        return len(self.agencies) + len(self.districts) + len(self.villages)


def first_of_month(now: datetime) -> date:
    return date(now.year, now.month, 1)


def _within(column: Any, agencies: frozenset[str] | None) -> ColumnElement[bool]:
    """The scope filter: every agency (None), or those given (none at all: nothing matches)."""
    if agencies is None:
        return col(column).is_not(None)
    return col(column).in_(sorted(agencies))


class _Tally:
    """One group's figures as the kept counts' rows add up (bot.storage.counts): rows are
    (COUNT_KEY..., COUNT_VALUES...), read by position (thousands of them for every agency)."""

    __slots__ = ("covered", "drafts", "n", "names", "states")

    def __init__(self) -> None:
        self.n = self.drafts = self.covered = 0
        self.states = [0] * len(counts.STATES)
        self.names: tuple[str, str] | None = None

    def add(self, row: Any, today: str) -> None:
        self.n += row[_N]
        self.drafts += row[_DRAFTS]
        states = self.states
        counted = 0
        for i in range(len(states)):
            value = row[_STATES + i]
            states[i] += value
            counted += value
        if row[_DAY] <= today:  # "" (no start, or long past) sorts before every date
            self.covered += row[_STARTED]
        if counted > 0:  # the names the rows hold: the greatest of each shows (as MAX did)
            names = self.names
            k3, k4 = row[_K3], row[_K4]
            self.names = (k3, k4) if names is None else (max(names[0], k3), max(names[1], k4))

    def counts(self, *, drafts: bool = False, deducted: int = 0) -> Counts:
        states = dict(zip(counts.STATES, self.states, strict=True))
        return Counts(
            signed_up=self.n,
            states={group: states.get(group, 0) for group in STATE_GROUPS}
            | {"draft": self.drafts if drafts else 0},
            covered=self.covered,
            deducted=deducted,
        )


_K1, _K2, _K3, _K4, _DAY = (counts.COUNT_KEY.index(k) for k in ("k1", "k2", "k3", "k4", "day"))
_WIDTH = len(counts.COUNT_KEY)
_N, _DRAFTS, _STARTED, _DEDUCTED = (
    _WIDTH + counts.COUNT_VALUES.index(v) for v in ("n", "drafts", "started", "deducted")
)
_STATES = _WIDTH + counts.COUNT_VALUES.index(counts.STATES[0])


def read_statistics(
    session: Session,
    agencies: frozenset[str] | None,
    *,
    now: datetime,
    catalog_codes: Sequence[str],
) -> Statistics:
    """The statistics of the agencies given (None: all), `now` in the programme's local time
    zone (it picks the month of the deducted rupiah and the day coverage must have started by).
    catalog_codes: the catalog's agencies, listed even with nothing to count.

    Read from the kept counts (bot.storage.counts: one statement, a few rows per agency, area,
    job and relationship) and the roster (one GROUP BY); the same figures as counting the rows
    (tests/integration/test_counts.py)."""
    month, today = first_of_month(now), now.date().isoformat()
    agency: dict[str, _Tally] = defaultdict(_Tally)
    funders: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    districts: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    villages: dict[tuple[str, str, str], _Tally] = defaultdict(_Tally)
    groups: dict[str, dict[str, _Tally]] = {"j": defaultdict(_Tally), "r": defaultdict(_Tally)}
    deducted: dict[tuple[str, str, str], int] = defaultdict(int)
    for row in counts.read(session, agencies, month):
        kind, code = row[1], row[0]
        if kind == "a":
            agency[code].add(row, today)
            funder = funders[row[_K1]]
            funder[0] += row[_N]
            funder[1] += sum(row[_STATES : _STATES + len(counts.STATES)])
        elif kind == "d":
            districts[(code, row[_K1])].add(row, today)
        elif kind == "v":
            villages[(code, row[_K1], row[_K2])].add(row, today)
        elif kind in groups:
            groups[kind][row[_K1]].add(row, today)
        elif kind == "x":
            deducted[(code, row[_K1], row[_K2])] += row[_DEDUCTED]
    by_agency: dict[str, Counts] = {}
    deducted_by_agency: dict[str, int] = defaultdict(int)
    for (code, _district, _village), amount in deducted.items():
        deducted_by_agency[code] += amount
    for code in set(agency) | set(deducted_by_agency):
        tally = agency.get(code, _Tally())
        by_agency[code] = tally.counts(drafts=True, deducted=deducted_by_agency.get(code, 0))
    roster = _roster_counts(session, agencies)
    listed = [c for c in catalog_codes if agencies is None or c in agencies]
    extra = sorted((set(by_agency) | set(roster)) - set(listed))
    rows = tuple(
        AgencyStatistics(
            agency_code=code,
            counts=by_agency.get(code, Counts()),
            roster=roster.get(code, (0, 0))[0],
            roster_signed_up=roster.get(code, (0, 0))[1],
        )
        for code in [*listed, *extra]
    )
    district_deducted: dict[tuple[str, str], int] = defaultdict(int)
    for (code, district, _village), amount in deducted.items():
        district_deducted[(code, district)] += amount
    return Statistics(
        month=month,
        agencies=rows,
        districts=_areas(
            (key[0], key[1], None, tally, district_deducted.get(key, 0))
            for key, tally in districts.items()
        ),
        villages=_areas(
            (key[0], key[1], key[2], tally, deducted.get(key, 0)) for key, tally in villages.items()
        ),
        catalog_agencies=len(listed),
        funders=_funders(funders),
        jobs=_groups(groups["j"]),
        relationships=_groups(groups["r"]),
    )


def _present(tally: _Tally) -> bool:
    return any(tally.states)


def _areas(
    found: Iterable[tuple[str, str, str | None, _Tally, int]],
) -> tuple[AreaStatistics, ...]:
    """The kecamatan (village None) or desa that hold sponsorships, by agency and name."""
    areas = []
    for code, district, village, tally, amount in found:
        if not _present(tally) or tally.names is None:
            continue
        district_name, village_name = tally.names
        areas.append(
            AreaStatistics(
                agency_code=code,
                district_code=district,
                district_name=district_name,
                village_code=(village or None) if village is not None else None,
                village_name=(village_name or None) if village is not None else None,
                counts=tally.counts(deducted=amount),
            )
        )
    areas.sort(key=lambda a: (a.agency_code, a.district_name, a.village_name or ""))
    return tuple(areas)


def _funders(found: Mapping[str, list[int]]) -> tuple[FunderStatistics, ...]:
    """Sponsors and their sponsorships per funder type with any sponsor, ASN first."""
    result = [
        FunderStatistics(code, sponsors, sponsorships)
        for code, (sponsors, sponsorships) in found.items()
        if sponsors > 0
    ]
    result.sort(key=lambda f: (f.funder_type != "asn", f.funder_type))
    return tuple(result)


def _groups(found: Mapping[str, _Tally]) -> tuple[GroupStatistics, ...]:
    """Sponsorships per job or relationship ("" kept for not recorded: None)."""
    result = [
        GroupStatistics(code or None, tally.counts())
        for code, tally in found.items()
        if _present(tally)
    ]
    result.sort(key=lambda g: (g.code is None, -g.counts.sponsorships, g.code or ""))
    return tuple(result)


def _roster_counts(session: Session, agencies: frozenset[str] | None) -> dict[str, tuple[int, int]]:
    """ASN on the roster per agency, and how many of them signed up (same blind index)."""
    agency = col(RosterEntry.agency_code)
    query = (
        select(agency, func.count(), func.count(col(Sponsor.id)))
        .select_from(RosterEntry)
        .outerjoin(Sponsor, col(Sponsor.nip_index) == col(RosterEntry.nip_index))
        .where(_within(agency, agencies))
        .group_by(agency)
    )
    return {code: (int(total), int(matched)) for code, total, matched in session.execute(query)}


def view_statistics(
    engine: Engine,
    actor: audit.Actor,
    agencies: Iterable[str] | None,
    *,
    now: datetime,
    catalog_codes: Sequence[str],
    action: str = "stats.view",
    detail: str | None = None,
) -> Statistics:
    """Read the statistics within the actor's scope (Scope.restrict of the agencies asked) and
    record the view in the audit log, in one transaction: a view that was read is in the log."""
    allowed = actor.scope.restrict(agencies)
    with Session(immediate(engine)) as session, session.begin():
        statistics = read_statistics(session, allowed, now=now, catalog_codes=catalog_codes)
        audit.record(
            session,
            actor,
            action,
            now,
            detail=detail if detail is not None else _detail(allowed),
            row_count=statistics.row_count,
        )
    return statistics


def _detail(allowed: frozenset[str] | None) -> str:
    return "agencies=*" if allowed is None else "agencies=" + ",".join(sorted(allowed))
