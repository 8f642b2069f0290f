"""flows.access: what a member of staff's scope lets them read, and how it is written down."""

from __future__ import annotations

import pytest

from flows.access import Role, Scope

OPERATOR = Scope.of(Role.OPERATOR, ["dinkes", "disdik"])
TREASURER = Scope.of("treasurer", ["dinkes"])
SUPERADMIN = Scope.superadmin()


def test_a_superadmin_covers_every_agency_and_others_only_their_own() -> None:
    assert SUPERADMIN.covers("bpbd") and SUPERADMIN.is_superadmin
    assert OPERATOR.covers("disdik") and not OPERATOR.covers("bpbd")
    assert TREASURER.covers("dinkes") and not TREASURER.covers("disdik")


@pytest.mark.parametrize(
    ("role", "agencies", "reason"),
    [
        (Role.OPERATOR, [], "at least one agency"),
        (Role.TREASURER, [], "at least one agency"),
        (Role.TREASURER, ["dinkes", "disdik"], "exactly one agency"),
    ],
)
def test_a_scope_without_agencies_or_a_treasurer_of_two_is_refused(
    role: Role, agencies: list[str], reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        Scope.of(role, agencies)


def test_a_superadmins_agencies_are_ignored_they_cover_all() -> None:
    assert Scope.of(Role.SUPERADMIN, ["dinkes"]) == SUPERADMIN


def test_a_request_is_narrowed_to_the_scope_never_widened() -> None:
    assert SUPERADMIN.restrict(None) is None  # every agency
    assert SUPERADMIN.restrict(["bpbd"]) == {"bpbd"}
    assert OPERATOR.restrict(None) == {"dinkes", "disdik"}
    assert OPERATOR.restrict(["disdik", "bpbd"]) == {"disdik"}
    assert OPERATOR.restrict(["bpbd"]) == frozenset()  # outside: nothing, not everything


def test_the_scope_as_the_audit_log_and_a_file_name_write_it() -> None:
    assert SUPERADMIN.label() == "*"
    assert OPERATOR.label() == "dinkes,disdik"
    assert SUPERADMIN.file_part(None, "semua") == "semua"
    assert OPERATOR.file_part(None, "semua") == "dinkes-disdik"
    assert OPERATOR.file_part("disdik", "semua") == "disdik"
    assert SUPERADMIN.file_part("a/b c", "semua") == "a_b_c"  # never a path or a space
