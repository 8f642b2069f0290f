"""The ledger's upkeep in the running bot: opens the current local month (flows.ledger decides
which sponsorships owe it) and lapses the sponsorships whose deductions stopped, at start and
then every hour. Both are idempotent and cheap when there is nothing to do, so several bot
processes may run them side by side (bot.storage.ledger explains why that is safe), and a month
that begins while the bot runs is opened within the hour without anybody's command.

A deployment of several regencies in different zones (WIB, WITA, WIT) runs one round per zone
(`rounds_of`): each covers the sponsors whose agency is in that zone, so a Majene (WITA) month
opens at Majene's midnight, not an hour later at Garut's.

Runs beside the outbox dispatcher; a lapse leaves notifications in the outbox, so the keeper
wakes the dispatcher (`ready`) when it lapsed something.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Protocol

from bot.periodic import every
from flows.ledger import EVERY_AGENCY, AgencyScope, month_of

if TYPE_CHECKING:
    from bot.catalog import ProgrammeSettings

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 3600.0


class LedgerStore(Protocol):
    """What the keeper needs of storage (bot.storage.ledger.Ledger)."""

    def open_month(self, month: date, agencies: AgencyScope = EVERY_AGENCY) -> int: ...

    def lapse_overdue(self, zone: tzinfo, agencies: AgencyScope = EVERY_AGENCY) -> int: ...


@dataclass(frozen=True)
class Round:
    """One zone's part of the upkeep: the sponsors of these agencies live by this clock."""

    zone: tzinfo
    agencies: AgencyScope = EVERY_AGENCY


def rounds_of(programme: ProgrammeSettings) -> tuple[Round, ...]:
    """One round per time zone of the deployment's agencies (ProgrammeSettings.zone_of: the
    agency's own, else its regency's). The programme's zone comes first and covers every agency
    not in another zone's round (also a sponsor whose agency left the configuration), so the
    rounds together cover every sponsor once; a one-zone deployment has that round alone."""
    default = programme.timezone
    by_zone: dict[str, set[str]] = {}
    for agency in programme.catalog.agencies:
        zone = programme.zone_of(agency.code)
        if zone.key != default.key:
            by_zone.setdefault(zone.key, set()).add(agency.code)
    others = tuple(
        Round(programme.zone_of(next(iter(codes))), AgencyScope(only=frozenset(codes)))
        for _, codes in sorted(by_zone.items())
    )
    elsewhere = frozenset(code for codes in by_zone.values() for code in codes)
    return (Round(default, AgencyScope(excluding=elsewhere)), *others)


@dataclass(frozen=True)
class Upkeep:
    """What one round did."""

    opened: int
    lapsed: int


class LedgerKeeper:
    def __init__(
        self,
        ledger: LedgerStore,
        clock: Callable[[], datetime],
        zone: tzinfo,
        ready: asyncio.Event | None = None,
        interval_seconds: float = INTERVAL_SECONDS,
        rounds: Sequence[Round] = (),
    ) -> None:
        """`rounds` (rounds_of) splits the sponsors by zone; without, all live by `zone`."""
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self.ledger = ledger
        self.clock = clock
        self.zone = zone
        self.ready = ready
        self.interval = interval_seconds
        self.rounds = tuple(rounds) or (Round(zone),)

    async def run_once(self) -> Upkeep:
        """For each zone: open its current local month, then lapse what is overdue there (in
        that order: the lapse rule reads the rows of the months before, which earlier rounds
        opened)."""
        now = self.clock()
        opened = lapsed = 0
        for part in self.rounds:
            month = month_of(now.astimezone(part.zone).date())
            made = await asyncio.to_thread(self.ledger.open_month, month, part.agencies)
            ended = await asyncio.to_thread(self.ledger.lapse_overdue, part.zone, part.agencies)
            if made or ended:
                logger.info(
                    "ledger %s (%s): %d rows opened, %d lapsed",
                    month.isoformat(),
                    part.zone,
                    made,
                    ended,
                )
            opened, lapsed = opened + made, lapsed + ended
        if lapsed and self.ready is not None:
            self.ready.set()  # notifications are waiting in the outbox
        return Upkeep(opened, lapsed)

    async def run(self) -> None:
        """Until cancelled: a round now, then one every interval (bot.periodic.every)."""
        await every(
            self.interval,
            self.run_once,
            logger=logger,
            failure="ledger upkeep failed; retrying in an hour",
        )
