"""/rekap: the treasurers' deduction workbook in the chat, for a treasurer, an operator or a
superadmin, within their scope.

    /rekap                    the default month (below), the whole scope
    /rekap 2026-12            that month
    /rekap 2026-12 CODE       one agency of the scope (an operator with several)

Buttons under the recap (another month, one agency) carry a month and an agency code, never a
scope: a press is checked here against the presser's scope, and the host reads the scope again
and filters the rows by it in SQL. Anyone without a scope gets what an unknown command gets.
"""

from __future__ import annotations

from datetime import date, datetime

from flows import callbacks
from flows.access import Scope
from flows.catalog import Catalog
from flows.effects import Button, Effect, Message, SendDeductionRecap, Toast
from flows.ledger import may_mark
from flows.text import Text, t
from flows.validators import normalize_digits, parse_int

UNMARKED_DIGITS = 7  # rows of one month: far below 10**7

PAYROLL_CUTOFF_DAY = 20
"""After this day of the month the default recap is next month's: treasurers prepare the payroll
before the month starts (issue 8), so in the last third of a month the list they need is the
next one; before it, they are still settling this month's."""
FIRST_YEAR, LAST_YEAR = 2020, 2100


def default_month(now: datetime) -> date:
    """The month /rekap shows when none is given, from the programme's local time."""
    month = date(now.year, now.month, 1)
    return next_month(month) if now.day > PAYROLL_CUTOFF_DAY else month


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def parse_month(text: str) -> date | None:
    """ "2026-12" -> date(2026, 12, 1); None for anything else (digits of any script read as
    ASCII)."""
    year, dash, month = normalize_digits(text).strip().partition("-")
    if not dash or not (year.isascii() and year.isdigit() and len(year) == 4):
        return None
    if not (month.isascii() and month.isdigit() and 1 <= len(month) <= 2):
        return None
    if not FIRST_YEAR <= int(year) <= LAST_YEAR or not 1 <= int(month) <= 12:
        return None
    return date(int(year), int(month), 1)


def month_text(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def requested(scope: Scope, month: date, agency: str | None, transfers: bool = False) -> Effect:
    """The recap (of the deductions, or of the transfers of sponsors without a NIP), or a
    refusal when the agency is outside the scope."""
    if agency is not None and not scope.covers(agency):
        return Message(t("rekap.refused"))
    return SendDeductionRecap(month_text(month), agency, transfers=transfers)


def command(argument: str, scope: Scope, now: datetime) -> Effect:
    """/rekap [YYYY-MM [CODE]] by a member of staff."""
    parts = argument.split()
    if len(parts) > 2:
        return Message(t("rekap.usage"))
    month = default_month(now) if not parts else parse_month(parts[0])
    if month is None:
        return Message(t("rekap.usage"))
    return requested(scope, month, parts[1] if len(parts) == 2 else None)


def pressed(argument: str, scope: Scope | None, transfers: bool = False) -> Effect:
    """A button under a recap ("YYYY-MM" or "YYYY-MM:CODE"); forged or mangled data, or a
    presser without a scope, gets the stale-button notice and nothing else."""
    if scope is None:
        return Toast(t("toast.stale"))
    month_part, _, agency = argument.partition(":")
    month = parse_month(month_part)
    if month is None:
        return Toast(t("toast.stale"))
    return requested(scope, month, agency or None, transfers)


def mark_target(argument: str, with_count: bool) -> tuple[date, int, str | None] | None:
    """(month, count, agency) of a mark button's data ("YYYY-MM[:N][:CODE]"); None when mangled.
    count is 0 when the data carry none."""
    parts = argument.split(":")
    month = parse_month(parts[0]) if parts else None
    count = 0
    rest = parts[1:]
    if with_count:
        found = parse_int(rest[0], max_digits=UNMARKED_DIGITS) if rest else None
        if found is None:
            return None
        count, rest = found, rest[1:]
    if month is None or len(rest) > 1 or (rest and not rest[0]):
        return None
    return month, count, rest[0] if rest else None


def mark_question(
    argument: str, scope: Scope | None, catalog: Catalog, transfers: bool = False
) -> Effect:
    """The button "mark as deducted" under a recap (under the transfers: "mark as paid"): asks to
    confirm, naming the rows, the month and the agency. Only a treasurer or a superadmin, within
    their scope (flows.ledger.may_mark); anyone else (a forged press) is refused and nothing is
    asked."""
    target = mark_target(argument, with_count=True)
    if target is None or scope is None:
        return Toast(t("toast.stale"))
    month, count, agency = target
    if not may_mark(scope) or (agency is not None and not scope.covers(agency)):
        return Toast(t("toast.not_allowed"))
    shown = month_text(month)
    buttons = (
        (
            Button(
                t("ledger_mark.confirm"),
                callbacks.ledger_mark_confirmed(shown, agency, transfers=transfers),
            ),
            Button(
                t("ledger_mark.cancel"), callbacks.ledger_mark_cancelled(shown, transfers=transfers)
            ),
        ),
    )
    question = t(
        "funder2.transfer_mark_question" if transfers else "ledger_mark.question",
        rows=count,
        month=shown,
        agency=agencies_named(scope, agency, catalog),
    )
    return Message(question, buttons=buttons)


def agencies_named(scope: Scope, agency: str | None, catalog: Catalog) -> Text | str:
    """The agency a mark is for: the one shown, the scope's, or "every agency"."""
    codes = [agency] if agency is not None else sorted(scope.agencies)
    if not codes:
        return t("rekap.all_agencies")
    names = []
    for code in codes:
        found = catalog.agency(code)
        names.append(found.name if found else code)
    return ", ".join(names)
