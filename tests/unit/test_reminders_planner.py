"""The reminder planner (flows.reminders): each kind at the right local hour in WIB, WITA and WIT,
quiet hours, the one-optional-a-day cap, the opt-out, stages, and `upcoming` agreeing with what
`plan` queues minute by minute."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows import reminders as r

WIB, WITA, WIT = ZoneInfo("Asia/Jakarta"), ZoneInfo("Asia/Makassar"), ZoneInfo("Asia/Jayapura")
ZONES = (WIB, WITA, WIT)
SETTINGS = r.Settings()


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


def people(*users: tuple[int, ZoneInfo], off: frozenset[int] = frozenset()) -> dict[int, r.Person]:
    return {user: r.Person(user, zone, user in off) for user, zone in users}


def draft(user: int, at: datetime, flow: str = "sponsorship") -> r.Unfinished:
    return r.Unfinished(user, flow, "worker_nik", at - timedelta(minutes=5), at)


def keys(reminders: list[r.Reminder]) -> list[str]:
    return [reminder.dedupe_key for reminder in reminders]


# --- quiet hours ------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ZONES)
def test_quiet_hours_defer_to_seven_in_the_morning_local(zone: ZoneInfo) -> None:
    evening = local(zone, 2026, 12, 1, 21, 30)
    night = local(zone, 2026, 12, 2, 3, 0)
    noon = local(zone, 2026, 12, 2, 12, 0)
    morning = local(zone, 2026, 12, 2, 7, 0)
    assert r.out_of_quiet(evening, zone, SETTINGS) == morning
    assert r.out_of_quiet(night, zone, SETTINGS) == morning
    assert r.out_of_quiet(noon, zone, SETTINGS) == noon
    assert r.out_of_quiet(local(zone, 2026, 12, 2, 19, 59), zone, SETTINGS) != morning
    assert r.is_quiet(local(zone, 2026, 12, 2, 20, 0), zone, SETTINGS)
    assert not r.is_quiet(morning, zone, SETTINGS)


def test_the_same_utc_moment_is_quiet_in_one_zone_and_not_in_another() -> None:
    moment = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)  # 19:30 WIB, 20:30 WITA, 21:30 WIT
    assert not r.is_quiet(moment, WIB, SETTINGS)
    assert r.is_quiet(moment, WITA, SETTINGS)
    assert r.is_quiet(moment, WIT, SETTINGS)


# --- unfinished drafts ------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ZONES)
def test_an_unfinished_draft_is_reminded_after_one_day_then_three(zone: ZoneInfo) -> None:
    left = local(zone, 2026, 12, 1, 10, 0)
    facts = r.Facts(people((1, zone)), unfinished=[draft(1, left)])
    assert r.plan(facts, left + timedelta(days=1, seconds=-1)) == []
    [first] = r.plan(facts, left + timedelta(days=1))
    assert first.kind == r.UNFINISHED and first.dedupe_key.endswith(":day1")
    assert first.not_before == left + timedelta(days=1)  # 10:00 local: not quiet
    assert first.buttons[0][0].value == "menu:resume"
    assert first.message.key == "reminders.unfinished_sponsorship"
    queued = r.Facts(facts.people, unfinished=facts.unfinished, queued=frozenset(keys([first])))
    assert r.plan(queued, left + timedelta(days=2)) == []  # queued once, not again
    [third] = r.plan(queued, left + timedelta(days=3))
    assert third.dedupe_key.endswith(":day3")


def test_after_a_long_outage_only_the_latest_stage_is_sent() -> None:
    left = local(WIB, 2026, 12, 1, 10, 0)
    facts = r.Facts(people((1, WIB)), unfinished=[draft(1, left)])
    assert [k.split(":")[-1] for k in keys(r.plan(facts, left + timedelta(days=4)))] == ["day3"]
    assert r.plan(facts, left + timedelta(days=8)) == []  # idle a week: no nudge any more


def test_a_draft_left_in_the_evening_is_reminded_next_morning_local() -> None:
    for zone in ZONES:
        left = local(zone, 2026, 12, 1, 22, 15)
        facts = r.Facts(people((1, zone)), unfinished=[draft(1, left)])
        assert r.plan(facts, left + timedelta(days=1)) == []  # 22:15: optional ones wait
        assert r.plan(facts, local(zone, 2026, 12, 3, 6, 59)) == []
        [due] = r.plan(facts, local(zone, 2026, 12, 3, 7, 0))
        assert due.not_before == local(zone, 2026, 12, 3, 7, 0)


def test_untracked_flows_are_not_reminded() -> None:
    left = local(WIB, 2026, 12, 1, 10, 0)
    facts = r.Facts(people((1, WIB)), unfinished=[draft(1, left, flow="correction")])
    assert r.plan(facts, left + timedelta(days=2)) == []


# --- the worker not confirming ----------------------------------------------------------------


def waiting(invited: datetime, **changes: object) -> r.Waiting:
    base = r.Waiting(
        sponsorship_id=7,
        reference="ABC123",
        sponsor_user_id=1,
        worker_name="Siti",
        invited_at=invited,
        expires_at=invited + timedelta(days=14),
    )
    return r.Waiting(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_the_sponsor_is_reminded_on_day_two_and_seven_and_before_expiry() -> None:
    invited = local(WITA, 2026, 12, 1, 9, 0)
    facts = r.Facts(people((1, WITA)), waiting=[waiting(invited)])
    queued: set[str] = set()
    sent: list[r.Reminder] = []
    moment = invited
    while moment < invited + timedelta(days=15):
        due = r.plan(r.Facts(facts.people, waiting=facts.waiting, queued=frozenset(queued)), moment)
        sent += due
        queued |= set(keys(due))
        moment += timedelta(hours=1)
    assert [(x.kind, x.dedupe_key.split(":")[-1]) for x in sent] == [
        (r.UNCONFIRMED_SPONSOR, "day2"),
        (r.UNCONFIRMED_SPONSOR, "day7"),
        (r.INVITATION_EXPIRING, str(int((invited + timedelta(days=14)).timestamp()))),
    ]
    assert sent[0].not_before == invited + timedelta(days=2)
    assert sent[0].buttons[0][0].value == "act:reinvite:ABC123"
    assert sent[2].not_before == invited + timedelta(days=12)


def test_an_expired_link_is_named_in_the_reminder() -> None:
    invited = local(WIB, 2026, 12, 1, 9, 0)
    item = waiting(invited, expires_at=invited + timedelta(days=5))
    [late] = r.plan(r.Facts(people((1, WIB)), waiting=[item]), invited + timedelta(days=7))
    assert late.message.key == "reminders.unconfirmed_expired"


def test_the_worker_who_opened_the_link_and_stopped_is_reminded() -> None:
    invited = local(WIT, 2026, 12, 1, 9, 0)
    item = waiting(invited, opener_user_id=2, opened_at=invited + timedelta(hours=1))
    facts = r.Facts(people((1, WIT), (2, WIT)), waiting=[item])
    due = r.plan(facts, invited + timedelta(days=1, hours=1))
    assert [(x.kind, x.recipient_user_id) for x in due] == [(r.WORKER_STALLED, 2)]


# --- campaign, deduction, cap, opt-out --------------------------------------------------------


@pytest.mark.parametrize("zone", ZONES)
def test_the_campaign_day_reminder_goes_at_seven_local_on_its_day_only(zone: ZoneInfo) -> None:
    campaign = r.CampaignPlan(date(2026, 12, 20), (7, 1))
    facts = r.Facts(people((1, zone)), without_worker=[1], campaign=campaign)
    assert r.plan(facts, local(zone, 2026, 12, 12, 23, 0)) == []
    assert r.plan(facts, local(zone, 2026, 12, 13, 6, 59)) == []  # quiet hours
    [due] = r.plan(facts, local(zone, 2026, 12, 13, 7, 0))
    assert due.not_before == local(zone, 2026, 12, 13, 7, 0)
    assert due.dedupe_key == "reminder:campaign:1:2026-12-20:d7"
    assert r.plan(facts, local(zone, 2026, 12, 14, 0, 0)) == []  # the day passed


def test_the_first_deduction_notice_is_transactional() -> None:
    notice = r.FirstDeduction(9, "ABC123", 1, date(2027, 1, 1), 16800)
    facts = r.Facts(people((1, WIB), off=frozenset({1})), first_deductions=[notice])
    assert r.plan(facts, local(WIB, 2026, 12, 24, 23, 59)) == []
    [due] = r.plan(facts, local(WIB, 2026, 12, 25, 0, 0))
    assert due.kind == r.FIRST_DEDUCTION and due.not_before == local(WIB, 2026, 12, 25, 7, 0)
    assert due.message.params["amount"] == 16800


def test_one_optional_reminder_per_person_per_local_day() -> None:
    left = local(WIB, 2026, 12, 1, 10, 0)
    campaign = r.CampaignPlan(date(2026, 12, 9), (7,))
    facts = r.Facts(
        people((1, WIB)),
        unfinished=[draft(1, left)],
        without_worker=[1],
        campaign=campaign,
        first_deductions=[r.FirstDeduction(9, "X", 1, date(2026, 12, 1), 16800)],
    )
    due = r.plan(facts, local(WIB, 2026, 12, 2, 10, 0))
    assert sorted(x.kind for x in due) == [r.CAMPAIGN, r.FIRST_DEDUCTION]  # one optional
    capped = r.Facts(
        {1: r.Person(1, WIB, optional_days=frozenset({date(2026, 12, 2)}))},
        unfinished=facts.unfinished,
    )
    assert r.plan(capped, local(WIB, 2026, 12, 2, 10, 0)) == []
    assert keys(r.plan(capped, local(WIB, 2026, 12, 3, 7, 0)))  # the next day it goes


def test_opted_out_people_get_no_optional_reminders() -> None:
    left = local(WIB, 2026, 12, 1, 10, 0)
    facts = r.Facts(people((1, WIB), off=frozenset({1})), unfinished=[draft(1, left)])
    assert r.plan(facts, left + timedelta(days=1)) == []


def test_reminder_days_are_validated() -> None:
    assert r.reminder_days("14,7,1") == (14, 7, 1)
    assert r.reminder_days("1, 7") == (7, 1)
    for bad in ("", "7,7", "x", "-1", "400", "1,,2"):
        assert r.reminder_days(bad) is None


# --- upcoming = what plan queues, minute by minute --------------------------------------------

# Facts fall on quarter hours, as do quiet hours and local midnights in WIB/WITA/WIT (whole-hour
# offsets), so running plan every quarter hour is the minute-by-minute scheduler, only cheaper.
MINUTE = timedelta(minutes=15)
START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
moments = st.integers(min_value=-3 * 24 * 4, max_value=3 * 24 * 4).map(lambda m: START + m * MINUTE)


@st.composite
def fact_sets(draw: st.DrawFn) -> r.Facts:
    users = draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=3))
    folks = {i + 1: r.Person(i + 1, z, draw(st.booleans())) for i, z in enumerate(users)}
    ids = st.sampled_from(sorted(folks))
    unfinished = [
        r.Unfinished(u, draw(st.sampled_from(sorted(r.TRACKED_FLOWS))), "s", at, at)
        for u, at in draw(st.lists(st.tuples(ids, moments), max_size=2, unique_by=lambda x: x[0]))
    ]
    waiting_items = []
    for n, (u, at) in enumerate(draw(st.lists(st.tuples(ids, moments), max_size=2))):
        expiry = at + timedelta(days=draw(st.integers(3, 14)))
        waiting_items.append(
            r.Waiting(n + 1, f"R{n}", u, "W", at, expiry, None if u == 1 else 1, at + MINUTE)
        )
    campaign = r.CampaignPlan(date(2026, 12, 3), (2, 1)) if draw(st.booleans()) else None
    month = draw(st.sampled_from((date(2026, 12, 1), date(2027, 1, 1))))
    first = [r.FirstDeduction(50 + u, "F", u, month, 16800) for u in draw(st.sets(ids))]
    return r.Facts(
        folks,
        unfinished=unfinished,
        waiting=waiting_items,
        without_worker=sorted(folks) if campaign else [],
        first_deductions=first,
        campaign=campaign,
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fact_sets())
def test_upcoming_is_what_plan_queues_round_by_round(facts: r.Facts) -> None:
    days = 3
    forecast = r.upcoming(facts, START, days)
    queued: list[r.Reminder] = []
    current = facts
    moment = START
    while moment < START + timedelta(days=days):
        due = r.plan(current, moment)
        queued += due
        current = r._fed_back(current, due)
        moment += MINUTE
    assert [(x.dedupe_key, x.not_before) for x in forecast] == [
        (x.dedupe_key, x.not_before) for x in queued
    ]
    optional_days: set[tuple[int, date]] = set()
    for reminder in queued:
        person = facts.people[reminder.recipient_user_id]
        assert not r.is_quiet(reminder.not_before, person.zone, SETTINGS)
        if reminder.optional:
            assert not person.reminders_off
            day = (person.user_id, reminder.not_before.astimezone(person.zone).date())
            assert day not in optional_days  # one optional a day
            optional_days.add(day)
    assert len(set(keys(queued))) == len(queued)


def test_per_day_counts_by_local_day_and_kind() -> None:
    left = local(WIT, 2026, 12, 1, 10, 0)
    facts = r.Facts(people((1, WIT), (2, WIT)), unfinished=[draft(1, left), draft(2, left)])
    counts = r.per_day(r.upcoming(facts, left, 5), facts.people)
    assert [(c.day, c.kind, c.count) for c in counts] == [
        (date(2026, 12, 2), r.UNFINISHED, 2),
        (date(2026, 12, 4), r.UNFINISHED, 2),
    ]


def test_settings_refuse_empty_quiet_hours() -> None:
    with pytest.raises(ValueError):
        r.Settings(quiet_start=time(7), quiet_end=time(7))
