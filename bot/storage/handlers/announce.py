"""The announcement aggregate from the admin chat: drafts, confirmation, approval, pause/resume/
cancel, and a person's opt-out. The author's scope is read again here from the database (staff
roles, ADMIN_IDS), never taken from the command: a forged button cannot widen an audience."""

from __future__ import annotations

from bot.storage import announcements, staff
from bot.storage.audit import Actor
from bot.storage.handlers import Handlers
from bot.storage.lookups import Turn
from flows.access import Role, Scope
from flows.commands import (
    Applied,
    DecideAnnouncement,
    Outcome,
    PrepareAnnouncement,
    Refused,
    SetAnnouncementsOff,
    SteerAnnouncement,
    SubmitAnnouncement,
)


def _actor(turn: Turn, user_id: int) -> Actor | None:
    """Superadmins and operators may announce; None for anyone else."""
    if user_id in turn.rules.admin_ids:
        return Actor(Scope.superadmin(), user_id)
    member = staff.member(turn.session, user_id)
    if member is None or member.role is not Role.OPERATOR:
        return None
    return Actor(Scope(Role.OPERATOR, frozenset(member.agencies)), user_id)


def prepare(turn: Turn, command: PrepareAnnouncement) -> Outcome:
    actor = _actor(turn, command.user_id)
    if actor is None:
        return Refused("not_allowed")
    try:
        row = announcements.create(
            turn.session,
            actor,
            body=command.body,
            audience=command.audience,
            agencies=command.agencies,
            media_kind=command.media_kind,
            media_file_id=command.media_file_id,
            button=command.button,
            now=turn.now,
        )
        count = announcements.count_for(turn.session, row)
    except announcements.AnnouncementError as error:
        return Refused(error.reason)
    return Applied(reference=str(row.id), row_count=count, announcement_status=row.status)


def submit(turn: Turn, command: SubmitAnnouncement) -> Outcome:
    actor = _actor(turn, command.user_id)
    if actor is None:
        return Refused("not_allowed")
    try:
        row = announcements.submit(
            turn.session,
            actor,
            command.announcement_id,
            turn.now,
            threshold=turn.rules.announcement_threshold,
        )
    except announcements.AnnouncementError as error:
        return Refused(error.reason)
    return Applied(reference=str(row.id), row_count=row.recipients, announcement_status=row.status)


def decide(turn: Turn, command: DecideAnnouncement) -> Outcome:
    if command.user_id not in turn.rules.admin_ids:
        return Refused("not_superadmin")
    actor = Actor(Scope.superadmin(), command.user_id)
    try:
        row = announcements.decide(
            turn.session,
            actor,
            command.announcement_id,
            command.approve,
            turn.now,
            superadmins=turn.rules.admin_ids,
        )
    except announcements.AnnouncementError as error:
        return Refused(error.reason)
    return Applied(reference=str(row.id), row_count=row.recipients, announcement_status=row.status)


def steer(turn: Turn, command: SteerAnnouncement) -> Outcome:
    actor = _actor(turn, command.user_id)
    if actor is None:
        return Refused("not_allowed")
    try:
        if command.action == "cancel":
            announcements.cancel(turn.session, actor, command.announcement_id, turn.now)
        else:
            paused = command.action == "pause"
            announcements.set_paused(turn.session, actor, command.announcement_id, paused, turn.now)
    except announcements.AnnouncementError as error:
        return Refused(error.reason)
    return Applied(reference=str(command.announcement_id))


def switch(turn: Turn, command: SetAnnouncementsOff) -> Outcome:
    announcements.set_opt_out(turn.session, command.user_id, command.off, turn.now)
    return Applied()


HANDLERS: Handlers = {
    PrepareAnnouncement: prepare,
    SubmitAnnouncement: submit,
    DecideAnnouncement: decide,
    SteerAnnouncement: steer,
    SetAnnouncementsOff: switch,
}
