"""The statistics as an XLSX workbook (XlsxWriter): a summary sheet with the regency's figures
and the chart, a sheet per agency row, a sheet per kecamatan/desa row, a sheet per job and one
per relationship to the sponsor.

The chart is a native XlsxWriter chart (stacked bars per agency, one series per state group)
rather than the matplotlib PNG inserted as an image: it draws from the workbook's own cells, so
it stays true to them if someone filters or corrects a figure; it is sharp at any zoom and prints
well; and the export does not load matplotlib. It shows the same figures, laid out like the image
the chat sends. Text cells are written with write_string: a name beginning with "=" is never run
as a formula.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from bot.i18n import Renderer
from bot.statistics_render.figures import (
    FIGURES,
    GROUP_FIGURES,
    agency_rows,
    area_rows,
    column_key,
    group_figures,
    percent,
)
from bot.storage.statistics import STATE_GROUPS, GroupStatistics, Statistics
from flows.catalog import Catalog
from flows.formatting import month_year
from flows.text import t

AGENCY_SHEET = 0  # indexes of the sheets, in order
CHART_COLOURS = ("#999999", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7")


def write_workbook(
    stats: Statistics, catalog: Catalog, render: Renderer, target: Path | IO[bytes]
) -> None:
    import xlsxwriter  # type: ignore[import-untyped]

    def label(key: str, **params: Any) -> str:
        return render.plain(t(key, **params))

    destination = str(target) if isinstance(target, Path) else target
    workbook = xlsxwriter.Workbook(destination, {"in_memory": True})
    try:
        bold = workbook.add_format({"bold": True})
        rupiah = workbook.add_format({"num_format": "#,##0"})
        share = workbook.add_format({"num_format": "0.0%"})
        summary = workbook.add_worksheet(label("stats.sheet.summary"))
        agencies = workbook.add_worksheet(label("stats.sheet.agencies"))
        areas = workbook.add_worksheet(label("stats.sheet.areas"))
        # Per job and per relationship to the sponsor (issue 12): a sheet each, after the areas.
        groups: list[tuple[Any, tuple[GroupStatistics, ...], Callable[[str | None], Any]]] = [
            (workbook.add_worksheet(label("job.sheet")), stats.jobs, catalog.job_label),
            (
                workbook.add_worksheet(label("relationship.sheet")),
                stats.relationships,
                catalog.relationship_label,
            ),
        ]

        summary.set_column(0, 0, 42)
        summary.set_column(1, 1, 14)
        summary.write_string(0, 0, label("stats.xlsx_title", month=month_year(stats.month)), bold)
        facts: list[tuple[str, int | float | None, Any]] = [
            (label(column_key("agencies_taking_part", stats)), stats.agencies_taking_part, None),
            (label("stats.col.agencies_in_catalog"), stats.catalog_agencies, None),
            (label(column_key("signed_up", stats)), stats.signed_up, None),
            (label("stats.col.roster"), stats.roster, None),
            (label("stats.col.roster_signed_up"), stats.roster_signed_up, None),
            (label("stats.col.participation"), stats.participation, share),
            (label(column_key("deducted", stats)), stats.total.deducted, rupiah),
        ]
        for line, (name, value, cell_format) in enumerate(facts, start=2):
            summary.write_string(line, 0, name)
            if value is None:
                summary.write_string(line, 1, percent(None, render.language))
            else:
                summary.write_number(line, 1, value, cell_format)

        headers = [
            label("stats.col.agency_code"),
            label("stats.col.agency"),
            *(label(column_key(f, stats)) for f in FIGURES),
            label("stats.col.roster"),
            label("stats.col.roster_signed_up"),
            label("stats.col.participation"),
        ]
        agencies.set_column(0, 0, 16)
        agencies.set_column(1, 1, 38)
        agencies.set_column(2, len(headers), 12)
        for column, header in enumerate(headers):
            agencies.write_string(0, column, header, bold)
        agency_list = list(agency_rows(stats, catalog))
        for index, row in enumerate(agency_list, start=1):
            agencies.write_string(index, 0, row.agency_code)
            agencies.write_string(index, 1, row.agency_name)
            for offset, figure in enumerate(FIGURES, start=2):
                fmt = rupiah if figure == "deducted" else None
                agencies.write_number(index, offset, row.figures[figure], fmt)
            base = 2 + len(FIGURES)
            agencies.write_number(index, base, row.roster or 0)
            agencies.write_number(index, base + 1, row.roster_signed_up or 0)
            if row.participation is None:
                agencies.write_string(index, base + 2, percent(None, render.language))
            else:
                agencies.write_number(index, base + 2, row.participation, share)
        agencies.freeze_panes(1, 2)

        area_headers = [
            label("stats.col.agency"),
            label("stats.col.district"),
            label("stats.col.village"),
            *(label(column_key(f, stats)) for f in FIGURES),
        ]
        areas.set_column(0, 2, 28)
        for column, header in enumerate(area_headers):
            areas.write_string(0, column, header, bold)
        for index, row in enumerate(area_rows(stats, catalog), start=1):
            areas.write_string(index, 0, row.agency_name)
            areas.write_string(index, 1, row.district_name or "")
            village = (
                "" if row.level == "district" else (row.village_name or label("stats.no_village"))
            )
            areas.write_string(index, 2, village)
            for offset, figure in enumerate(FIGURES, start=3):
                fmt = rupiah if figure == "deducted" else None
                areas.write_number(index, offset, row.figures[figure], fmt)
        areas.freeze_panes(1, 0)

        group_headers = [
            label("job.col_name"),
            label("job.col_code"),
            *(label(column_key(f, stats)) for f in GROUP_FIGURES),
        ]
        for sheet_of_group, rows_of_group, name_of in groups:
            sheet_of_group.set_column(0, 0, 34)
            sheet_of_group.set_column(1, len(group_headers), 12)
            for column, header in enumerate(group_headers):
                sheet_of_group.write_string(0, column, header, bold)
            for index, member in enumerate(rows_of_group, start=1):
                sheet_of_group.write_string(index, 0, render.plain(name_of(member.code)))
                sheet_of_group.write_string(index, 1, member.code or "")
                for offset, value in enumerate(group_figures(member).values(), start=2):
                    sheet_of_group.write_number(index, offset, value)
            sheet_of_group.freeze_panes(1, 0)

        if agency_list:
            chart = workbook.add_chart({"type": "bar", "subtype": "stacked"})
            sheet = agencies.get_name()
            last = len(agency_list)
            for number, group in enumerate(STATE_GROUPS):
                column = 2 + FIGURES.index(group)
                chart.add_series(
                    {
                        "name": [sheet, 0, column],
                        "categories": [sheet, 1, 1, last, 1],
                        "values": [sheet, 1, column, last, column],
                        "fill": {"color": CHART_COLOURS[number % len(CHART_COLOURS)]},
                    }
                )
            chart.set_title({"name": label("stats.chart_title_agencies")})
            chart.set_y_axis({"reverse": True})
            chart.set_legend({"position": "bottom"})
            chart.set_size({"width": 760, "height": max(320, 60 + 22 * last)})
            summary.insert_chart(2, 3, chart)
    finally:
        workbook.close()
