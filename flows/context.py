"""What the engine is given besides the session and the input: facts, configuration, a clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from flows.access import Scope
from flows.catalog import Catalog


@dataclass(frozen=True)
class UserFacts:
    """Who the user is. registered: signed up as an ASN (a sponsor). is_worker: linked as the
    worker of some sponsorship (they confirmed their invitation); a person may be both.
    is_admin: a superadmin (ADMIN_IDS). scope: the user's role and agencies when they run the
    programme (superadmin, operator or treasurer), else None."""

    user_id: int
    language: str | None
    registered: bool
    sponsor_name: str | None = None
    agency_name: str | None = None
    open_sponsorships: int = 0
    is_admin: bool = False
    is_worker: bool = False
    scope: Scope | None = None
    # The ASN's NIP, masked like a NIK (the treasurer's export has it in full): their
    # salary-deduction statement names it.
    sponsor_nip: str | None = None
    # The sponsor's funder type (flows.catalog.FUNDER_TYPES) and, without a NIP, what names
    # them: the village's or company's name, the officer's position.
    funder_type: str = "asn"
    organisation_name: str | None = None
    position: str | None = None


@dataclass(frozen=True)
class Context:
    user: UserFacts
    catalog: Catalog
    now: datetime  # aware, in the programme's local time zone
    new_id: Callable[[], str]
    # While an announcement is composed (flows.announce): how many people each audience reaches
    # within the author's scope, read by the host for that turn; None otherwise.
    audience_sizes: Mapping[str, int] | None = None
