"""The statistics counted from the rows, as bot.storage.statistics read them before the kept
counts (issue 13): the reference tests/integration/test_counts.py compares the kept counts with.
Slow at scale on purpose (every read visits every sponsorship of the agencies read)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from bot.storage.models import Deduction, RosterEntry, Sponsor, Sponsorship
from bot.storage.statistics import (
    GROUP_OF_STATUS,
    STATE_GROUPS,
    AgencyStatistics,
    AreaStatistics,
    Counts,
    FunderStatistics,
    GroupStatistics,
    Statistics,
    first_of_month,
)
from flows.statuses import SponsorshipStatus


def _within(column: Any, agencies: frozenset[str] | None) -> ColumnElement[bool]:
    """The scope filter: every agency (None), or those given (none at all: nothing matches)."""
    if agencies is None:
        return col(column).is_not(None)
    return col(column).in_(sorted(agencies))


def _state_columns() -> list[Any]:
    """One SUM per state group over sponsorships.status (drafts are counted apart)."""
    columns = []
    for group in STATE_GROUPS:
        statuses = [s.value for s, g in GROUP_OF_STATUS.items() if g == group]
        if statuses:
            hit = case((col(Sponsorship.status).in_(statuses), 1), else_=0)
            columns.append(func.coalesce(func.sum(hit), 0).label(group))
    return columns


def _covered_column(today: date) -> Any:
    covered = and_(
        col(Sponsorship.status) == SponsorshipStatus.ACTIVE.value,
        col(Sponsorship.coverage_start).is_not(None),
        col(Sponsorship.coverage_start) <= today,
    )
    return func.coalesce(func.sum(case((covered, 1), else_=0)), 0).label("covered")


def _states_of(row: Any, drafts: int = 0) -> dict[str, int]:
    states = dict.fromkeys(STATE_GROUPS, 0)
    for group in STATE_GROUPS:
        if group == "draft":
            states[group] = drafts
        else:
            states[group] = int(getattr(row, group) or 0)
    return states


def read_statistics(
    session: Session,
    agencies: frozenset[str] | None,
    *,
    now: datetime,
    catalog_codes: Sequence[str],
) -> Statistics:
    """The statistics of the agencies given (None: all), `now` in the programme's local time
    zone (it picks the month of the deducted rupiah and the day coverage must have started by).
    catalog_codes: the catalog's agencies, listed even with nothing to count."""
    month, today = first_of_month(now), now.date()
    by_agency = _agency_counts(session, agencies, month, today)
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
    return Statistics(
        month=month,
        agencies=rows,
        districts=_area_counts(session, agencies, month, today, villages=False),
        villages=_area_counts(session, agencies, month, today, villages=True),
        catalog_agencies=len(listed),
        funders=_funder_counts(session, agencies),
        jobs=_group_counts(session, agencies, today, col(Sponsorship.worker_job)),
        relationships=_group_counts(session, agencies, today, col(Sponsorship.worker_relationship)),
    )


def _funder_counts(
    session: Session, agencies: frozenset[str] | None
) -> tuple[FunderStatistics, ...]:
    """Sponsors and their sponsorships per funder type, within the agencies given."""
    funder = col(Sponsor.funder_type)
    rows = session.execute(
        select(
            funder,
            func.count(func.distinct(col(Sponsor.id))),
            func.count(col(Sponsorship.id)),
        )
        .select_from(Sponsor)
        .outerjoin(Sponsorship, col(Sponsorship.sponsor_id) == col(Sponsor.id))
        .where(_within(col(Sponsor.agency_code), agencies))
        .group_by(funder)
    ).all()
    found = [FunderStatistics(str(code), int(sponsors), int(n)) for code, sponsors, n in rows]
    found.sort(key=lambda f: (f.funder_type != "asn", f.funder_type))
    return tuple(found)


def _group_counts(
    session: Session, agencies: frozenset[str] | None, today: date, column: Any
) -> tuple[GroupStatistics, ...]:
    """Sponsorships per value of `column` (the job, the relationship), in one GROUP BY."""
    agency = col(Sponsor.agency_code)
    rows = session.execute(
        select(
            column.label("code"),
            func.count(func.distinct(col(Sponsorship.sponsor_id))).label("signed_up"),
            *_state_columns(),
            _covered_column(today),
        )
        .select_from(Sponsorship)
        .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
        .where(_within(agency, agencies))
        .group_by(column)
    ).all()
    groups = [
        GroupStatistics(
            row.code,
            Counts(signed_up=int(row.signed_up), states=_states_of(row), covered=int(row.covered)),
        )
        for row in rows
    ]
    groups.sort(key=lambda g: (g.code is None, -g.counts.sponsorships, g.code or ""))
    return tuple(groups)


