"""What every format shows: rows of figures with names from the catalog, and percentages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bot.storage.statistics import (
    STATE_GROUPS,
    AgencyStatistics,
    AreaStatistics,
    GroupStatistics,
    Statistics,
)
from flows.catalog import ASN, Catalog

FIGURES: tuple[str, ...] = ("signed_up", *STATE_GROUPS, "covered", "deducted")
"""The columns of figures, in the order every format shows them."""

SPONSOR_WORDED = {
    "signed_up": "i12rest.col_signed_up",
    "deducted": "i12rest.col_deducted",
    "agencies_taking_part": "i12rest.col_agencies_taking_part",
}
"""The columns worded for every sponsor, not ASN alone, once other funders are counted."""


def other_funders(stats: Statistics) -> bool:
    """Whether sponsors other than ASN are counted (a village, BAZNAS, a company, an honorer):
    then "signed up" counts every sponsor and "deducted" what they paid by any route, and the
    formats say so (issue 12); ASN alone read as before."""
    return any(f.funder_type != ASN for f in stats.funders)


def column_key(figure: str, stats: Statistics) -> str:
    """The locale key of a column of figures (stats.col.*), worded for every sponsor when
    other funders are counted."""
    if figure in SPONSOR_WORDED and other_funders(stats):
        return SPONSOR_WORDED[figure]
    return f"stats.col.{figure}"


@dataclass(frozen=True)
class Row:
    """One line of figures: an agency (level "agency"), a kecamatan ("district") or a desa
    ("village") of its workers."""

    level: str
    agency_code: str
    agency_name: str
    district_code: str | None
    district_name: str | None
    village_code: str | None
    village_name: str | None
    figures: dict[str, int]
    roster: int | None = None
    roster_signed_up: int | None = None
    participation: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "level": self.level,
            "agency_code": self.agency_code,
            "agency_name": self.agency_name,
            "district_code": self.district_code,
            "district_name": self.district_name,
            "village_code": self.village_code,
            "village_name": self.village_name,
            **self.figures,
            "roster": self.roster,
            "roster_signed_up": self.roster_signed_up,
            "participation": round(self.participation, 4)
            if self.participation is not None
            else None,
        }


def agency_name(catalog: Catalog, code: str) -> str:
    agency = catalog.agency(code)
    return agency.name if agency else code


def figures_of(
    counts_source: AgencyStatistics | AreaStatistics | GroupStatistics,
) -> dict[str, int]:
    counts = counts_source.counts
    return {
        "signed_up": counts.signed_up,
        **{group: counts.states[group] for group in STATE_GROUPS},
        "covered": counts.covered,
        "deducted": counts.deducted,
    }


def agency_rows(stats: Statistics, catalog: Catalog) -> Iterator[Row]:
    for agency in stats.agencies:
        yield Row(
            "agency",
            agency.agency_code,
            agency_name(catalog, agency.agency_code),
            None,
            None,
            None,
            None,
            figures_of(agency),
            agency.roster,
            agency.roster_signed_up,
            agency.participation,
        )


def area_rows(stats: Statistics, catalog: Catalog) -> Iterator[Row]:
    """Each agency's kecamatan, each followed by its desa."""
    villages: dict[tuple[str, str], list[AreaStatistics]] = {}
    for village in stats.villages:
        villages.setdefault((village.agency_code, village.district_code), []).append(village)
    for district in stats.districts:
        name = agency_name(catalog, district.agency_code)
        for area in (district, *villages.get((district.agency_code, district.district_code), [])):
            yield Row(
                "district" if area is district else "village",
                area.agency_code,
                name,
                area.district_code,
                area.district_name,
                area.village_code,
                area.village_name,
                figures_of(area),
            )


GROUP_FIGURES: tuple[str, ...] = (
    "signed_up",
    *(g for g in STATE_GROUPS if g != "draft"),
    "covered",
)
"""The figures of a job or a relationship: drafts have neither yet, deductions are per agency."""


def group_figures(group: GroupStatistics) -> dict[str, int]:
    figures = figures_of(group)
    return {name: figures[name] for name in GROUP_FIGURES}


def all_rows(stats: Statistics, catalog: Catalog) -> list[Row]:
    return [*agency_rows(stats, catalog), *area_rows(stats, catalog)]


def percent(value: float | None, language: str) -> str:
    """ "22,3 %" in Indonesian, "22.3 %" in English; "—" without a roster."""
    if value is None:
        return "—"
    shown = f"{value * 100:.1f}"
    return (shown.replace(".", ",") if language == "id" else shown) + " %"
