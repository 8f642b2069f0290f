"""`peduli stats` output: a table for the terminal, CSV and JSON (English column names: these
are for scripts and spreadsheets, the chat words its own)."""

from __future__ import annotations

import csv
import io
import json

from bot.statistics_render.figures import (
    FIGURES,
    GROUP_FIGURES,
    Row,
    agency_rows,
    all_rows,
    area_rows,
    group_figures,
    other_funders,
    percent,
)
from bot.storage.statistics import GroupStatistics, Statistics
from flows.catalog import Catalog

COLUMNS: tuple[str, ...] = (
    "level",
    "agency_code",
    "agency_name",
    "district_code",
    "district_name",
    "village_code",
    "village_name",
    *FIGURES,
    "roster",
    "roster_signed_up",
    "participation",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """A CSV cell; text that a spreadsheet would run as a formula is neutralised with a '."""
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def render_csv(stats: Statistics, catalog: Catalog) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in all_rows(stats, catalog):
        values = row.as_dict()
        writer.writerow([_cell(values[column]) for column in COLUMNS])
    return buffer.getvalue()


def render_json(stats: Statistics, catalog: Catalog) -> str:
    document = {
        "month": stats.month.isoformat(),
        "regency": {
            "agencies_in_catalog": stats.catalog_agencies,
            "agencies_taking_part": stats.agencies_taking_part,
            "signed_up": stats.signed_up,
            "roster": stats.roster,
            "roster_signed_up": stats.roster_signed_up,
            "participation": round(stats.participation, 4)
            if stats.participation is not None
            else None,
        },
        "agencies": [row.as_dict() for row in agency_rows(stats, catalog)],
        "areas": [row.as_dict() for row in area_rows(stats, catalog)],
        # Sponsors and sponsorships per funder type (issue 12): asn, desa, baznas, ...
        "funder_types": [
            {"funder_type": f.funder_type, "sponsors": f.sponsors, "sponsorships": f.sponsorships}
            for f in stats.funders
        ],
        # Per job and per relationship to the sponsor (catalog codes; null: not recorded).
        "jobs": [{"code": g.code, **group_figures(g)} for g in stats.jobs],
        "relationships": [{"code": g.code, **group_figures(g)} for g in stats.relationships],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


SHORT = {
    "signed_up": "ASN",
    "draft": "draft",
    "waiting": "waiting",
    "confirmed": "confirmed",
    "active": "active",
    "withdrawn": "withdrawn",
    "lapsed": "lapsed",
    "covered": "covered",
    "deducted": "deducted Rp",
}
SPONSORS_SHORT = {"signed_up": "sponsors", "deducted": "paid Rp"}  # not ASN alone (issue 12)


def _table(title: str, rows: list[Row], first: str, extra: bool, sponsors: bool) -> list[str]:
    """sponsors: other funders are counted, so "signed up" is every sponsor, not ASN alone."""
    short = {**SHORT, **(SPONSORS_SHORT if sponsors else {})}
    headers = [first, *(short[f] for f in FIGURES)] + (["roster", "particip."] if extra else [])
    body = []
    for row in rows:
        if row.level == "agency":
            name = row.agency_name
        elif row.level == "district":
            name = f"{row.agency_code} / {row.district_name}"
        else:
            name = f"{row.agency_code} / {row.district_name} / {row.village_name or '-'}"
        cells = [name[:48], *(f"{row.figures[f]:,}" for f in FIGURES)]
        if extra:
            cells += [f"{row.roster or 0:,}", percent(row.participation, "en")]
        body.append(cells)
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *body, strict=True)]
    lines = [
        title,
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        ),
    ]
    for cells in body:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
        )
    return lines


def _group_table(title: str, groups: tuple[GroupStatistics, ...], sponsors: bool) -> list[str]:
    short = {**SHORT, **(SPONSORS_SHORT if sponsors else {})}
    headers = [title, *(short[f] for f in GROUP_FIGURES)]
    body = [
        [g.code or "(not recorded)", *(f"{v:,}" for v in group_figures(g).values())] for g in groups
    ]
    widths = [max(len(c) for c in column) for column in zip(headers, *body, strict=True)]
    return [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        for cells in (headers, *body)
    ]


def render_table(stats: Statistics, catalog: Catalog) -> str:
    participation = percent(stats.participation, "en")
    sponsors = other_funders(stats)
    signed_up = "Sponsors signed up" if sponsors else "ASN signed up"
    on_roster = "ASN on the roster" if sponsors else "on the roster"
    lines = [
        f"Statistics for {stats.month:%Y-%m}",
        f"Agencies taking part: {stats.agencies_taking_part} of {stats.catalog_agencies}",
        f"{signed_up}: {stats.signed_up:,}; {on_roster}: {stats.roster_signed_up:,} of "
        f"{stats.roster:,} ({participation})",
    ]
    if sponsors:
        funders = ", ".join(
            f"{f.funder_type} {f.sponsors:,} ({f.sponsorships:,} sponsorships)"
            for f in stats.funders
        )
        lines.append(f"Sponsors by funder type: {funders}")
    lines.append("")
    lines += _table("Per agency", list(agency_rows(stats, catalog)), "agency", True, sponsors)
    areas = list(area_rows(stats, catalog))
    if areas:
        lines += [
            "",
            *_table("Per kecamatan / desa of the workers", areas, "area", False, sponsors),
        ]
    if stats.jobs:
        lines += ["", *_group_table("job", stats.jobs, sponsors)]
    if stats.relationships:
        lines += ["", *_group_table("relationship", stats.relationships, sponsors)]
    return "\n".join(lines) + "\n"
