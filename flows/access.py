"""Who may see and do what among the people who run the programme.

Superadmins come from the configuration (ADMIN_IDS) and see every agency. Operators (the regency's
programme office: Disnaker, BKPSDM) are given one or more agencies; treasurers (bendahara) exactly
one. Every read, export and action of theirs is filtered by Scope.covers on the server; a button or
a command never carries the scope, so a forged one cannot widen it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    SUPERADMIN = "superadmin"
    OPERATOR = "operator"
    TREASURER = "treasurer"


GRANTED_ROLES: tuple[Role, ...] = (Role.OPERATOR, Role.TREASURER)
"""The roles stored in the database; superadmins are configured, never granted."""


@dataclass(frozen=True)
class Scope:
    """A member of staff's role and agencies (agency codes of the catalog). A superadmin's
    agencies are empty: they cover every agency."""

    role: Role
    agencies: frozenset[str] = frozenset()

    @classmethod
    def superadmin(cls) -> Scope:
        return cls(Role.SUPERADMIN)

    @classmethod
    def of(cls, role: Role | str, agencies: Iterable[str]) -> Scope:
        role = Role(role)
        codes = frozenset() if role is Role.SUPERADMIN else frozenset(agencies)
        if role is not Role.SUPERADMIN and not codes:
            raise ValueError(f"a {role} needs at least one agency")
        if role is Role.TREASURER and len(codes) != 1:
            raise ValueError("a treasurer belongs to exactly one agency")
        return cls(role, codes)

    @property
    def is_superadmin(self) -> bool:
        return self.role is Role.SUPERADMIN

    def covers(self, agency_code: str) -> bool:
        return self.is_superadmin or agency_code in self.agencies

    def restrict(self, agencies: Iterable[str] | None) -> frozenset[str] | None:
        """The agencies a request may read: those asked for, within the scope. None: every
        agency (a superadmin who asked for none). A request outside the scope gets the empty set,
        never more."""
        if agencies is None:
            return None if self.is_superadmin else self.agencies
        asked = frozenset(agencies)
        return asked if self.is_superadmin else asked & self.agencies

    def file_part(self, agency: str | None, everyone: str) -> str:
        """The scope as part of a file name: the one agency shown, `everyone` for a
        superadmin's whole scope, else the scope's agency codes; only letters, digits, - _ ."""
        if agency is not None:
            part = agency
        elif self.is_superadmin:
            part = everyone
        else:
            part = "-".join(sorted(self.agencies))[:60]
        return "".join(char if char.isalnum() or char in "-_." else "_" for char in part)

    def label(self) -> str:
        """The scope as written in the audit log: '*' for all agencies, else the codes."""
        return "*" if self.is_superadmin else ",".join(sorted(self.agencies))
