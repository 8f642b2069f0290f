"""The front door of every conversation: commands, the menu, and questions asked on top of a flow.

`respond` takes any input; `settle` takes the host's outcome of a command the engine asked for.
Both are pure and return a Turn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from flows import (
    announce,
    callbacks,
    campaign_chat,
    engine,
    ledger,
    recap,
    rights,
    signup,
    sponsorship,
    worker,
)
from flows.access import Role
from flows.callbacks import ACTION, LANGUAGE, MENU, PAGE, STATISTICS
from flows.catalog import ASN
from flows.commands import (
    ActivateCoverage,
    Applied,
    DecideAnnouncement,
    GrantStaffRole,
    InvitationOpened,
    MarkMonthDeducted,
    OpenInvitation,
    Outcome,
    Refused,
    ReissueInvitation,
    ResolveRequest,
    RevokeStaffRole,
    SetAnnouncementsOff,
    SetLanguage,
    SetReminders,
    SteerAnnouncement,
    SubmitAnnouncement,
)
from flows.context import Context
from flows.effects import (
    Apply,
    Button,
    Effect,
    Message,
    RequestAnnouncementApproval,
    ShowInvitation,
    ShowPersonalData,
    ShowRequestQueue,
    ShowStaff,
    ShowStatistics,
    ShowStatus,
    Toast,
    TrackAnnouncement,
)
from flows.engine import CANCEL, Turn
from flows.inputs import ChoicePicked, CommandIssued, Input, MediaReceived, UnsupportedReceived
from flows.languages import LANGUAGES
from flows.session import Session
from flows.steps import Flow
from flows.text import Text, t
from flows.validators import normalize_digits, parse_date, parse_int
from flows.validators.kpj import check_kpj

FLOWS: Mapping[str, Flow] = {
    signup.FLOW.id: signup.FLOW,
    sponsorship.FLOW.id: sponsorship.FLOW,
    worker.FLOW.id: worker.FLOW,
    **rights.FLOWS,
    announce.FLOW.id: announce.FLOW,
}
IDLE_AFTER = timedelta(hours=6)

PAGED_LISTS: Mapping[str, type[ShowStatus | ShowPersonalData | ShowRequestQueue | ShowStaff]] = {
    "status": ShowStatus,
    "data": ShowPersonalData,
    "queue": ShowRequestQueue,
    "staff": ShowStaff,
}
ADMIN_LISTS = frozenset({"queue", "staff"})  # pages only a superadmin may see
INVITATION_PREFIX = "w_"  # deep link start parameter of a worker's invitation
ACTION_FLOWS = {
    "inperson": ("in_person", None),
    "withdraw": ("withdraw_sponsor", None),
    "wwithdraw": ("withdraw_worker", None),
    "correct": ("correction", "sponsor"),
    "wcorrect": ("correction", "worker"),
}
REQUEST_ID_DIGITS = 9  # request ids are 32-bit integers in the database
TELEGRAM_ID_DIGITS = 18  # Telegram user ids are 64-bit integers (BIGINT in the database)
# /admin tambah <role word> ...: the words a superadmin types for a role, Indonesian and English
STAFF_ROLE_WORDS: Mapping[str, Role] = {
    "operator": Role.OPERATOR,
    "bendahara": Role.TREASURER,
    "treasurer": Role.TREASURER,
}
STAFF_ADD = frozenset({"tambah", "add"})
STAFF_REMOVE = frozenset({"hapus", "remove"})
STAFF_ACTIONS = frozenset({"staffrm", "staffrmok", "staffkeep"})
LEDGER_MARK_ACTIONS = frozenset({"lmark", "lmarkok", "lmarkno", "tmark", "tmarkok", "tmarkno"})
# Refusals of a grant or revocation the storage can give (bot.storage.staff), each worded.
STAFF_REFUSALS = frozenset(
    {
        "superadmin",
        "not_grantable",
        "no_agency",
        "treasurer_one_agency",
        "unknown_agency",
        "not_staff",
        "bad_user_id",
        "not_allowed",
    }
)
RESUME = "resume:continue"
RESTART = "resume:restart"
OPEN_INVITATION = "invite:open"
INVITATION_QUESTION = "invitation:"  # interrupt "invitation:<token>": open it, leaving a draft?

COMMANDS = {
    "start": "start",
    "mulai": "start",
    "batal": "cancel",
    "cancel": "cancel",
    "bantuan": "help",
    "help": "help",
    "kembali": "back",
    "back": "back",
    "status": "status",
    "pekerja": "sponsor",
    "daftar": "signup",
    "bahasa": "language",
    "language": "language",
    "menu": "menu",
    "data_saya": "personal_data",
    "klaim": "claim",
    "claim": "claim",
    "koreksi": "correction",
    "antrian": "queue",
    "aktifkan": "activate",
    "admin": "staff",
    "statistik": "statistics",
    "rekap": "recap",
    "berhenti_pengingat": "reminders_off",
    "pengingat_aktif": "reminders_on",
    "kampanye": "campaign",
    "pengingat": "upcoming_reminders",
    "umumkan": "announce",
    "announce": "announce",
    "berhenti": "announcements_off",
    "mulai_pengumuman": "announcements_on",
}


def knows_command(name: str) -> bool:
    """Whether /name is one of the flows' commands (any language's name, staff ones included):
    a bot hosting the flows leaves every other command to its own handlers."""
    return name.lower() in COMMANDS


def respond(session: Session, event: Input, ctx: Context) -> Turn:
    turn = _unpark(session, _respond(_known_flow(session), event, ctx))
    return Turn(turn.session.touched(ctx.now), turn.effects)


def settle(session: Session, outcome: Outcome, ctx: Context) -> Turn:
    if session.pending is not None:
        turn = _settle_pending(session.with_(pending=None), session.pending, outcome, ctx)
        turn = _unpark(session, turn)
        return Turn(turn.session.touched(ctx.now), turn.effects)
    flow = FLOWS[session.flow or ""]
    turn = engine.settle(flow, session, outcome, ctx)
    following = turn.session.then
    if following is not None and following in FLOWS:
        started = engine.start(FLOWS[following], turn.session.with_(then=None), ctx)
        turn = Turn(started.session, turn.effects + started.effects)
    turn = _unpark(session, turn)
    return Turn(turn.session.touched(ctx.now), turn.effects)


def _known_flow(session: Session) -> Session:
    """A session of a flow that no longer exists, or of an older version, starts over."""
    if session.flow is None:
        return session
    flow = FLOWS.get(session.flow)
    if flow is None or flow.version != session.version:
        return Session(seq=session.seq + 1)
    if (
        session.step is not None
        and session.step != engine.SUMMARY
        and session.step not in flow.steps
    ):
        return Session(seq=session.seq + 1)
    return session


def _unpark(before: Session, turn: Turn) -> Turn:
    """A draft put aside for an invitation stays aside while anything else goes on, and is
    offered again (continue, start over or cancel) as soon as nothing does."""
    after = turn.session
    parked = after.parked if after.parked is not None else before.parked
    if parked is None:
        return turn
    if after.active or after.interrupt is not None or after.pending is not None:
        return Turn(after.with_(parked=parked), turn.effects)
    restored = _known_flow(Session.from_json(parked))
    if not restored.active:  # a draft of a flow that changed since: nothing to offer
        return Turn(after.with_(parked=None), turn.effects)
    asking = restored.with_(seq=after.seq + 1, interrupt="resume", parked=None)
    return Turn(asking, (*turn.effects, _resume_message(asking)))


def _flow(session: Session) -> Flow:
    return FLOWS[session.flow or ""]


def _respond(session: Session, event: Input, ctx: Context) -> Turn:
    if session.flow == announce.FLOW_ID and session.step == "body":
        event = announce.as_answer(event)  # the text's formatting, or a photo or document
    elif isinstance(event, MediaReceived):
        event = UnsupportedReceived(event.kind)
    if isinstance(event, CommandIssued):
        return _command(session, event, ctx)
    if isinstance(event, ChoicePicked):
        return _choice(session, event, ctx)
    if session.interrupt is not None:
        return _ask_interrupt(session, ctx, note=t("answer.press_a_button"))
    if session.active:
        if _idle(session, ctx.now):
            return _continue(
                session,
                ctx,
                note=t("resume.welcome_back", flow=_flow(session).title_in(session.answers)),
            )
        return engine.answer(_flow(session), session, event, ctx)
    if not ctx.user.registered:
        return _welcome(session, ctx)  # a worker's menu, or the welcome and the sign-up
    return Turn(session, (_menu_message(ctx, t("menu.not_understood")),))


def _newcomer(ctx: Context) -> bool:
    """Neither an ASN nor a worker: the welcome, the language and the ASN sign-up."""
    return not ctx.user.registered and not ctx.user.is_worker


def _worker_only(ctx: Context) -> bool:
    return ctx.user.is_worker and not ctx.user.registered


def _idle(session: Session, now: datetime) -> bool:
    if session.updated_at is None:
        return False
    try:
        return now - datetime.fromisoformat(session.updated_at) > IDLE_AFTER
    except (TypeError, ValueError):
        return False


# --- buttons ----------------------------------------------------------------------------------


def _choice(session: Session, event: ChoicePicked, ctx: Context) -> Turn:
    value = event.value
    # Menu and language buttons mean the same whenever they are pressed: they never go stale.
    if value.startswith(MENU):
        return _menu_action(session, value[len(MENU) :], ctx)
    if value.startswith(LANGUAGE):
        return _language_picked(session, value[len(LANGUAGE) :], ctx)
    if value.startswith(ACTION):
        return _action(session, value[len(ACTION) :], ctx)
    if value.startswith(PAGE):
        return _page(session, value[len(PAGE) :], ctx)
    if value.startswith(STATISTICS):
        return _statistics_picked(session, value[len(STATISTICS) :], ctx)
    if event.seq != session.seq:
        return Turn(session, (Toast(t("toast.stale")),))
    if value == CANCEL:
        return _cancel(session)
    if session.interrupt == "resume" and value in (RESUME, RESTART):
        resumed = session.with_(interrupt=None)
        if value == RESUME or not engine.can_restart(_flow(resumed), resumed):
            return _continue(resumed, ctx)
        return engine.restart(_flow(resumed), resumed, ctx)
    question = session.interrupt or ""
    if question.startswith(INVITATION_QUESTION) and value in (OPEN_INVITATION, RESUME):
        resumed = session.with_(interrupt=None)
        if value == RESUME:
            return _continue(resumed, ctx)
        return _open_invitation(resumed, question[len(INVITATION_QUESTION) :], ctx)
    if session.interrupt is None and session.active:
        return engine.answer(_flow(session), session, event, ctx)
    return Turn(session, (Toast(t("toast.stale")),))


# --- commands ---------------------------------------------------------------------------------


def _command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    action = COMMANDS.get(event.name.lower(), "")
    if action in MENU_COMMANDS:
        return _menu_action(session, action, ctx)
    handler = _COMMAND_HANDLERS.get(action, _unknown_command)
    return handler(session, event, ctx)


def _start_command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    if event.argument.startswith(INVITATION_PREFIX):
        token = event.argument[len(INVITATION_PREFIX) :]
        if session.active and session.flow != worker.FLOW_ID:
            # Never drop a half-filled draft without asking: keep it aside, or stay with it.
            asking = session.with_(interrupt=INVITATION_QUESTION + token, seq=session.seq + 1)
            return Turn(asking, (_invitation_question(asking),))
        return _open_invitation(session, token, ctx)
    if session.active:
        return _offer_resume(session)
    return _welcome(session.with_(interrupt=None), ctx)


def _personal_data_command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    return Turn(session, (ShowPersonalData(),))


def _correction_command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    if not ctx.user.registered:
        return Turn(session, (_menu_message(ctx, t("rights.correction_how")),))
    if session.active:
        return _offer_resume(session)
    return engine.start(FLOWS["correction"], session, ctx, {"subject": "sponsor"})


def _admin_command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    """/antrian and /aktifkan: to anyone but an admin, commands that do not exist."""
    if not ctx.user.is_admin:
        return Turn(session, (_menu_message(ctx, t("command.unknown", command="/" + event.name)),))
    if COMMANDS[event.name.lower()] == "queue":
        return Turn(session, (ShowRequestQueue(),))
    return _activate(session, event.argument, ctx)


def _unknown_command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    unknown = t("command.unknown", command="/" + event.name)
    if session.active:
        return _continue(session, ctx, note=unknown)
    return Turn(session, (_menu_message(ctx, unknown),))


def _staff_command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    """/admin: the superadmins' staff list; /admin tambah operator KODE1,KODE2 ID, /admin tambah
    bendahara KODE ID, /admin hapus ID. To anyone but a superadmin, a command that does not
    exist. The host checks again that the actor is a superadmin and the agencies exist."""
    if not ctx.user.is_admin:
        return _unknown_command(session, event, ctx)
    words = normalize_digits(event.argument).split()
    if not words:
        return Turn(session, (ShowStaff(),))
    verb = words[0].lower()
    if verb in STAFF_ADD and len(words) == 4:
        role = STAFF_ROLE_WORDS.get(words[1].lower())
        typed = [code.strip() for code in words[2].split(",") if code.strip()]
        target = parse_int(words[3], max_digits=TELEGRAM_ID_DIGITS)
        if role is not None and typed and target is not None and target > 0:
            # A regency's code (a deployment of several) stands for all its agencies.
            found = {code: ctx.catalog.agency_codes(code) for code in typed}
            unknown = [code for code, known in found.items() if known is None]
            if unknown:
                return Turn(
                    session, (Message(t("staff.unknown_agency", codes=", ".join(unknown))),)
                )
            codes = tuple(dict.fromkeys(c for known in found.values() for c in known or ()))
            grant = GrantStaffRole(ctx.user.user_id, target, role.value, codes)
            granting = session.with_(pending="staff_grant")
            return Turn(granting, (Apply(grant, awaits_outcome=True),))
    if verb in STAFF_REMOVE and len(words) == 2:
        target = parse_int(words[1], max_digits=TELEGRAM_ID_DIGITS)
        if target is not None and target > 0:
            return _revoke(session, target, ctx)
    return Turn(session, (Message(t("staff.usage")),))


def _revoke(session: Session, target: int, ctx: Context) -> Turn:
    revoke = RevokeStaffRole(ctx.user.user_id, target)
    return Turn(session.with_(pending="staff_revoke"), (Apply(revoke, awaits_outcome=True),))


def _staff_action(session: Session, name: str, argument: str, ctx: Context) -> Turn:
    """A button of the staff list. Only a superadmin's press counts: anyone else pressing the
    same data (forged) is refused and nothing changes; storage checks the actor again."""
    if not ctx.user.is_admin:
        return Turn(session, (Toast(t("toast.not_allowed")),))
    target = parse_int(argument, max_digits=TELEGRAM_ID_DIGITS)
    if target is None or target <= 0:  # forged or mangled: not an id we could have sent
        return Turn(session, (Toast(t("toast.stale")),))
    if name == "staffkeep":
        return Turn(session, (Message(t("staff.kept")),))
    if name == "staffrmok":
        return _revoke(session, target, ctx)
    buttons = (
        (
            Button(t("button.staff_remove_confirm"), callbacks.action("staffrmok", target)),
            Button(t("button.staff_keep"), callbacks.action("staffkeep", target)),
        ),
    )
    return Turn(
        session, (Message(t("staff.confirm_remove", user_id=str(target)), buttons=buttons),)
    )


def _statistics_command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    """/statistik [KODE]: for superadmins, operators and treasurers, within their agencies; to
    anyone else a command that does not exist."""
    if ctx.user.scope is None:
        return _unknown_command(session, event, ctx)
    code = event.argument.strip()
    if not code:
        return Turn(session, (ShowStatistics(),))
    if ctx.catalog.regencies and ctx.catalog.regency(code) is not None:
        # A regency of a deployment of several, if the scope reaches it; the host reads it
        # again within the scope.
        scope = ctx.user.scope
        if not any(scope.covers(a.code) for a in ctx.catalog.agencies_of(code)):
            return Turn(session, (Message(t("stats.not_allowed")),))
        return Turn(session, (ShowStatistics(regency=code),))
    if not _may_see(ctx, code):
        return Turn(session, (Message(t("stats.not_allowed")),))
    return Turn(session, (ShowStatistics(agency=code),))


def _statistics_picked(session: Session, code: str, ctx: Context) -> Turn:
    """An agency's button under /statistik. Checked like a command: the button carries only a
    code, and a forged one for an agency outside the scope shows nothing of it."""
    if ctx.user.scope is None:
        return Turn(session, (Toast(t("toast.stale")),))
    if not _may_see(ctx, code):
        return Turn(session, (Toast(t("stats.not_allowed")),))
    return Turn(session, (ShowStatistics(agency=code),))


def _may_see(ctx: Context, code: str) -> bool:
    scope = ctx.user.scope
    return scope is not None and ctx.catalog.agency(code) is not None and scope.covers(code)


def _ledger_mark_action(session: Session, name: str, argument: str, ctx: Context) -> Turn:
    """The buttons marking a month deducted under /rekap: the question, its confirmation and its
    cancel. A press by anyone who may not mark (flows.ledger.may_mark) or for an agency outside
    their scope is refused here; the host checks the actor's role again when it marks. The
    t-buttons (tmark, tmarkok, tmarkno) do the same for the transfers of sponsors without a NIP,
    marked paid (issue 12)."""
    transfers = name.startswith("t")
    name = "l" + name[1:]
    if name == "lmark":
        question = recap.mark_question(argument, ctx.user.scope, ctx.catalog, transfers)
        return Turn(session, (question,))
    scope = ctx.user.scope
    if scope is None:
        return Turn(session, (Toast(t("toast.stale")),))
    if name == "lmarkno":
        return Turn(session, (Message(t("ledger_mark.cancelled")),))
    target = recap.mark_target(argument, with_count=False)
    if target is None:
        return Turn(session, (Toast(t("toast.stale")),))
    month, _count, agency = target
    if not ledger.may_mark(scope) or (agency is not None and not scope.covers(agency)):
        return Turn(session, (Toast(t("toast.not_allowed")),))
    mark = MarkMonthDeducted(ctx.user.user_id, month, agency, transfers=transfers)
    pending = "transfer_mark" if transfers else "ledger_mark"
    return Turn(session.with_(pending=pending), (Apply(mark, awaits_outcome=True),))


def _recap_command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    """/rekap: to anyone without a scope (treasurer, operator, superadmin), a command that does
    not exist."""
    scope = ctx.user.scope
    if scope is None:
        return _unknown_command(session, event, ctx)
    return Turn(session, (recap.command(event.argument, scope, ctx.now),))


def _cancel_command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    return _cancel(session)


def _help_command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    if session.active and session.interrupt is None:
        return engine.help_for(_flow(session), session, ctx)
    return Turn(session, (_menu_message(ctx, _general_help(ctx)),))


def _back_command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    if session.active and session.interrupt is None:
        return engine.back(_flow(session), session, ctx)
    return Turn(session, (Message(t("nav.nothing_to_go_back")),))


def _language_command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    return _ask_interrupt(session.with_(interrupt="language", seq=session.seq + 1), ctx)


MENU_COMMANDS = frozenset({"status", "sponsor", "signup", "menu"})


def _reminders_command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    """/berhenti_pengingat and /pengingat_aktif: optional reminders off or on again."""
    off = COMMANDS[event.name.lower()] == "reminders_off"
    said = t("reminders.stopped" if off else "reminders.resumed")
    effects: list[Effect] = [Apply(SetReminders(ctx.user.user_id, off)), Message(said)]
    if session.active:
        effects.append(_current_question(session, ctx))
    return Turn(session, tuple(effects))


def _campaign_command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    """/kampanye: superadmins only; to anyone else a command that does not exist."""
    if not ctx.user.is_admin:
        return _unknown_command(session, event, ctx)
    return Turn(session, campaign_chat.campaign_command(event.argument, ctx))


def _upcoming_reminders_command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    """/pengingat: superadmins and operators (within their agencies)."""
    if not campaign_chat.may_view(ctx):
        return _unknown_command(session, event, ctx)
    return Turn(session, campaign_chat.upcoming_command(event.argument, ctx))


_COMMAND_HANDLERS: Mapping[str, Callable[[Session, CommandIssued, Context], Turn]] = {
    "start": _start_command,
    "reminders_off": _reminders_command,
    "reminders_on": _reminders_command,
    "campaign": _campaign_command,
    "upcoming_reminders": _upcoming_reminders_command,
    "personal_data": _personal_data_command,
    "claim": lambda s, e, c: _menu_action(s, "claim", c),
    "correction": _correction_command,
    "queue": _admin_command,
    "activate": _admin_command,
    "staff": _staff_command,
    "statistics": _statistics_command,
    "recap": _recap_command,
    "announce": lambda s, e, c: _announce_command(s, e, c),
    "announcements_off": lambda s, e, c: _announcements_switch(s, c, off=True),
    "announcements_on": lambda s, e, c: _announcements_switch(s, c, off=False),
    "cancel": _cancel_command,
    "help": _help_command,
    "back": _back_command,
    "language": _language_command,
}


def _open_invitation(session: Session, token: str, ctx: Context) -> Turn:
    """Open an invitation; a draft being filled in is parked, to be offered again afterwards."""
    # Another invitation replaces a worker's flow (nothing of theirs to lose); without a draft
    # here, _unpark carries one parked earlier.
    keep = session.active and session.flow != worker.FLOW_ID
    parked = session.with_(interrupt=None).to_json() if keep else None
    opening = Session(seq=session.seq + 1, pending="invitation", parked=parked)
    return Turn(opening, (Apply(OpenInvitation(ctx.user.user_id, token), awaits_outcome=True),))


def _invitation_question(session: Session) -> Message:
    return Message(
        t("invitation.open_over_draft", flow=_flow(session).title_in(session.answers)),
        buttons=(
            (Button(t("button.open_invitation"), OPEN_INVITATION),),
            (Button(t("button.resume"), RESUME),),
        ),
        seq=session.seq,
    )


def _menu_action(session: Session, action: str, ctx: Context) -> Turn:
    if action == "status":
        effects: list[Effect] = [ShowStatus()]
        if session.active:
            effects.append(_current_question(session, ctx))
        return Turn(session, tuple(effects))
    if action == "language":
        return _ask_interrupt(session.with_(interrupt="language", seq=session.seq + 1), ctx)
    if action == "help":
        return Turn(session, (_menu_message(ctx, _general_help(ctx)),))
    if action == "personal_data":
        return Turn(session, (ShowPersonalData(),))
    if action in ("claim", "privacy"):
        told = _claim_text(ctx) if action == "claim" else _full_privacy(session, ctx)
        shown: list[Effect] = [Message(told)]
        if session.active and session.interrupt is None:
            shown.append(_current_question(session, ctx))  # the question stays the last message
        return Turn(session, tuple(shown))
    if action == "menu":
        return Turn(session, (_menu_message(ctx, t("menu.title")),))
    if action == "resume":  # a reminder's button: back to the very step, asked again
        if session.active:
            return _continue(session.with_(interrupt=None), ctx)
        return Turn(session, (_menu_message(ctx, t("menu.title")),))
    if session.active:
        return _offer_resume(session)
    if action == "signup" or not ctx.user.registered:
        if ctx.user.registered:
            name = ctx.user.sponsor_name or ""
            funder = ctx.user.funder_type
            already = (
                t("signup.already", name=name)
                if funder == ASN
                else t("funder.already", name=name, funder=ctx.catalog.funder_label(funder))
            )
            return Turn(session, (_menu_message(ctx, already),))
        return _start_signup(session, ctx)
    # The limit of the sponsor's funder type (a village sponsors many); storage checks it too.
    if ctx.user.open_sponsorships >= ctx.catalog.max_sponsorships_for(ctx.user.funder_type):
        return Turn(session, (_menu_message(ctx, sponsorship.limit_reached(ctx)),))
    return engine.start(FLOWS[sponsorship.FLOW_ID], session, ctx)


def _action(session: Session, action: str, ctx: Context) -> Turn:
    name, _, argument = action.partition(":")
    if name == "reinvite" and argument:
        reissue = ReissueInvitation(ctx.user.user_id, argument)
        return Turn(session.with_(pending="reinvite"), (Apply(reissue, awaits_outcome=True),))
    if name in STAFF_ACTIONS:
        return _staff_action(session, name, argument, ctx)
    if name in ("rekap", "trekap"):
        pressed = recap.pressed(argument, ctx.user.scope, transfers=name == "trekap")
        return Turn(session, (pressed,))
    if name in ("kampanye", "kampanyeno"):
        if not ctx.user.is_admin:
            return Turn(session, (Toast(t("toast.stale")),))
        return Turn(session, campaign_chat.campaign_pressed(name, argument, ctx))
    if name in LEDGER_MARK_ACTIONS:
        return _ledger_mark_action(session, name, argument, ctx)
    if name == "annoff":
        return _announcements_switch(session, ctx, off=True)
    if name in callbacks.ANNOUNCEMENT_ACTIONS:
        return _announcement_action(session, name, argument, ctx)
    if name == "resolve" and ctx.user.is_admin:
        request_id = parse_int(argument, max_digits=REQUEST_ID_DIGITS)
        if request_id is None:  # forged or mangled: not a number we could have sent
            return Turn(session, (Toast(t("toast.stale")),))
        resolving = session.with_(pending="resolve")
        command = ResolveRequest(ctx.user.user_id, request_id, ctx.now)
        return Turn(resolving, (Apply(command, awaits_outcome=True),))
    if name not in ACTION_FLOWS or not argument:
        return Turn(session, (Toast(t("toast.stale")),))
    if session.active:  # never drop a half-filled draft without asking
        return _offer_resume(session)
    flow_id, subject = ACTION_FLOWS[name]
    answers = {"reference": "" if argument == "-" else argument}
    if subject is not None:
        answers["subject"] = subject
    return engine.start(FLOWS[flow_id], session, ctx, answers)


def _page(session: Session, value: str, ctx: Context) -> Turn:
    """Another page of a long list: like the menu, it never goes stale (the list is read again)."""
    name, _, number = value.partition(":")
    show = PAGED_LISTS.get(name)
    valid = number.isascii() and number.isdigit() and len(number) <= 4
    if show is None or not valid or (name in ADMIN_LISTS and not ctx.user.is_admin):
        return Turn(session, (Toast(t("toast.stale")),))
    return Turn(session, (show(page=int(number)),))


def _activate(session: Session, argument: str, ctx: Context) -> Turn:
    """/aktifkan REFERENCE KPJ DATE: one activation from the admin chat. Digits of any script
    are read as ASCII; the date in any form validators.parse_date reads ("2026-12-01",
    "01/12/2026", "1 Desember 2026")."""
    parts = normalize_digits(argument).split()
    if len(parts) < 3:
        return Turn(session, (Message(t("admin.activate_usage")),))
    reference, kpj_text, start_text = parts[0], parts[1], " ".join(parts[2:])
    kpj = check_kpj(kpj_text)
    start = parse_date(start_text)
    if kpj is None or start is None:
        return Turn(session, (Message(t("admin.activate_usage")),))
    command = ActivateCoverage(reference.upper(), kpj, start, ctx.user.user_id)
    return Turn(session.with_(pending="activate"), (Apply(command, awaits_outcome=True),))


def _settle_pending(session: Session, pending: str, outcome: Outcome, ctx: Context) -> Turn:
    if pending == "invitation":
        if isinstance(outcome, InvitationOpened):
            details = outcome.details
            agency = ctx.catalog.agency(details.agency_code)
            answers = worker.answers_from(details, agency.name if agency else details.agency_code)
            return engine.start(FLOWS[worker.FLOW_ID], session, ctx, answers)
        reason = outcome.reason if isinstance(outcome, Refused) else "invitation_unknown"
        if reason not in worker.INVITATION_REFUSALS:
            reason = "invitation_unknown"
        return Turn(session, (Message(t(f"invitation.{reason}")),))
    if pending in ("staff_grant", "staff_revoke"):
        return _staff_settled(session, pending, outcome)
    if pending.startswith("announce"):
        return _announcement_settled(session, pending, outcome)
    if pending in ("ledger_mark", "transfer_mark"):
        if isinstance(outcome, Applied) and outcome.row_count is not None:
            done = "ledger_mark.done" if pending == "ledger_mark" else "funder2.transfer_mark_done"
            return Turn(session, (Message(t(done, rows=outcome.row_count)),))
        refused = isinstance(outcome, Refused) and outcome.reason == "not_allowed"
        return Turn(
            session, (Message(t("ledger_mark.refused" if refused else "error.unexpected")),)
        )
    if isinstance(outcome, Refused):
        key = (
            f"refusal.{outcome.reason}" if outcome.reason in rights.REFUSALS else "error.unexpected"
        )
        return Turn(session, (Message(t(key)),))
    if pending == "resolve":
        return Turn(session, (Message(t("admin.resolved")), ShowRequestQueue()))
    if pending == "reinvite" and isinstance(outcome, Applied) and outcome.invitation_token:
        invitation = ShowInvitation(outcome.reference or "", outcome.invitation_token, "")
        return Turn(session, (Message(t("invite.reissued")), invitation))
    return Turn(session, (Message(t("admin.activated")),))


def _staff_settled(session: Session, pending: str, outcome: Outcome) -> Turn:
    if isinstance(outcome, Refused):
        reason = outcome.reason if outcome.reason in STAFF_REFUSALS else None
        key = f"staff.refused.{reason}" if reason else "error.unexpected"
        return Turn(session, (Message(t(key)),))
    if pending == "staff_revoke":
        return Turn(session, (Message(t("staff.removed")), ShowStaff()))
    replaced = outcome.replaced_role if isinstance(outcome, Applied) else None
    if replaced is not None:
        done = t("staff.granted_replacing", previous=t(f"staff.role.{replaced}"))
    else:
        done = t("staff.granted")
    return Turn(session, (Message(done), ShowStaff()))


def _announce_command(session: Session, event: CommandIssued, ctx: Context) -> Turn:
    """/umumkan: superadmins and operators compose an announcement; to anyone else, a command
    that does not exist (as /admin)."""
    if not announce.may_announce(ctx):
        return _unknown_command(session, event, ctx)
    if session.active:
        return _offer_resume(session)
    return engine.start(FLOWS[announce.FLOW_ID], session, ctx)


def _announcements_switch(session: Session, ctx: Context, *, off: bool) -> Turn:
    """/berhenti and the button under every announcement (off), /mulai_pengumuman (on)."""
    switch = Apply(SetAnnouncementsOff(ctx.user.user_id, off), awaits_outcome=True)
    pending = "announce_off" if off else "announce_on"
    return Turn(session.with_(pending=pending), (switch,))


def _announcement_action(session: Session, name: str, argument: str, ctx: Context) -> Turn:
    """The buttons under a preview, an approval request and a progress message. Only staff who
    may announce count; storage checks again who may act on which announcement."""
    announcement_id = parse_int(argument, max_digits=REQUEST_ID_DIGITS)
    if announcement_id is None:
        return Turn(session, (Toast(t("toast.stale")),))
    if not announce.may_announce(ctx):
        return Turn(session, (Toast(t("toast.not_allowed")),))
    if name == "annedit":
        if session.active:
            return _offer_resume(session)
        return engine.start(FLOWS[announce.FLOW_ID], session, ctx)
    if name == "anncancel":
        steer = SteerAnnouncement(ctx.user.user_id, announcement_id, "cancel")
        return Turn(session.with_(pending="announce_drop"), (Apply(steer, awaits_outcome=True),))
    if name == "annsend":
        submit = SubmitAnnouncement(ctx.user.user_id, announcement_id)
        return Turn(session.with_(pending="announce_send"), (Apply(submit, awaits_outcome=True),))
    if name in ("annok", "annrej"):
        if not ctx.user.is_admin:
            return Turn(session, (Toast(t("toast.not_allowed")),))
        decide = DecideAnnouncement(ctx.user.user_id, announcement_id, name == "annok")
        pending = "announce_approve" if name == "annok" else "announce_reject"
        return Turn(session.with_(pending=pending), (Apply(decide, awaits_outcome=True),))
    steering = {"annpause": "pause", "annresume": "resume", "annstop": "cancel"}
    steer = SteerAnnouncement(ctx.user.user_id, announcement_id, steering[name])  # type: ignore[arg-type]
    return Turn(session.with_(pending="announce_steer"), (Apply(steer, awaits_outcome=True),))


ANNOUNCEMENT_REFUSALS = frozenset(
    {"unknown", "wrong_state", "own_approval", "not_superadmin", "empty", "not_allowed"}
)


def _announcement_settled(session: Session, pending: str, outcome: Outcome) -> Turn:
    if isinstance(outcome, Refused):
        reason = outcome.reason if outcome.reason in ANNOUNCEMENT_REFUSALS else None
        key = f"announce.refused.{reason}" if reason else "error.unexpected"
        return Turn(session, (Message(t(key)),))
    if pending == "announce_off":
        return Turn(session, (Message(t("announce.off_done")),))
    if pending == "announce_on":
        return Turn(session, (Message(t("announce.on_done")),))
    if pending == "announce_drop":
        return Turn(session, (Message(t("announce.dropped")),))
    if pending == "announce_reject":
        return Turn(session, (Message(t("announce.rejected")),))
    if pending == "announce_steer":
        return Turn(session, (Toast(t("announce.steered")),))
    applied = outcome if isinstance(outcome, Applied) else Applied()
    announcement_id = int(applied.reference or 0)
    count = applied.row_count or 0
    if pending == "announce_send" and applied.announcement_status == "awaiting_approval":
        waiting = Message(t("announce.awaiting_approval", count=count))
        return Turn(session, (waiting, RequestAnnouncementApproval(announcement_id)))
    done = "announce.approved" if pending == "announce_approve" else "announce.queued"
    return Turn(session, (Message(t(done, count=count)), TrackAnnouncement(announcement_id)))


def _cancel(session: Session) -> Turn:
    if not session.active and session.interrupt is None:
        return Turn(session, (Message(t("cancel.nothing"), remove_keyboard=True),))
    cleared = Session(seq=session.seq + 1)
    return Turn(cleared, (Message(t("cancel.done"), remove_keyboard=True),))


# --- questions on top of a flow ---------------------------------------------------------------


def _general_help(ctx: Context) -> Text:
    """The commands this user can use: members of staff (any scope) also read /rekap and
    /statistik, which answer everyone else as unknown commands."""
    general = t("help.worker") if _worker_only(ctx) else t("help.general")
    return general if ctx.user.scope is None else t("help.staff", general=general)


def _claim_text(ctx: Context) -> Text:
    """/klaim: how a worker or the heirs claim, with the programme's figures."""
    b = ctx.catalog.benefits
    return t(
        "claim.how",
        death_benefit=b.death_benefit,
        children=b.scholarship_children,
        years=b.scholarship_after_years,
    )


