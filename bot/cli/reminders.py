"""`peduli campaign set --deadline YYYY-MM-DD --days 14,7,1`, `peduli campaign show` and
`peduli reminders upcoming [--days N]`.

campaign set: the deadline ASN without a sponsored worker are reminded of, on the given days
before it (flows.reminders); a new row of the campaigns table (the newest is in force), with an
audit entry in the same transaction. campaign show: the campaign in force.
reminders upcoming: what the scheduler will queue over the next N days (default 7) if nothing
changes meanwhile, per local day and kind: the planner's own forecast (flows.reminders.upcoming),
so it matches what is later sent. Reads only; no personal data is printed.

Exit status 0 when done, 2 when the arguments or the database cannot be used. No aiogram.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date
from typing import TextIO

from sqlalchemy.orm import Session

from bot.catalog import CatalogError, load_programme
from bot.settings import Settings
from bot.storage import audit
from bot.storage.db import create_db_engine, immediate
from bot.storage.keys import command_sealer
from bot.storage.models import utc_now
from bot.storage.reminders import ReminderStore, Zones, current_campaign, set_campaign
from flows import reminders as rules

CAMPAIGN_SET = "campaign.set"  # the audit action
MAX_UPCOMING_DAYS = 60


def campaign(
    action: str,
    *,
    deadline: str | None = None,
    days: str | None = None,
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    settings = settings or Settings()
    now = utc_now()
    parsed: tuple[date, tuple[int, ...]] | None = None
    if action == "set":
        problem, parsed = check_campaign(deadline or "", days or "", now.date())
        if parsed is None:
            print(f"peduli campaign: {problem}", file=err)
            return 2
    engine = create_db_engine(settings.database_url)
    try:
        if command_sealer(settings, engine, err) is None:
            return 2
        with Session(immediate(engine)) as session, session.begin():
            if parsed is not None:
                added = set_campaign(session, parsed[0], parsed[1], None, now)
                detail = f"deadline={added.deadline.isoformat()} days={added.reminder_days}"
                audit.record(session, audit.Actor.cli(), CAMPAIGN_SET, now, detail=detail)
            row = current_campaign(session)
            if row is None:
                print("no campaign set (peduli campaign set --deadline YYYY-MM-DD)", file=out)
            else:
                print(f"deadline {row.deadline.isoformat()}, days {row.reminder_days}", file=out)
        return 0
    finally:
        engine.dispose()


def check_campaign(
    deadline: str, days: str, today: date
) -> tuple[str, tuple[date, tuple[int, ...]] | None]:
    """The deadline and days, or why not (the chat's /kampanye checks the same way)."""
    try:
        day = date.fromisoformat(deadline.strip())
    except ValueError:
        return f"--deadline must be YYYY-MM-DD, not {deadline!r}", None
    if day < today:
        return f"the deadline {day.isoformat()} has passed", None
    parsed = rules.reminder_days(days)
    if parsed is None:
        return f"--days must be whole days 0-366 separated by commas (14,7,1), not {days!r}", None
    return "", (day, parsed)


def upcoming(
    days: int = 7,
    *,
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    if not 1 <= days <= MAX_UPCOMING_DAYS:
        print(f"peduli reminders: --days must be 1-{MAX_UPCOMING_DAYS}", file=err)
        return 2
    settings = settings or Settings()
    try:
        programme = load_programme(settings.programme_file)
    except (CatalogError, OSError) as error:
        print(f"peduli reminders: {error}", file=err)
        return 2
    engine = create_db_engine(settings.database_url)
    try:
        sealer = command_sealer(settings, engine, err)
        if sealer is None:
            return 2
        zones = Zones.of(programme.catalog, programme.timezone)
        planned, facts = ReminderStore(engine, sealer, zones).upcoming(utc_now(), days)
        for line in table(rules.per_day(planned, facts.people)):
            print(line, file=out)
        return 0
    finally:
        engine.dispose()


def table(counts: Sequence[rules.DayCount]) -> list[str]:
    """One line per local day and kind, and the total."""
    if not counts:
        return ["nothing due"]
    lines = [f"{'day':<10}  {'kind':<20}  {'count':>6}"]
    for count in counts:
        lines.append(f"{count.day.isoformat():<10}  {count.kind:<20}  {count.count:>6}")
    lines.append(f"{'total':<10}  {'':<20}  {sum(c.count for c in counts):>6}")
    return lines
