"""/rekap in the chat: the workbook's file name, caption and the summary message under it.

The buttons carry a month and an agency code only (flows.callbacks.recap); whoever presses one
is checked again against their own scope (flows.recap, then the service, in SQL).
"""

from __future__ import annotations

from datetime import date

from bot.exports.deductions import DeductionSummary
from bot.i18n import Renderer
from bot.transport import Outgoing
from flows import callbacks, ledger, recap
from flows.access import Role, Scope
from flows.catalog import Catalog
from flows.text import Raw, Text, t

AGENCY_BUTTONS = 8
"""An operator with at most this many agencies gets a button per agency under the recap."""


def file_name(month: date, scope: Scope, agency: str | None, render: Renderer) -> str:
    """rekap-2026-12-dinkes.xlsx ("semua" for a superadmin's whole scope)."""
    part = scope.file_part(agency, render.plain(t("export.file_everyone")))
    return render.plain(t("export.recap_file", month=recap.month_text(month), scope=part))


def scope_name(scope: Scope, agency: str | None, catalog: Catalog, render: Renderer) -> str:
    codes = [agency] if agency is not None else sorted(scope.agencies)
    if not codes:
        return render.plain(t("rekap.all_agencies"))
    names = []
    for code in codes:
        found = catalog.agency(code)
        names.append(found.name if found else code)
    return ", ".join(names)


def caption(month: date, catalog: Catalog, render: Renderer) -> str:
    """What the workbook lists: the deductions from the regency's salaries or its TPP."""
    return render(t("rekap.caption", month=recap.month_text(month), deducted_from=_cut(catalog)))


def _cut(catalog: Catalog) -> Text:
    return t(f"deducted_from.{catalog.deducted_from}")


def summary(
    result: DeductionSummary,
    month: date,
    scope: Scope,
    agency: str | None,
    catalog: Catalog,
    render: Renderer,
) -> Outgoing:
    """Rows and rupiah of the workbook just sent, with buttons for the months around it and,
    for an operator with a few agencies, for each agency alone; for a treasurer or a superadmin
    (flows.ledger.may_mark) with rows still unmarked, a button marking them deducted."""
    shown = Raw(scope_name(scope, agency, catalog, render))
    month_label = recap.month_text(month)
    if result.rows:
        text = render(
            t(
                "rekap.summary",
                month=month_label,
                scope=shown,
                rows=result.rows,
                total=result.total,
                deducted_from=_cut(catalog),
            )
        )
    else:
        text = render(t("rekap.empty", month=month_label, scope=shown, deducted_from=_cut(catalog)))
    before, after = recap.previous_month(month), recap.next_month(month)
    rows: list[tuple[tuple[str, str], ...]] = [
        (
            (
                render.plain(t("rekap.button_previous", month=recap.month_text(before))),
                _data(callbacks.recap(recap.month_text(before), agency)),
            ),
            (
                render.plain(t("rekap.button_next", month=recap.month_text(after))),
                _data(callbacks.recap(recap.month_text(after), agency)),
            ),
        )
    ]
    several = scope.role is Role.OPERATOR and 1 < len(scope.agencies) <= AGENCY_BUTTONS
    if agency is None and several:
        for code in sorted(scope.agencies):
            found = catalog.agency(code)
            label = render.plain(t("rekap.button_agency", agency=found.name if found else code))
            rows.append(((label, _data(callbacks.recap(month_label, code))),))
    if result.unmarked and ledger.may_mark(scope):
        mark = callbacks.ledger_mark(month_label, agency, result.unmarked)
        rows.append(((render.plain(t("rekap.button_mark")), _data(mark)),))
    return Outgoing(text=text, inline_keyboard=tuple(rows))


def _data(value: str) -> str:
    return callbacks.encode(callbacks.TIMELESS, value)