def _full_privacy(session: Session, ctx: Context) -> Text:
    """The full privacy notice behind "Baca selengkapnya": the worker's while their invitation
    is open or once they are a worker only; the ASN's otherwise."""
    worker_side = session.flow == worker.FLOW_ID or _worker_only(ctx)
    key = "privacy_2026_12.worker_full" if worker_side else "privacy_2026_12.sponsor_full"
    return t(key, **ctx.catalog.controller_params())


def _start_signup(session: Session, ctx: Context) -> Turn:
    """The ASN's sign-up, after their short privacy notice (the full text a button away)."""
    started = engine.start(FLOWS[signup.FLOW_ID], session, ctx)
    notice = Message(
        t("privacy_2026_12.sponsor_notice", **ctx.catalog.controller_params()),
        buttons=((Button(t("told.read_more"), callbacks.menu("privacy")),),),
    )
    return Turn(started.session, (notice, *started.effects))


def _welcome_text(ctx: Context) -> Text:
    """The welcome names the sponsored package and its amount as the operator configured them."""
    programme = ctx.catalog.default_programme
    return t(
        "welcome",
        programme=programme.label,
        amount=programme.monthly_amount,
        benefits=ctx.catalog.benefits_text(),
    )


def _welcome(session: Session, ctx: Context) -> Turn:
    if _worker_only(ctx):
        # Came through their invitation, in the language their sponsor chose for them; the menu
        # has the language button.
        worker_menu = t("menu.worker", benefits=ctx.catalog.benefits_text())
        return Turn(session, (_menu_message(ctx, worker_menu),))
    if ctx.user.language is None:
        asking = session.with_(interrupt="language", then="start", seq=session.seq + 1)
        return Turn(
            asking, (Message(_welcome_text(ctx), buttons=_language_buttons(), seq=asking.seq),)
        )
    if ctx.user.registered:
        return Turn(
            session, (_menu_message(ctx, t("welcome_back", name=ctx.user.sponsor_name or "")),)
        )
    started = _start_signup(session, ctx)
    return Turn(started.session, (Message(_welcome_text(ctx)), *started.effects))


