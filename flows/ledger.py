"""The monthly ledger's rules: which months a sponsorship owes, when it lapses, and how far its
contributions count toward the children's scholarship. Pure: storage gathers the facts
(bot.storage.ledger) and applies the answers.

A month is a `date` on the 1st. A sponsorship owes a month (the treasurer cuts the sponsor's
salary for it) when BOTH hold in that month:
- the sponsor's consent to the salary deduction is in force: from the first month named in the
  consent (Consent.first_month of the latest "given" salary_deduction record) up to the month
  before a withdrawal takes effect (the withdrawal's first month is no longer deducted);
- the worker is covered: the worker's own consent was given (never declined; a withdrawal by the
  worker ends it from its effective month, like the sponsor's), and BPJS coverage started in that
  month or earlier (the month of Sponsorship.coverage_start).
A lapsed sponsorship owes nothing more: its membership ended for unpaid contributions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final

from flows.access import Role, Scope

SCHOLARSHIP_MONTHS: Final = 36
"""Three years of contributions open the children's scholarship (PP 82/2019; domain.md)."""
LAPSE_MONTHS: Final = 2
"""Consecutive unmarked months after which a sponsorship lapses."""


def month_of(day: date) -> date:
    """The month a day falls in: its 1st."""
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    """The month `count` months after (before, when negative) `month`'s month."""
    index = month.year * 12 + (month.month - 1) + count
    return date(index // 12, index % 12 + 1, 1)


MARKERS: Final = frozenset({Role.TREASURER, Role.SUPERADMIN})
"""Who may mark a month as deducted from the chat. The treasurer cuts the salaries, so the mark is
their statement that the money was cut; a superadmin may record it for them (they can already with
`peduli ledger mark`, e.g. for an agency with no treasurer in the bot). An operator (the regency's
programme office) sees and counts their agencies but never runs a payroll: a mark of theirs would
state what they cannot know, and a wrong mark hides a lapse."""


def may_mark(scope: Scope | None) -> bool:
    """Whether this member of staff may mark their scope's rows as deducted."""
    return scope is not None and scope.role in MARKERS


@dataclass(frozen=True)
class AgencyScope:
    """The sponsors one round of the ledger's upkeep covers, by their agency now: `only` these
    (None: every agency) less `excluding`. A deployment spanning zones runs one round per zone,
    so each regency's month opens (and lapses) at its own local midnight."""

    only: frozenset[str] | None = None
    excluding: frozenset[str] = frozenset()

    def covers(self, agency_code: str) -> bool:
        return (self.only is None or agency_code in self.only) and agency_code not in self.excluding


EVERY_AGENCY: Final = AgencyScope()


def check_month(month: date) -> date:
    """month itself when it is a month (a 1st); ValueError otherwise (a bug in the caller)."""
    if month.day != 1:
        raise ValueError(f"a month is the 1st of that month, not {month.isoformat()}")
    return month


@dataclass(frozen=True)
class LedgerFacts:
    """What decides the months a sponsorship owes, as recorded.

    deduction_from: first_month of the latest given salary_deduction consent (None: never given).
    deduction_until: the first month NOT deducted after the sponsor withdrew (None: in force).
    worker_consented: the worker's latest own consent record is "given" or "withdrawn" after a
    given one; False when they never agreed or declined.
    worker_until: the first month not covered after the worker withdrew (None: not withdrawn).
    coverage_start: the date BPJS coverage started (None: not registered).
    lapsed: the sponsorship lapsed for unpaid contributions.
    """

    deduction_from: date | None
    deduction_until: date | None
    worker_consented: bool
    worker_until: date | None
    coverage_start: date | None
    lapsed: bool = False


def owed_from(facts: LedgerFacts) -> date | None:
    """The first month owed, or None when no month ever is."""
    if facts.lapsed or facts.deduction_from is None or not facts.worker_consented:
        return None
    if facts.coverage_start is None:
        return None
    first = max(month_of(facts.deduction_from), month_of(facts.coverage_start))
    end = owed_until(facts)
    if end is not None and first >= end:
        return None
    return first


def owed_until(facts: LedgerFacts) -> date | None:
    """The first month no longer owed (exclusive end), or None while open-ended."""
    ends = [month_of(m) for m in (facts.deduction_until, facts.worker_until) if m is not None]
    return min(ends) if ends else None


def owes(facts: LedgerFacts, month: date) -> bool:
    """Whether the sponsor's salary is cut for the worker in this month."""
    check_month(month)
    first = owed_from(facts)
    if first is None or month < first:
        return False
    end = owed_until(facts)
    return end is None or month < end


def owed_months(facts: LedgerFacts, through: date) -> Iterator[date]:
    """Every month owed up to and including `through`, oldest first."""
    first = owed_from(facts)
    if first is None:
        return
    month = first
    while month <= through and owes(facts, month):
        yield month
        month = add_months(month, 1)


def lapse_window(current_month: date) -> tuple[date, ...]:
    """The months the lapse rule looks at: the LAPSE_MONTHS months before the current one,
    most recent first (the current month's deduction may still be ahead)."""
    check_month(current_month)
    return tuple(add_months(current_month, -count) for count in range(1, LAPSE_MONTHS + 1))


def is_overdue(marked_by_month: Mapping[date, bool], current_month: date) -> bool:
    """The lapse rule. marked_by_month: the sponsorship's ledger rows, month -> marked deducted.

    Overdue when each of the LAPSE_MONTHS months before the current local month has a row and
    none of them is marked: two months owed and no deduction recorded for either. A month
    without a row was not owed (no consent or no coverage yet), so it never counts against the
    sponsor; the current month never counts either (its payday may still be ahead)."""
    window = lapse_window(current_month)
    return all(month in marked_by_month for month in window) and not any(
        marked_by_month[month] for month in window
    )


@dataclass(frozen=True)
class ScholarshipProgress:
    """Months whose deduction was recorded, toward SCHOLARSHIP_MONTHS."""

    counted: int
    required: int = SCHOLARSHIP_MONTHS

    @property
    def reached(self) -> bool:
        return self.counted >= self.required

    @property
    def remaining(self) -> int:
        return max(0, self.required - self.counted)


def scholarship_progress(marked_months: int) -> ScholarshipProgress:
    """Contributions counted toward the children's scholarship: every month the treasurer marked
    as deducted. Months owed but not marked do not count (the contribution may not have been
    paid)."""
    if marked_months < 0:
        raise ValueError("a count of months cannot be negative")
    return ScholarshipProgress(counted=marked_months)