def _agency_counts(
    session: Session, agencies: frozenset[str] | None, month: date, today: date
) -> dict[str, Counts]:
    agency = col(Sponsor.agency_code)
    signed_up = dict(
        session.execute(
            select(agency, func.count()).where(_within(agency, agencies)).group_by(agency)
        ).all()
    )
    no_sponsorship = ~exists().where(col(Sponsorship.sponsor_id) == col(Sponsor.id))
    drafts = dict(
        session.execute(
            select(agency, func.count())
            .where(_within(agency, agencies), no_sponsorship)
            .group_by(agency)
        ).all()
    )
    states = {
        row.agency_code: row
        for row in session.execute(
            select(agency, *_state_columns(), _covered_column(today))
            .select_from(Sponsorship)
            .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
            .where(_within(agency, agencies))
            .group_by(agency)
        )
    }
    deducted_agency = col(Deduction.agency_code)
    deducted = dict(
        session.execute(
            select(deducted_agency, func.sum(col(Deduction.amount)))
            .where(
                _within(deducted_agency, agencies),
                col(Deduction.month) == month,
                col(Deduction.deducted_at).is_not(None),
            )
            .group_by(deducted_agency)
        ).all()
    )
    result: dict[str, Counts] = {}
    for code in set(signed_up) | set(states) | set(deducted):
        row = states.get(code)
        result[code] = Counts(
            signed_up=int(signed_up.get(code, 0)),
            states=_states_of(row, int(drafts.get(code, 0)))
            if row is not None
            else {**dict.fromkeys(STATE_GROUPS, 0), "draft": int(drafts.get(code, 0))},
            covered=int(row.covered) if row is not None else 0,
            deducted=int(deducted.get(code, 0) or 0),
        )
    return result


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


def _area_counts(
    session: Session,
    agencies: frozenset[str] | None,
    month: date,
    today: date,
    *,
    villages: bool,
) -> tuple[AreaStatistics, ...]:
    """Per kecamatan (villages False) or per desa of the workers, within each agency."""
    agency = col(Sponsor.agency_code)
    keys: list[Any] = [
        agency,
        col(Sponsorship.district_code),
        func.max(col(Sponsorship.district_name)).label("district_name"),
    ]
    groups: list[Any] = [agency, col(Sponsorship.district_code)]
    if villages:
        keys += [
            col(Sponsorship.village_code),
            func.max(col(Sponsorship.village_name)).label("village_name"),
        ]
        groups.append(col(Sponsorship.village_code))
    rows = session.execute(
        select(
            *keys,
            func.count(func.distinct(col(Sponsorship.sponsor_id))).label("signed_up"),
            *_state_columns(),
            _covered_column(today),
        )
        .select_from(Sponsorship)
        .join(Sponsor, col(Sponsor.id) == col(Sponsorship.sponsor_id))
        .where(_within(agency, agencies))
        .group_by(*groups)
    ).all()
    deducted_agency = col(Deduction.agency_code)
    deducted_groups: list[Any] = [deducted_agency, col(Sponsorship.district_code)]
    if villages:
        deducted_groups.append(col(Sponsorship.village_code))
    deducted = {
        tuple(row[:-1]): int(row[-1] or 0)
        for row in session.execute(
            select(*deducted_groups, func.sum(col(Deduction.amount)))
            .select_from(Deduction)
            .join(Sponsorship, col(Sponsorship.id) == col(Deduction.sponsorship_id))
            .where(
                _within(deducted_agency, agencies),
                col(Deduction.month) == month,
                col(Deduction.deducted_at).is_not(None),
            )
            .group_by(*deducted_groups)
        ).all()
    }
    areas = []
    for row in rows:
        key = (row.agency_code, row.district_code) + ((row.village_code,) if villages else ())
        areas.append(
            AreaStatistics(
                agency_code=row.agency_code,
                district_code=row.district_code,
                district_name=row.district_name,
                village_code=row.village_code if villages else None,
                village_name=row.village_name if villages else None,
                counts=Counts(
                    signed_up=int(row.signed_up),
                    states=_states_of(row),
                    covered=int(row.covered),
                    deducted=deducted.get(key, 0),
                ),
            )
        )
    areas.sort(key=lambda a: (a.agency_code, a.district_name, a.village_name or ""))
    return tuple(areas)
