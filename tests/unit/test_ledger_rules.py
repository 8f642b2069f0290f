"""flows.ledger: which months a sponsorship owes, the lapse rule, the scholarship count."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.formatting import first_of_next_month
from flows.ledger import (
    LAPSE_MONTHS,
    SCHOLARSHIP_MONTHS,
    LedgerFacts,
    add_months,
    check_month,
    is_overdue,
    lapse_window,
    month_of,
    owed_from,
    owed_months,
    owes,
    scholarship_progress,
)

NOV, DEC, JAN, FEB, MAR = (
    date(2026, 11, 1),
    date(2026, 12, 1),
    date(2027, 1, 1),
    date(2027, 2, 1),
    date(2027, 3, 1),
)


def facts(**changes: object) -> LedgerFacts:
    values: dict[str, object] = {
        # Consent given in November: the flow names the next month as the first deducted.
        "deduction_from": first_of_next_month(date(2026, 11, 20)),
        "deduction_until": None,
        "worker_consented": True,
        "worker_until": None,
        "coverage_start": date(2026, 11, 29),
    }
    values.update(changes)
    return LedgerFacts(**values)  # type: ignore[arg-type]


months = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)).map(month_of)


def test_consent_in_november_coverage_from_29_november_first_deduction_december() -> None:
    assert owed_from(facts()) == DEC
    assert not owes(facts(), NOV)
    assert owes(facts(), DEC) and owes(facts(), JAN)
    assert list(owed_months(facts(), FEB)) == [DEC, JAN, FEB]


def test_coverage_later_than_the_consent_starts_with_the_coverage_month() -> None:
    later = facts(coverage_start=date(2027, 1, 15))
    assert owed_from(later) == JAN
    assert not owes(later, DEC)


@pytest.mark.parametrize(
    "change",
    [
        {"worker_consented": False},  # never agreed, or declined
        {"coverage_start": None},  # never registered with BPJS
        {"deduction_from": None},  # the sponsor never consented to the deduction
        {"lapsed": True},
    ],
)
def test_nothing_is_owed_without_every_condition(change: dict[str, object]) -> None:
    gone = facts(**change)
    assert owed_from(gone) is None
    assert not any(owes(gone, add_months(NOV, n)) for n in range(24))


def test_a_withdrawal_in_january_ends_the_deductions_from_february() -> None:
    # The withdrawal flow's effective month: the month after the one it happens in.
    withdrawn = facts(deduction_until=first_of_next_month(date(2027, 1, 20)))
    assert owes(withdrawn, JAN)
    assert not owes(withdrawn, FEB) and not owes(withdrawn, MAR)
    assert list(owed_months(withdrawn, date(2028, 1, 1))) == [DEC, JAN]


def test_the_worker_withdrawing_ends_the_deductions_too() -> None:
    withdrawn = facts(worker_until=FEB)
    assert owes(withdrawn, JAN) and not owes(withdrawn, FEB)


def test_a_withdrawal_before_the_first_month_leaves_nothing_owed() -> None:
    assert owed_from(facts(deduction_until=DEC)) is None


def test_a_month_is_a_first_day() -> None:
    assert check_month(DEC) == DEC
    with pytest.raises(ValueError):
        check_month(date(2026, 12, 2))
    with pytest.raises(ValueError):
        owes(facts(), date(2026, 12, 15))


@given(months, st.integers(min_value=-400, max_value=400))
def test_add_months_round_trips(month: date, count: int) -> None:
    later = add_months(month, count)
    assert later.day == 1
    assert add_months(later, -count) == month
    assert (later.year - month.year) * 12 + later.month - month.month == count


@given(
    start=months,
    coverage=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
    until=st.one_of(st.none(), months),
    worker_until=st.one_of(st.none(), months),
    month=months,
)
def test_owes_is_exactly_both_conditions(
    start: date, coverage: date, until: date | None, worker_until: date | None, month: date
) -> None:
    """A month is owed iff the deduction consent is in force and the worker is covered."""
    case = facts(
        deduction_from=start,
        deduction_until=until,
        coverage_start=coverage,
        worker_until=worker_until,
    )
    consent_in_force = start <= month and (until is None or month < until)
    covered = month_of(coverage) <= month and (worker_until is None or month < worker_until)
    assert owes(case, month) == (consent_in_force and covered)


@given(start=months, coverage=months, length=st.integers(min_value=0, max_value=60))
def test_owed_months_are_consecutive_from_the_first(
    start: date, coverage: date, length: int
) -> None:
    until = add_months(max(start, coverage), length)
    case = facts(deduction_from=start, coverage_start=coverage, deduction_until=until)
    listed = list(owed_months(case, date(2045, 1, 1)))
    assert len(listed) == length
    assert all(add_months(a, 1) == b for a, b in itertools.pairwise(listed))


# ---- the lapse rule ----------------------------------------------------------------------------


def test_the_window_is_the_two_months_before_the_current_one() -> None:
    assert LAPSE_MONTHS == 2
    assert lapse_window(MAR) == (FEB, JAN)


def test_two_months_unmarked_are_overdue() -> None:
    assert is_overdue({JAN: False, FEB: False}, MAR)
    assert is_overdue({DEC: True, JAN: False, FEB: False, MAR: False}, MAR)


@pytest.mark.parametrize(
    "rows",
    [
        {JAN: True, FEB: False},  # one of them marked
        {JAN: False, FEB: True},
        {FEB: False},  # only one month owed so far
        {JAN: False},
        {},
        {FEB: False, MAR: False},  # the current month never counts: payday may be ahead
    ],
)
def test_not_overdue(rows: dict[date, bool]) -> None:
    assert not is_overdue(rows, MAR)


@given(st.dictionaries(months, st.booleans(), max_size=8), months)
def test_overdue_exactly_when_the_window_has_rows_none_marked(
    rows: dict[date, bool], current: date
) -> None:
    window = [add_months(current, -1), add_months(current, -2)]
    expected = all(m in rows and not rows[m] for m in window)
    assert is_overdue(rows, current) == expected


# ---- the scholarship count ---------------------------------------------------------------------


def test_scholarship_opens_after_36_marked_months() -> None:
    assert SCHOLARSHIP_MONTHS == 36
    assert not scholarship_progress(35).reached
    assert scholarship_progress(35).remaining == 1
    assert scholarship_progress(36).reached
    assert scholarship_progress(40).remaining == 0
    assert scholarship_progress(0).counted == 0
    with pytest.raises(ValueError):
        scholarship_progress(-1)
