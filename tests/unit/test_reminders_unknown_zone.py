"""Issue 12: someone mid-sign-up (no agency yet, so no zone known) in a deployment spanning
WIB, WITA and WIT is reminded only when it is daytime in every zone: 07:00-18:00 WIB with the
default quiet hours (20:00 WIT is 18:00 WIB; 07:00 WIB is 09:00 WIT)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.storage.reminders import Zones
from flows import reminders as r

WIB, WITA, WIT = ZoneInfo("Asia/Jakarta"), ZoneInfo("Asia/Makassar"), ZoneInfo("Asia/Jayapura")
SETTINGS = r.Settings()
SIGNING_UP = r.Person(1, WIB, also_quiet_in=(WITA, WIT))


def wib(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=WIB).astimezone(UTC)


@pytest.mark.parametrize(
    ("moment", "sent"),
    [
        (wib(12), wib(12)),  # noon WIB is 14:00 WIT: daytime everywhere
        (wib(17, 59), wib(17, 59)),  # 19:59 WIT
        (wib(18), wib(7, day=3)),  # 20:00 WIT: quiet there, so 07:00 WIB next morning
        (wib(19, 30), wib(7, day=3)),  # not quiet in WIB alone, quiet in WITA and WIT
        (wib(6, 30), wib(7)),  # 08:30 WIT, but still quiet in WIB
        (wib(23), wib(7, day=3)),
    ],
)
def test_every_zone_keeps_its_quiet_hours(moment: datetime, sent: datetime) -> None:
    assert r.out_of_quiet_for(moment, SIGNING_UP, SETTINGS) == sent
    assert r.is_quiet_for(moment, SIGNING_UP, SETTINGS) == (sent != moment)


def test_an_unfinished_sign_up_waits_for_daytime_in_every_zone() -> None:
    left = wib(19)  # 19:00 WIB, 21:00 WIT: the draft was left in the evening
    draft = r.Unfinished(1, "signup", "agency", left - timedelta(minutes=5), left)
    due = left + timedelta(days=1)
    alone = r.Person(1, WIB)  # a known WIB sponsor: reminded at 19:00 WIB
    [plain] = r.plan(r.Facts({1: alone}, unfinished=[draft]), due)
    assert plain.not_before == due
    # Not known yet: an optional nudge is chosen only out of quiet hours everywhere, at
    # 07:00 WIB the next morning (upcoming runs plan at each zone's 07:00).
    facts = r.Facts({1: SIGNING_UP}, unfinished=[draft])
    assert r.plan(facts, due) == []
    [later] = r.upcoming(facts, due, days=2)
    assert later.not_before == wib(7, day=4)


def test_zones_without_a_common_daytime_fall_back_to_the_own_zone() -> None:
    long_nights = r.Settings(quiet_start=datetime(2026, 1, 1, 12).time())  # 12:00-07:00
    # 07:00-12:00 at UTC+0 and at UTC+12 (19:00-24:00 UTC) never overlap.
    apart = r.Person(1, ZoneInfo("UTC"), also_quiet_in=(ZoneInfo("Etc/GMT-12"),))
    moment = datetime(2026, 12, 2, 12, tzinfo=UTC)
    own = r.out_of_quiet(moment, apart.zone, long_nights)
    assert r.out_of_quiet_for(moment, apart, long_nights) == own


def test_the_zones_of_someone_with_no_agency() -> None:
    zones = Zones(WIB, {"garut": WIB, "majene": WITA, "papua": WIT, "mamuju": WITA})
    assert zones.unknown() == (WITA, WIT)
    assert Zones(WIB, {"garut": WIB}).unknown() == ()
