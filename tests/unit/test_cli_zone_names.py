"""The CLI's `admin list` and `audit` tables name the zone of every time they print (WIB, WITA,
WIT): one deployment may span zones, and a bare "10:00" reads as the reader's own."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.cli import admin, audit
from bot.storage.models import AuditEntry
from bot.storage.staff import StaffMember
from flows.access import Role

MOMENT = datetime(2026, 3, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        ("Asia/Jakarta", "2026-03-02 10:04 WIB"),
        ("Asia/Makassar", "2026-03-02 11:04 WITA"),
        ("Asia/Jayapura", "2026-03-02 12:04 WIT"),
    ],
)
def test_admin_list_names_the_zone(zone: str, shown: str) -> None:
    member = StaffMember(5001, Role.OPERATOR, ("dinkes",), MOMENT, None)
    table = admin.render_table([member], frozenset(), ZoneInfo(zone))
    assert table.splitlines()[1].endswith(shown)


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        ("Asia/Jakarta", "2026-03-02 10:04:05 WIB"),
        ("Asia/Makassar", "2026-03-02 11:04:05 WITA"),
        ("Asia/Jayapura", "2026-03-02 12:04:05 WIT"),
    ],
)
def test_audit_rows_name_the_zone(zone: str, shown: str) -> None:
    entry = AuditEntry(id=1, at=MOMENT, channel="cli", action="staff.grant", scope="*")
    row = audit._row(entry, ZoneInfo(zone))
    assert row[1] == shown
    assert shown in audit.render_table([row])
