"""The operator's configuration as the flows see it: agencies, the worker's relationship to the
sponsor and their job, programmes.

The host loads it from data files (bot/data/); flows only read it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from flows.text import Raw, Text, t


@dataclass(frozen=True)
class Agency:
    code: str  # short, used in button data: letters, digits, "-" and "_"
    name: str
    search_terms: str = ""  # extra words people type: abbreviations, old names
    timezone: str | None = None  # IANA name (Asia/Makassar); None: the programme's time zone
    # The regency whose programme the agency's ASN join (dotted Kemendagri code) in a deployment
    # of several regencies; None in a single-regency deployment (the home regency).
    regency: str | None = None


@dataclass(frozen=True)
class Relationship:
    """Who the worker is to the sponsor (their household, a neighbour, a relative, no one in
    particular): the programme's own figures, not sent to BPJS."""

    code: str
    label: Text  # its key is the operator's choice: never rebuilt from the code


@dataclass(frozen=True)
class Job:
    """What the worker does: BPJS registers a participant's job (the BPJS export carries it)."""

    code: str
    label: Text  # its key is the operator's choice: never rebuilt from the code
    needs_description: bool = False  # "lainnya": the sponsor describes the work in free text
    search_terms: str = ""  # words people type to find it in the list (its label is a key)


@dataclass(frozen=True)
class Programme:
    code: str
    label: Text
    monthly_amount: int  # rupiah
    covers: Text


@dataclass(frozen=True)
class PaymentMethod:
    code: str  # "salary_deduction", "self_payment"
    label: Text
    consent_key: str  # the statement the sponsor agrees to
    consent_version: str


# Who may sponsor (issue 12). An ASN has a NIP; the others do not, and each answers its own
# sign-up questions (flows.signup): a village (desa), BAZNAS, a company (CSR), a non-ASN honorer.
ASN = "asn"
# The payment method whose consent lets the treasurer cut a salary, by the ASN's NIP.
SALARY_DEDUCTION = "salary_deduction"
FUNDER_TYPES = ("asn", "desa", "baznas", "perusahaan", "honorer")


@dataclass(frozen=True)
class FunderType:
    """A kind of sponsor as the operator configures it ([[funder_types]] in the programme file).

    payment_methods: the codes of the payment methods it may choose (each with its own consent
    statement). max_sponsorships: how many workers one such sponsor may sponsor at a time (a
    village sponsors many). agency: the agency (OPD) that looks after these sponsors (their
    operator, their regency); None for the types that pick their own agency (ASN, honorer).
    """

    code: str  # one of FUNDER_TYPES
    label: Text
    payment_methods: tuple[str, ...]
    max_sponsorships: int
    agency: str | None = None


@dataclass(frozen=True)
class Region:
    code: str  # dotted Kemendagri code
    name: str


class Regions(Protocol):
    """Kemendagri regions, as far as the flows need them."""

    def name_of(self, code: str) -> str | None: ...

    def children(self, code: str) -> Sequence[Region]: ...


@dataclass(frozen=True)
class Benefits:
    """What the sponsored package gives, as figures; locales word them ("benefits.*")."""

    death_benefit: int = 42_000_000  # rupiah, JKM to the heirs
    scholarship_children: int = 2
    scholarship_after_years: int = 3


@dataclass(frozen=True)
class DataController:
    """Who controls the personal data (UU 27/2022), named in every privacy notice."""

    name: str = "Pemerintah Kabupaten"
    contact: str = "admin program"


# What the treasurer cuts the contribution from: the salary or the regional allowance (TPP).
DEDUCTED_FROM = ("gaji", "tpp")


