"""The notification layer words every domain event storage records (that storage words none is
the bot-layers import contract, proved by tests/architecture/test_import_contracts.py)."""

from __future__ import annotations

import typing
from dataclasses import replace
from datetime import UTC, date, datetime

from bot import notifications
from flows.events import CorrectionRequested, CoverageActivated, Event, RequestsWaiting


def test_every_event_type_has_its_wording() -> None:
    assert set(typing.get_args(Event)) == set(notifications._WORDING)


def test_coverage_tells_the_worker_only_when_linked() -> None:
    event = CoverageActivated(
        "PR-AAAAAA", 7, 1, "Budi", None, "Siti", "12345678901", date(2026, 3, 1), "bpu-jkk-jkm"
    )
    assert [n.dedupe_key for n in notifications.notices(event)] == ["coverage:PR-AAAAAA:sponsor"]
    linked = replace(event, worker_user_id=2)
    assert [n.recipient_user_id for n in notifications.notices(linked)] == [1, 2]


def test_a_sponsors_own_request_tells_no_sponsor_and_admins_once_an_hour() -> None:
    assert notifications.notices(CorrectionRequested(3, "sponsor", "PR-AAAAAA", 7, 1)) == []
    at = datetime(2026, 3, 10, 2, 59, tzinfo=UTC)
    (notice,) = notifications.notices(RequestsWaiting(9, at))
    assert notice.dedupe_key == "requests-waiting:2026-03-10T02:admin:9"
