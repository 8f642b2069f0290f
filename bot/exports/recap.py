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
    *,
    transfers: bool = False,
) -> Outgoing:
    """Rows and rupiah of the workbook just sent, with buttons for the months around it and,
    for an operator with a few agencies, for each agency alone; for a treasurer or a superadmin
    (flows.ledger.may_mark) with rows still unmarked, a button marking them deducted. When the
    programme has sponsors without a NIP (issue 12), a button for the month's transfers, whose
    own summary (transfers=True) has the same buttons, marks them paid and leads back."""
    shown = Raw(scope_name(scope, agency, catalog, render))
    month_label = recap.month_text(month)
    keys = (
        ("funder2.transfer_summary", "funder2.transfer_empty", "funder2.button_transfer_mark")
        if transfers
        else ("rekap.summary", "rekap.empty", "rekap.button_mark")
    )
    if result.rows:
        text = render(
            t(
                keys[0],
                month=month_label,
                scope=shown,
                rows=result.rows,
                total=result.total,
                deducted_from=_cut(catalog),
            )
        )
    else:
        text = render(t(keys[1], month=month_label, scope=shown, deducted_from=_cut(catalog)))
    before, after = recap.previous_month(month), recap.next_month(month)
    rows: list[tuple[tuple[str, str], ...]] = [
        (
            (
                render.plain(t("rekap.button_previous", month=recap.month_text(before))),
                _data(callbacks.recap(recap.month_text(before), agency, transfers=transfers)),
            ),
            (
                render.plain(t("rekap.button_next", month=recap.month_text(after))),
                _data(callbacks.recap(recap.month_text(after), agency, transfers=transfers)),
            ),
        )
    ]
    several = scope.role is Role.OPERATOR and 1 < len(scope.agencies) <= AGENCY_BUTTONS
    if agency is None and several:
        for code in sorted(scope.agencies):
            found = catalog.agency(code)
            label = render.plain(t("rekap.button_agency", agency=found.name if found else code))
            rows.append(((label, _data(callbacks.recap(month_label, code, transfers=transfers))),))
    if result.unmarked and ledger.may_mark(scope):
        mark = callbacks.ledger_mark(month_label, agency, result.unmarked, transfers=transfers)
        rows.append(((render.plain(t(keys[2])), _data(mark)),))
    if transfers or catalog.regencies_with_other_funders:
        other = "funder2.button_deductions" if transfers else "funder2.button_transfers"
        label = render.plain(t(other, month=month_label))
        back = callbacks.recap(month_label, agency, transfers=not transfers)
        rows.append(((label, _data(back)),))
    return Outgoing(text=text, inline_keyboard=tuple(rows))


def transfer_file_name(month: date, scope: Scope, agency: str | None, render: Renderer) -> str:
    """transfer-2026-12-dpmd.csv ("semua" for a superadmin's whole scope)."""
    part = scope.file_part(agency, render.plain(t("export.file_everyone")))
    return render.plain(t("funder2.transfer_file", month=recap.month_text(month), scope=part))


def _data(value: str) -> str:
    return callbacks.encode(callbacks.TIMELESS, value)
