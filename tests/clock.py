"""A clock the test moves, passed where the code under test reads "now"."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

#: The tests' "now": a Saturday morning in Jakarta. Here, not in tests/e2e/harness.py, so that a
#: child process that needs only the time (tests/integration/turnkit.py) does not import aiogram.
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=ZoneInfo("Asia/Jakarta"))


class MovableClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