def _language_buttons() -> tuple[tuple[Button, ...], ...]:
    return tuple(
        (Button(t(f"languages.option.{code}"), callbacks.language(code)),) for code in LANGUAGES
    )


def _ask_interrupt(session: Session, ctx: Context, note: Text | None = None) -> Turn:
    effects: list[Effect] = []
    if note is not None:
        effects.append(Message(note))
    if session.interrupt == "language":
        effects.append(Message(t("language.choose"), buttons=_language_buttons(), seq=session.seq))
        return Turn(session, tuple(effects))
    if (session.interrupt or "").startswith(INVITATION_QUESTION):
        return Turn(session, (*effects, _invitation_question(session)))
    return Turn(session, (*effects, _resume_message(session)))


def _language_picked(session: Session, language: str, ctx: Context) -> Turn:
    if language not in LANGUAGES:
        return Turn(session, (Toast(t("toast.stale")),))
    changed: tuple[Effect, ...] = (
        Apply(SetLanguage(ctx.user.user_id, language)),
        Message(t("language.saved")),
    )
    then = session.then
    resumed = session.with_(interrupt=None, then=None)
    if resumed.active:
        return Turn(resumed, (*changed, _current_question(resumed, ctx)))
    if then == "start" and _newcomer(ctx):
        started = _start_signup(resumed, ctx)
        return Turn(started.session, (*changed, *started.effects))
    return Turn(resumed, (*changed, _menu_message(ctx, t("menu.title"))))


