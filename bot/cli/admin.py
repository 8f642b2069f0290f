"""`peduli admin add|list|remove`: the programme's operators and treasurers.

add --role operator|treasurer --agency CODE [CODE ...] TELEGRAM_ID: one role per person, so this
replaces any role the person had (and says so); an operator has one or more agencies, a treasurer
exactly one; every code must be in the programme's agency list (in a deployment of several
regencies, a regency's code such as 33.24 stands for all its agencies). list: a table of id, role,
agencies, granted at (the programme's time zone). remove TELEGRAM_ID: takes the role away.
Superadmins are ADMIN_IDS and are refused here. Each change is audited (channel cli) in its own
transaction.

Exit status: 0 when done, 2 when refused or when the database cannot be used (not migrated: run
`peduli db upgrade`; DATA_KEY not the database's key: see `peduli keys check`). No aiogram.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import tzinfo
from typing import TextIO

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.catalog import CatalogError, ProgrammeSettings, load_programme
from bot.i18n import zone_name
from bot.settings import Settings
from bot.storage import staff
from bot.storage.audit import Actor
from bot.storage.db import create_db_engine, immediate
from bot.storage.keys import command_sealer
from bot.storage.models import utc_now

REFUSALS = {
    staff.SUPERADMIN: "is a superadmin (ADMIN_IDS): superadmins are configured, not granted",
    staff.NOT_GRANTABLE: "that role cannot be granted: use operator or treasurer",
    staff.NO_AGENCY: "name at least one agency code with --agency",
    staff.TREASURER_ONE_AGENCY: "a treasurer belongs to exactly one agency: give one --agency",
    staff.UNKNOWN_AGENCY: "not in the programme's agency list",
    staff.NOT_STAFF: "has no staff role",
    staff.BAD_USER_ID: "is not a Telegram user id",
}


def add(
    role: str,
    agencies: Sequence[str],
    user_id: int,
    *,
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    def change(session: Session, programme: ProgrammeSettings, admins: frozenset[int]) -> str:
        catalog = programme.catalog
        # Codes as the catalog spells them, a regency's (a deployment of several) as its
        # agencies; an unknown one stays as typed, to be refused.
        codes = [c for code in agencies for c in catalog.agency_codes(code) or (code,)]
        granted = staff.grant(
            session,
            Actor.cli(),
            user_id,
            role,
            codes,
            utc_now(),
            is_agency=lambda code: catalog.agency(code) is not None,
            superadmins=admins,
        )
        member, previous = granted.member, granted.previous
        said = f"{user_id} is now {member.role.value} for {', '.join(member.agencies)}"
        if previous is not None:
            what = "role" if granted.role_replaced else "agencies"
            said += (
                f" (replaces their earlier {what}: {previous.role.value} for"
                f" {', '.join(previous.agencies)})"
            )
        return said

    return _run(change, settings, stdout, stderr)


def remove(
    user_id: int,
    *,
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    def change(session: Session, programme: ProgrammeSettings, admins: frozenset[int]) -> str:
        previous = staff.revoke(session, Actor.cli(), user_id, utc_now(), superadmins=admins)
        return (
            f"{user_id} is no longer {previous.role.value} (was for {', '.join(previous.agencies)})"
        )

    return _run(change, settings, stdout, stderr)


def list_staff(
    *,
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    def read(session: Session, programme: ProgrammeSettings, admins: frozenset[int]) -> str:
        return render_table(staff.members(session), admins, programme.timezone)

    return _run(read, settings, stdout, stderr)


def render_table(members: Sequence[staff.StaffMember], admins: frozenset[int], zone: tzinfo) -> str:
    rows = [("id", "role", "agencies", "granted at")]
    rows.extend((str(admin), "superadmin", "*", "(ADMIN_IDS)") for admin in sorted(admins))
    for member in members:
        local = member.granted_at.astimezone(zone)
        granted = f"{local:%Y-%m-%d %H:%M} {zone_name(local)}"  # WIB, WITA or WIT
        rows.append((str(member.user_id), member.role.value, ",".join(member.agencies), granted))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    if not members:
        lines.append("(no operators or treasurers: `peduli admin add` grants one)")
    return "\n".join(lines)


def _run(
    work: Callable[[Session, ProgrammeSettings, frozenset[int]], str],
    settings: Settings | None,
    stdout: TextIO | None,
    stderr: TextIO | None,
) -> int:
    """Open the database as `peduli coverage import` does (migrated, the right key), then do the
    work in one transaction: its output is printed once it committed."""
    settings = settings or Settings()
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        programme = load_programme(settings.programme_file)
    except (CatalogError, OSError) as error:
        print(f"peduli: {error}", file=err)
        return 2
    engine = create_db_engine(settings.database_url)
    try:
        if _unusable(engine, settings, err):
            return 2
        try:
            with Session(immediate(engine)) as session, session.begin():
                said = work(session, programme, settings.admin_id_set)
        except staff.StaffError as error:
            print(f"peduli admin: {_refusal(error)}", file=err)
            return 2
        print(said, file=out)
        return 0
    finally:
        engine.dispose()


def _unusable(engine: Engine, settings: Settings, err: TextIO) -> bool:
    return command_sealer(settings, engine, err) is None


def _refusal(error: staff.StaffError) -> str:
    reason = REFUSALS.get(error.reason, error.reason)
    if error.reason == staff.UNKNOWN_AGENCY:
        return f"{', '.join(error.agencies)}: {reason}"
    if error.reason in (staff.SUPERADMIN, staff.NOT_STAFF, staff.BAD_USER_ID):
        return f"this person {reason}"
    return reason