@dataclass(frozen=True)
class Catalog:
    agencies: tuple[Agency, ...]
    relationships: tuple[Relationship, ...]
    jobs: tuple[Job, ...]
    programmes: tuple[Programme, ...]
    payment_methods: tuple[PaymentMethod, ...]
    home_regency: (
        Region  # where the programme runs: the worker's kecamatan and desa are chosen in it
    )
    regions: Regions
    privacy_notice_version: str  # the worker's consent statement and notice, from the operator
    max_sponsorships: int = 1
    # A deployment of several regencies: all of them, in the operator's order (the first is the
    # default). Empty for a single regency (home_regency alone).
    regencies: tuple[Region, ...] = ()

    def agencies_of(self, regency_code: str) -> tuple[Agency, ...]:
        """The agencies of one regency of the deployment (all of them for a single regency)."""
        if not self.regencies:
            return self.agencies if regency_code == self.home_regency.code else ()
        return tuple(a for a in self.agencies if a.regency == regency_code)

    def regency(self, code: str) -> Region | None:
        """A regency of the deployment by its dotted code (the home regency for a single one)."""
        return next((r for r in self.regencies or (self.home_regency,) if r.code == code), None)

    # language -> consent text key -> the version of its vetted translation (locales/consents.toml)
    translated_consents: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def consent_version(self, text_key: str, version: str, language: str | None) -> str:
        """The version recorded with a consent given in `language`: the programme's version of
        the statement with the vetted translation's own mark ("2026-12-1+su.1": the first
        Sundanese text of it), or the programme's version alone when the language has no
        translation of it (then the Indonesian is shown). The programme's part, not the one the
        translation was written against, so a regency's own version (its notice names its own
        data controller: "2026-12-1.mjn") stays in what is recorded ("2026-12-1.mjn+su.1")."""
        translated = self.translated_consents.get(language or "", {}).get(text_key)
        if translated is None:
            return version
        _written_for, _, mark = translated.partition("+")
        return f"{version}+{mark}" if mark else version

    benefits: Benefits = Benefits()
    data_controller: DataController = DataController()
    deducted_from: str = "gaji"  # one of DEDUCTED_FROM
    # The funder types offered besides ASN, in the operator's order; an "asn" entry sets the
    # ASN's own payment methods and limit. Empty: ASN alone, with every payment method and
    # max_sponsorships (the behaviour before funder types).
    funder_types: tuple[FunderType, ...] = ()
    # A deployment of several regencies: each regency's own funder types (regency code ->
    # its [[funder_types]]), so a village of the second regency signs up under that regency's
    # types and agencies. Empty for a single regency (funder_types alone).
    funder_types_by_regency: Mapping[str, tuple[FunderType, ...]] = field(default_factory=dict)

    def other_funder_types_in(self, regency_code: str) -> tuple[FunderType, ...]:
        """The sponsors without a NIP one regency of the deployment accepts (the catalog's own
        for a single regency)."""
        kinds = self.funder_types_by_regency.get(regency_code, self.funder_types)
        return tuple(f for f in kinds if f.code != ASN)

    @property
    def regencies_with_other_funders(self) -> tuple[Region, ...]:
        """The regencies a sponsor without a NIP may sign up in (the home regency alone for a
        single regency, when it accepts any)."""
        return tuple(
            r for r in self.regencies or (self.home_regency,) if self.other_funder_types_in(r.code)
        )

    def funder_type(self, code: str) -> FunderType | None:
        """A funder type by its code; ASN always exists (from the defaults when not listed)."""
        found = next((f for f in self.funder_types if f.code == code), None)
        if found is None and code == ASN:
            methods = tuple(m.code for m in self.payment_methods)
            return FunderType(ASN, t("funder.type.asn"), methods, self.max_sponsorships)
        return found

    @property
    def other_funder_types(self) -> tuple[FunderType, ...]:
        """The sponsors without a NIP this programme accepts (sign-up offers them)."""
        return tuple(f for f in self.funder_types if f.code != ASN)

    def payment_methods_for(self, funder: str) -> tuple[PaymentMethod, ...]:
        """The payment methods a funder type may choose, in the programme's order."""
        kind = self.funder_type(funder)
        allowed = kind.payment_methods if kind is not None else ()
        return tuple(m for m in self.payment_methods if m.code in allowed)

    def max_sponsorships_for(self, funder: str) -> int:
        """How many open sponsorships one sponsor of this funder type may hold."""
        kind = self.funder_type(funder)
        return kind.max_sponsorships if kind is not None else self.max_sponsorships

    def funder_label(self, funder: str) -> Text | Raw:
        kind = self.funder_type(funder)
        return kind.label if kind is not None else Raw(funder)

    def organisation_label(
        self, funder: str, name: str | None, regency: Region | None = None
    ) -> Text | Raw:
        """How a sponsor without a NIP is named to the worker and in statements: "Pemerintah
        Desa Sukamaju", "BAZNAS Kabupaten Garut", a company's own name. Raw("") for an ASN or
        an honorer, who are named with their agency. regency: the regency chosen at sign-up in
        a deployment of several (None: the home regency, the sponsor's own afterwards)."""
        if funder in ("desa", "baznas", "perusahaan"):
            return t(
                f"funder.organisation.{funder}",
                name=Raw(name or ""),
                regency=Raw((regency or self.home_regency).name),
            )
        return Raw("")

    def limits_by_funder(self) -> dict[str, int]:
        """Every funder type's limit, for the storage's own check (bot.storage)."""
        limits = {code: self.max_sponsorships_for(code) for code in FUNDER_TYPES}
        return {code: limit for code, limit in limits.items() if self.funder_type(code)}

    def agency(self, code: str) -> Agency | None:
        return next((a for a in self.agencies if a.code == code), None)

    def agency_code(self, typed: str) -> str | None:
        """The catalog's code of an agency code as a person typed it (case aside), or None."""
        exact = self.agency(typed)
        if exact is not None:
            return exact.code
        folded = typed.casefold()
        return next((a.code for a in self.agencies if a.code.casefold() == folded), None)

    def agency_codes(self, typed: str) -> tuple[str, ...] | None:
        """What a code typed for a staff scope means: an agency; in a deployment of several
        regencies also a regency's code (33.24), for all its agencies. None: neither."""
        code = self.agency_code(typed)
        if code is not None:
            return (code,)
        if self.regencies and self.regency(typed) is not None:
            return tuple(agency.code for agency in self.agencies_of(typed))
        return None

    def relationship(self, code: str) -> Relationship | None:
        return next((r for r in self.relationships if r.code == code), None)

    def job(self, code: str) -> Job | None:
        return next((j for j in self.jobs if j.code == code), None)

    def programme(self, code: str) -> Programme | None:
        return next((p for p in self.programmes if p.code == code), None)

    def payment_method(self, code: str) -> PaymentMethod | None:
        return next((m for m in self.payment_methods if m.code == code), None)

    @property
    def default_programme(self) -> Programme:
        """The sponsored package offered first (the welcome names it and its amount)."""
        return self.programmes[0]

    # Labels of codes stored with a sponsorship. A code the operator has since removed from the
    # configuration is shown as it is, never looked up by a naming convention.

    def relationship_label(self, code: str | None) -> Text | Raw:
        relationship = self.relationship(code) if code else None
        if relationship is not None:
            return relationship.label
        # None: registered before the question was asked (migration 0012_jobs).
        return Raw(code) if code else t("relationship.unknown")

    def job_label(self, code: str | None, other: str | None = None) -> Text | Raw:
        """The job as shown: the sponsor's own words for "other", else the job's label."""
        if other:
            return Raw(other)
        job = self.job(code) if code else None
        if job is not None:
            return job.label
        # None: registered before the job was asked apart (a neighbour or a relative).
        return Raw(code) if code else t("job.unknown")

    def programme_label(self, code: str) -> Text | Raw:
        programme = self.programme(code)
        return programme.label if programme else Raw(code)

    def programme_covers(self, code: str) -> Text | Raw:
        programme = self.programme(code)
        return programme.covers if programme else Raw("")

    def benefits_text(self) -> Text:
        """The benefits in plain words, with the operator's figures."""
        b = self.benefits
        return t(
            "benefits.summary",
            death_benefit=b.death_benefit,
            children=b.scholarship_children,
            years=b.scholarship_after_years,
        )

    def controller_params(self) -> dict[str, Raw]:
        return {
            "controller": Raw(self.data_controller.name),
            "contact": Raw(self.data_controller.contact),
        }