def _offer_resume(session: Session) -> Turn:
    asking = session.with_(interrupt="resume", seq=session.seq + 1)
    return Turn(asking, (_resume_message(asking),))


def _resume_message(session: Session) -> Message:
    flow = _flow(session)
    rows: list[tuple[Button, ...]] = [(Button(t("button.resume"), RESUME),)]
    if engine.can_restart(flow, session):
        rows.append((Button(t("button.restart"), RESTART),))
    rows.append((Button(t("button.cancel"), CANCEL),))
    offer = "resume.offer" if len(rows) == 3 else "resume.offer_continue"
    title = flow.title_in(session.answers)
    return Message(t(offer, flow=title), buttons=tuple(rows), seq=session.seq)


def _continue(session: Session, ctx: Context, note: Text | None = None) -> Turn:
    # A new prompt number: buttons of the older copies of the question stop counting.
    again = session.with_(seq=session.seq + 1, failures=0)
    effects: list[Effect] = [] if note is None else [Message(note)]
    effects.append(_current_question(again, ctx))
    return Turn(again, tuple(effects))


def _current_question(session: Session, ctx: Context) -> Message:
    return engine.prompt(_flow(session), session, ctx)


def _menu_message(ctx: Context, text: Text) -> Message:
    rows: list[tuple[Button, ...]] = []
    if ctx.user.registered:
        rows.append((Button(t("button.sponsor"), callbacks.menu("sponsor")),))
        rows.append((Button(t("button.status"), callbacks.menu("status")),))
    elif ctx.user.is_worker:
        rows.append((Button(t("button.worker_status"), callbacks.menu("status")),))
        rows.append((Button(t("button.personal_data"), callbacks.menu("personal_data")),))
    else:
        rows.append((Button(t("button.signup"), callbacks.menu("signup")),))
    rows.append(
        (
            Button(t("button.language"), callbacks.menu("language")),
            Button(t("button.help"), callbacks.menu("help")),
        )
    )
    return Message(t("menu.with_text", text=text), buttons=tuple(rows))
