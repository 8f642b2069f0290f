"""The notification layer words every domain event storage records (that storage words none is
the bot-layers import contract, proved by tests/architecture/test_import_contracts.py)."""

from __future__ import annotations

import typing
from dataclasses import replace
from datetime import UTC, date, datetime

from bot import notifications
from flows.events import CorrectionRequested, CoverageActivated, Event, RequestsWaiting
from tests.notify import notify


def test_every_event_type_has_its_wording() -> None:
    assert set(typing.get_args(Event)) == set(notifications._WORDING)


def test_coverage_tells_the_worker_only_when_linked() -> None:
    event = CoverageActivated(
        "PR-AAAAAA", 7, 1, "Budi", None, "Siti", "12345678901", date(2026, 3, 1), "bpu-jkk-jkm"
    )
    assert [n.dedupe_key for n in notify(event)] == ["coverage:PR-AAAAAA:sponsor"]
    linked = replace(event, worker_user_id=2)
    assert [n.recipient_user_id for n in notify(linked)] == [1, 2]


def test_a_sponsors_own_request_tells_no_sponsor_and_admins_once_an_hour() -> None:
    assert notify(CorrectionRequested(3, "sponsor", "PR-AAAAAA", 7, 1)) == []
    at = datetime(2026, 3, 10, 2, 59, tzinfo=UTC)
    (notice,) = notify(RequestsWaiting(9, at))
    assert notice.dedupe_key == "requests-waiting:2026-03-10T02:admin:9"


def test_coverage_notices_name_the_programme_by_its_configured_label() -> None:
    """The programme's label comes from the catalog entry, not from a key built from its code."""
    from bot.i18n import Renderer
    from flows.catalog import Programme
    from flows.text import t
    from tests.unit.flowkit import PROGRAMME

    shipped = PROGRAMME.catalog.default_programme
    renamed = replace(
        PROGRAMME.catalog,
        programmes=(replace(shipped, code="paket_a", label=t("programme.jkk_jkm")),),
    )
    assert isinstance(renamed.programmes[0], Programme)
    event = CoverageActivated(
        sponsorship_id=1,
        reference="PR-AAAAAA",
        sponsor_user_id=1,
        sponsor_name="Siti",
        worker_user_id=None,
        worker_name="Ujang",
        kpj_number="12345678901",
        coverage_start=date(2026, 12, 1),
        programme_code="paket_a",
    )
    (notice,) = notifications.notices(event, renamed)
    shown = Renderer("id")(notice.message)
    assert Renderer("id")(t("programme.jkk_jkm")) in shown
    assert "paket_a" not in shown
