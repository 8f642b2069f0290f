"""A clock the test moves, passed where the code under test reads "now"."""

from __future__ import annotations

from datetime import datetime, timedelta


class MovableClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
