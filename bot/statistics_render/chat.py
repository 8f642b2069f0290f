"""/statistik in the chat: the summary over the reader's agencies and one agency per kecamatan
and desa. Wording in locales/ (stats.*); the buttons carry only an agency code, and the service
checks the scope again when one is pressed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.i18n import Renderer
from bot.statistics_render.figures import agency_name, other_funders, percent
from bot.storage.statistics import (
    STATE_GROUPS,
    AgencyStatistics,
    AreaStatistics,
    Counts,
    GroupStatistics,
    Statistics,
)
from bot.transport import Outgoing
from flows import callbacks
from flows.access import Scope
from flows.catalog import Catalog, Region
from flows.formatting import month_year
from flows.text import Raw, Text, t

BUTTONS_PER_ROW = 2
MAX_BUTTONS = 60  # Telegram shows up to 100 buttons; the catalog has about 45 agencies


def _other_funders(stats: Statistics) -> bool:
    """Whether sponsors other than ASN are counted: then "signed up" counts every sponsor, a
    village or company too, and is worded so (issue 12); ASN alone read as before."""
    return other_funders(stats)


def _key(stats: Statistics, name: str) -> str:
    """stats.<name>, or its wording for every sponsor ([i12rest]) once other funders count."""
    return f"i12rest.{name}" if _other_funders(stats) else f"stats.{name}"


def _agency_key(stats: Statistics) -> str:
    return "funder2.stats_agency" if _other_funders(stats) else "stats.agency"


def _figures(counts: Counts) -> dict[str, int]:
    return {
        "signed_up": counts.signed_up,
        **dict(counts.states),
        "covered": counts.covered,
        "deducted": counts.deducted,
    }


def _participation(agency: AgencyStatistics, render: Renderer) -> Text:
    if not agency.roster:
        return t("stats.no_roster")
    return t(
        "stats.participation",
        matched=agency.roster_signed_up,
        roster=agency.roster,
        percent=percent(agency.participation, render.language),
    )


def summary(
    stats: Statistics,
    catalog: Catalog,
    render: Renderer,
    *,
    all_agencies: bool,
    regency: Region | None = None,
) -> Outgoing:
    """The regency's (or the reader's agencies') figures and one paragraph per agency with
    ASN signed up or on the roster; the others in one line. A button per agency shown.
    regency: one regency of a deployment of several, asked for by its code."""
    scope: Text
    if regency is not None:
        scope = t("regions.stats_scope", regency=Raw(regency.name), count=len(stats.agencies))
    elif all_agencies:
        scope = t("stats.scope_all")
    else:
        scope = t("stats.scope_some", count=len(stats.agencies))
    parts = [render(t("stats.header", month=month_year(stats.month), scope=scope))]
    if stats.roster:
        parts.append(
            render(
                t(
                    _key(stats, "regency"),
                    taking_part=stats.agencies_taking_part,
                    agencies=stats.catalog_agencies,
                    percent=percent(stats.participation, render.language),
                    matched=stats.roster_signed_up,
                    roster=stats.roster,
                )
            )
        )
    else:
        parts.append(
            render(
                t(
                    _key(stats, "regency_no_roster"),
                    taking_part=stats.agencies_taking_part,
                    agencies=stats.catalog_agencies,
                )
            )
        )
    totals = "funder2.stats_totals" if _other_funders(stats) else "stats.totals"
    parts.append(render(t(totals, **_figures(stats.total))))
    if _other_funders(stats):
        # Villages, BAZNAS, companies, honorer besides ASN (issue 12): counted per type.
        lines = [render(t("funder.stats_header"))]
        lines += [
            render(
                t(
                    "funder.stats_line",
                    funder=catalog.funder_label(f.funder_type),
                    sponsors=f.sponsors,
                    sponsorships=f.sponsorships,
                )
            )
            for f in stats.funders
        ]
        parts.append("\n".join(lines))
    if stats.jobs:
        items = _group_items(stats.jobs, catalog.job_label, render, more="job.stats_more")
        parts.append(render(t("job.stats_line", items=items)))
    if stats.relationships:
        items = _group_items(stats.relationships, catalog.relationship_label, render)
        parts.append(render(t("relationship.stats_line", items=items)))
    shown: list[AgencyStatistics] = []
    quiet: list[str] = []
    for agency in stats.agencies:
        name = agency_name(catalog, agency.agency_code)
        if agency.counts.signed_up or agency.roster or agency.counts.sponsorships:
            shown.append(agency)
            parts.append(
                render(
                    t(
                        _agency_key(stats),
                        name=Raw(name),
                        participation=_participation(agency, render),
                        **_figures(agency.counts),
                    )
                )
            )
        else:
            quiet.append(name)
    if quiet:
        parts.append(render(t(_key(stats, "quiet"), names=Raw(", ".join(quiet)))))
    if shown:
        parts.append(render(t("stats.pick_agency")))
    rows: list[tuple[tuple[str, str], ...]] = []
    buttons = [
        (
            render.plain(t("stats.button_agency", name=Raw(agency_name(catalog, a.agency_code)))),
            callbacks.encode(callbacks.TIMELESS, callbacks.statistics(a.agency_code)),
        )
        for a in shown[:MAX_BUTTONS]
    ]
    for start in range(0, len(buttons), BUTTONS_PER_ROW):
        rows.append(tuple(buttons[start : start + BUTTONS_PER_ROW]))
    return Outgoing("\n\n".join(parts), inline_keyboard=tuple(rows))


SHOWN_GROUPS = 6  # jobs named in the summary; the others counted in one item


def _group_items(
    groups: Sequence[GroupStatistics],
    label: Callable[[str | None], Text | Raw],
    render: Renderer,
    *,
    more: str | None = None,
) -> Raw:
    """ "Guru ngaji 12 · Asisten rumah tangga 8 · …": sponsorships per job or relationship, most
    first (the order read), the rest as one item."""
    shown = groups if more is None else groups[:SHOWN_GROUPS]
    items = [
        render.plain(t("job.stats_item", name=label(g.code), count=g.counts.sponsorships))
        for g in shown
    ]
    if more is not None and len(groups) > len(shown):
        items.append(render.plain(t(more, count=len(groups) - len(shown))))
    return Raw(" · ".join(items))  # plain text, escaped once where it is shown


def _area_line(area: AreaStatistics, stats: Statistics, render: Renderer, *, village: bool) -> str:
    if village:
        place: Text | Raw = Raw(area.village_name) if area.village_name else t("stats.no_village")
        key = _key(stats, "village")
    else:
        place = Raw(area.district_name)
        key = _key(stats, "district")
    return render(t(key, place=place, **_figures(area.counts)))


def agency_detail(
    stats: Statistics, agency_code: str, catalog: Catalog, render: Renderer
) -> Outgoing:
    """One agency: its figures, then each kecamatan of its workers with its desa."""
    name = Raw(agency_name(catalog, agency_code))
    parts = [render(t("stats.detail_header", name=name, month=month_year(stats.month)))]
    agency = next((a for a in stats.agencies if a.agency_code == agency_code), None)
    if agency is not None:
        parts.append(
            render(
                t(
                    _agency_key(stats),
                    name=name,
                    participation=_participation(agency, render),
                    **_figures(agency.counts),
                )
            )
        )
    districts = [d for d in stats.districts if d.agency_code == agency_code]
    if not districts:
        parts.append(render(t("stats.no_areas")))
    for district in districts:
        lines = [_area_line(district, stats, render, village=False)]
        lines.extend(
            _area_line(v, stats, render, village=True)
            for v in stats.villages
            if v.agency_code == agency_code and v.district_code == district.district_code
        )
        parts.append("\n".join(lines))
    return Outgoing("\n\n".join(parts))


Chart = tuple[list[str], dict[str, list[int]], str]  # categories, series by legend label, title


def chart(
    stats: Statistics, agency_code: str | None, catalog: Catalog, render: Renderer
) -> Chart | None:
    """What the bar chart shows: one bar per agency with sign-ups (the summary) or per
    kecamatan of one agency's workers, a segment per state group. None when there is nothing
    to draw."""
    bars: list[tuple[str, Counts]]
    if agency_code is None:
        bars = [
            (agency_name(catalog, a.agency_code), a.counts)
            for a in stats.agencies
            if a.counts.signed_up or a.counts.sponsorships
        ]
        title = render.plain(t("stats.chart_title_agencies"))
    else:
        bars = [
            (d.district_name, d.counts) for d in stats.districts if d.agency_code == agency_code
        ]
        name = Raw(agency_name(catalog, agency_code))
        title = render.plain(t("stats.chart_title_districts", name=name))
    if not bars:
        return None
    series = {
        render.plain(t(f"stats.group.{group}")): [counts.states[group] for _, counts in bars]
        for group in STATE_GROUPS
    }
    return [label for label, _ in bars], series, title


def file_name(stats: Statistics, scope: Scope, agency: str | None, render: Renderer) -> str:
    """statistik-2026-11-dinkes.xlsx ("semua" for a superadmin's whole scope)."""
    part = scope.file_part(agency, render.plain(t("export.file_everyone")))
    month = f"{stats.month.year:04d}-{stats.month.month:02d}"
    return render.plain(t("export.stats_file", month=month, scope=part))
