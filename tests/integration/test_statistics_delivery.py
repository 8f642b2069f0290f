"""The service checks the scope again when it delivers statistics, whatever the effect asks: a
ShowStatistics for an agency outside the scope, or for a user whose role was taken away since
the command (a turn's answer may be delivered again after a crash), shows nothing of any
agency and records no view. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.app import build_service
from bot.security.crypto import Sealer
from bot.service import Incoming
from bot.storage import audit
from bot.storage.models import StaffRole
from flows.effects import ShowStatistics
from flows.inputs import TextReceived
from tests.integration.turnkit import Recorder, settings
from tests.statskit import Worker, add_sponsors, add_sponsorships, grant

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=ZoneInfo("Asia/Jakarta"))
OPERATOR = 9100


async def test_delivery_rechecks_the_scope(database_url: str, tmp_path: Path) -> None:
    built = build_service(settings(database_url, tmp_path), clock=lambda: NOW)
    try:
        engine = built.engine
        ids = add_sponsors(engine, Sealer(b"k" * 32), [(7001, "dinkes", 1), (7003, "disdik", 3)])
        add_sponsorships(engine, [(ids[7001], Worker("active")), (ids[7003], Worker("confirmed"))])
        grant(engine, OPERATOR, "operator", "dinkes")
        incoming = Incoming(1, OPERATOR, OPERATOR, TextReceived("/statistik"))

        async def deliver(effect: ShowStatistics) -> list[str]:
            transport = Recorder()
            await built.service._deliver(incoming, transport, [effect], "id")
            return [f"{call.kind}:{call.text}" for call in transport.calls]

        refused = ["send:⛔ Instansi itu tidak ada atau di luar wewenang Anda."]
        assert await deliver(ShowStatistics("disdik")) == refused
        shown = await deliver(ShowStatistics())
        assert "Dinas Kesehatan" in shown[0] and "Dinas Pendidikan" not in shown[0]
        assert shown[1].startswith("photo:")
        with engine.begin() as connection:  # the role is taken away
            connection.execute(sa.delete(StaffRole.__table__))  # type: ignore[attr-defined]
        assert await deliver(ShowStatistics()) == refused
        assert await deliver(ShowStatistics("dinkes")) == refused
        with Session(engine) as session:
            assert len(audit.entries(session, action="stats.view")) == 1  # the one shown
    finally:
        await built.aclose()
