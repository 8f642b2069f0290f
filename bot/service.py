"""Handling one update, whatever the transport:

per-user lock -> answers still owed -> skip a processed update -> load session -> engine -> ONE
transaction: commands, outcomes fed back, new session, the update marked processed, the answer
-> send the answer -> forget it.

"Saved" is said only after the commit; a repeated update or a double-pressed button changes nothing
twice (the turn journal, prompt numbers, idempotency keys and unique constraints). A process that
dies mid-turn leaves either nothing (the redelivery is handled afresh) or a committed turn whose
answer the redelivery, or else the user's next update, sends (bot.storage.state.TurnJournal).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import io
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from functools import partial
from html import escape
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import announcements as announcement_views
from bot import answers, presenters, reminder_text
from bot.catalog import ProgrammeSettings
from bot.delivery.budget import DEFAULT_RATE, RateBudget
from bot.exports import deductions as deduction_workbook
from bot.exports import qr
from bot.exports import recap as recap_views
from bot.exports import transfers as transfers_export
from bot.exports.statement_pdf import statement_pdf
from bot.i18n import DEFAULT_LANGUAGE, Renderer, text_hash, zone_name
from bot.statistics_render import chat as statistics_chat
from bot.statistics_render.workbook import write_workbook
from bot.storage import audit
from bot.storage.audit import Actor
from bot.storage.exports import REFUSED, DeductionRow
from bot.storage.ports import SessionStore, UserLocks
from bot.storage.reminders import Zones, track_unfinished
from bot.storage.repository import (
    ConsentStatement,
    Repository,
    Transaction,
    UserRecord,
    log_outcomes,
)
from bot.storage.state import (
    STORE_ERRORS,
    OpenTurn,
    Prepared,
    TurnAlreadyCommitted,
    TurnJournal,
    TurnResult,
)
from bot.storage.statistics import Statistics
from bot.transport import Outgoing, Transport, split_message
from flows import announce, callbacks, recap, router, worker
from flows.access import Role, Scope
from flows.commands import SetLanguage
from flows.context import Context, UserFacts
from flows.effects import (
    Apply,
    Effect,
    ForgetUserMessage,
    Message,
    RequestAnnouncementApproval,
    SendDeductionRecap,
    SendStatementCopy,
    ShowAnnouncementPreview,
    ShowCampaign,
    ShowInvitation,
    ShowPersonalData,
    ShowRequestQueue,
    ShowStaff,
    ShowStatistics,
    ShowStatus,
    ShowUpcomingReminders,
    Toast,
    TrackAnnouncement,
)
from flows.engine import Turn
from flows.formatting import long_date, month_year
from flows.inputs import ChoicePicked, Input, TextReceived
from flows.reminders import Reminder, per_day
from flows.router import INVITATION_PREFIX
from flows.session import Session
from flows.text import Raw, Text, t

logger = logging.getLogger(__name__)

TEXT_LIMIT = 4096  # characters after entity parsing; HTML is longer, so this errs on the safe side


@dataclass(frozen=True)
class Incoming:
    """An update as the service needs it; transports build it from their own update types."""

    update_id: int
    user_id: int
    chat_id: int
    input: Input
    callback_query_id: str | None = None
    callback_message_id: int | None = None
    pressed_label: str | None = None  # the label of the button pressed, as the user saw it
    pressed_message_html: str | None = None  # the text of the message the button was on


class Handled(enum.Enum):
    """What became of an update (a webhook may answer non-2XX for BUSY and FAILED, so that
    Telegram delivers it again: nothing of it was saved)."""

    ANSWERED = "answered"  # its turn committed now (or earlier, and its answer was owed)
    DUPLICATE = "duplicate"  # its turn committed and was answered before: nothing done
    BUSY = "busy"  # a store failed or was too slow: nothing saved, the user told to retry
    FAILED = "failed"  # an unexpected error: nothing saved, the user got the apology
    # Not the flows' (handle(..., only_in_conversation=True) and the user is in no
    # conversation): nothing done, nothing recorded; the host's own handlers may take it.
    DECLINED = "declined"


Concluded = tuple[dict[str, Any], dict[str, Any]]
"""A turn's new session document and its answer (JSON, as the turn journal keeps them)."""


class Committed(NamedTuple):
    document: dict[str, Any]
    answer: dict[str, Any]


class StatementFile(NamedTuple):
    """A statement copy ready to send (ConversationService._statement_copy)."""

    pdf: bytes
    name: str
    caption: str


class InvitationParts(NamedTuple):
    """An invitation ready to show (ConversationService._invitation): its QR code and caption,
    and the message to forward."""

    png: bytes
    caption: str
    forward: Outgoing


class Drawings:
    """The files of an answer being drawn, by the index of their effect: each a task begun when
    the answer was prepared, taken when its effect's turn to be sent comes."""

    def __init__(self) -> None:
        self._statements: dict[int, asyncio.Task[StatementFile]] = {}
        self._invitations: dict[int, asyncio.Task[InvitationParts]] = {}

    def statement(self, index: int, drawing: Coroutine[Any, Any, StatementFile]) -> None:
        self._statements[index] = asyncio.ensure_future(drawing)

    def invitation(self, index: int, drawing: Coroutine[Any, Any, InvitationParts]) -> None:
        self._invitations[index] = asyncio.ensure_future(drawing)

    async def take_statement(self, index: int) -> StatementFile:
        return await self._statements.pop(index)

    async def take_invitation(self, index: int) -> InvitationParts:
        return await self._invitations.pop(index)

    async def close(self) -> None:
        """Drop what was not taken (a send before it failed): cancelled, its end awaited, so
        no task is left running or with an exception nobody retrieves."""
        left = [*self._statements.values(), *self._invitations.values()]
        self._statements.clear()
        self._invitations.clear()
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)


class Answer(NamedTuple):
    """A committed turn's answer ready to send: what it answers, its effects, and its files
    being drawn."""

    incoming: Incoming
    effects: list[Effect]
    render: Renderer
    drawings: Drawings


COMMIT_MARGIN_SECONDS = 1.0
"""A turn still running this close to its time limit rolls back instead of committing, so the
user is not told "not processed" about a turn that commits a moment later."""
KNOWN_LANGUAGES = 10_000
STATISTICS_EXPORT = "stats.export"  # the audit action of a statistics file, as `peduli stats`


@dataclass
class ConversationService:
    repository: Repository
    sessions: SessionStore
    journal: TurnJournal
    locks: UserLocks
    programme: ProgrammeSettings
    clock: Callable[[], datetime]
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)
    admin_ids: frozenset[int] = frozenset()
    invitation_days: int = 14
    bot_username: str | None = None  # learnt from getMe at start; deep links need it
    outbox_ready: asyncio.Event = field(default_factory=asyncio.Event)
    turn_timeout: float = 15.0  # seconds for everything up to the commit (stores included)
    reminder_interval: float = 60.0  # seconds between reminder rounds (bot.reminders)
    # The delivery engine's rate budget (bot.delivery): a turn's answer takes its share of the
    # window, so bulk sends leave room for it. None: the engine makes its own, in memory.
    budget: RateBudget | None = None
    delivery_rate: float = DEFAULT_RATE
    paid_broadcast: bool = False
    _languages: dict[int, str | None] = field(default_factory=dict, repr=False)
    _in_flight: int = field(default=0, repr=False)  # updates being handled now

    async def handle(
        self, incoming: Incoming, transport: Transport, *, only_in_conversation: bool = False
    ) -> Handled:
        """Handle one update: at most one committed turn per update id, and its answer sent.

        `only_in_conversation` (a bot hosting the flows beside its own handlers): the update is
        the flows' only if the user is in a conversation (Session.in_conversation), read under
        the user's lock, so a turn in flight for the same user has settled it; otherwise it is
        DECLINED, with nothing recorded.

        Under the user's lock: finish what a dead process left (pending answers, a session to
        roll forward), skip an update whose turn committed already, else run the turn, which
        commits its commands, session, answer and "processed" mark together (TurnJournal). Only
        then is anything sent, after the answers still owed from earlier turns. Until the commit,
        every store call runs within `turn_timeout`; a store that fails or hangs gets the user
        "busy, not processed" and leaves nothing behind, so the update can come again.
        """
        declined = False
        self._in_flight += 1
        try:
            async with contextlib.AsyncExitStack() as held:
                try:
                    async with asyncio.timeout(self.turn_timeout):
                        deadline = time.monotonic() + self.turn_timeout - COMMIT_MARGIN_SECONDS
                        opened = await held.enter_async_context(
                            self.journal.open(incoming.user_id, self.locks)
                        )
                        result, turn = await self._turn(
                            incoming, opened.prepared, deadline, only_in_conversation
                        )
                        if turn is not None and self.budget is not None:
                            # never waits: replies go first, bulk sends slow down
                            opened.note_reply(self.budget)
                        if result.committed is None:
                            await self.journal.settle_seen(incoming.user_id, result)
                        if result.seen and not result.owed:
                            logger.info("update %s already handled", incoming.update_id)
                            return Handled.DUPLICATE
                        declined = not result.seen and result.committed is None
                except TurnAlreadyCommitted:
                    logger.info(
                        "update %s handled meanwhile by another process", incoming.update_id
                    )
                    return Handled.DUPLICATE
                except STORE_ERRORS as error:  # nothing committed: the update is not processed
                    logger.warning(
                        "update %s not processed, a store failed: %s",
                        incoming.update_id,
                        type(error).__name__,
                    )
                    await self._say_busy(incoming, transport)
                    return Handled.BUSY
                except Exception:  # a bug; nothing committed
                    logger.exception("update %s failed", incoming.update_id)
                    await self._apologize(incoming, transport)
                    return Handled.FAILED
                # Committed: from here on nothing says "busy" (the turn is processed).
                # The answer's files (a statement PDF, a QR code) are drawn in worker threads
                # from now on, while the first messages go.
                answer = None
                if turn is not None:
                    answer = self._prepare(incoming.update_id, turn.answer)
                    held.push_async_callback(answer.drawings.close)  # before the lock goes
                delivered: list[int] = []
                for past in result.owed:  # committed earlier, answer not delivered (a crash or
                    # a failed send)
                    if await self._send_answer(
                        self._prepare(past.update_id, past.answer), transport, first_try=False
                    ):
                        delivered.append(past.update_id)
                if answer is not None and await self._send_answer(
                    answer, transport, first_try=True
                ):
                    delivered.append(incoming.update_id)
                await self._close(opened, incoming, turn, delivered)
        finally:
            self._in_flight -= 1
        return Handled.DECLINED if declined else Handled.ANSWERED

    async def _close(
        self,
        opened: OpenTurn,
        incoming: Incoming,
        turn: Committed | None,
        delivered: list[int],
    ) -> None:
        """After the sends: the session published (Redis sessions; the lock is held until then)
        and the answers sent forgotten, in the next turn's transaction of this process when
        other updates are in flight (no transaction of its own under load); when none is, at
        once with SQL sessions, and with Redis sessions (whose marks say it already) unless a
        turn comes within TurnJournal.flush_delay (OpenTurn.close; with Redis one round trip,
        the lock released in it)."""
        try:
            async with asyncio.timeout(self.turn_timeout):
                await opened.close(
                    incoming.update_id,
                    None if turn is None else turn.document,
                    delivered,
                    flush=self._in_flight <= 1,
                )
        except Exception:  # sent again at most once more; the log has the cause
            logger.warning(
                "user %s: could not record the delivery", incoming.user_id, exc_info=True
            )

    async def _turn(
        self,
        incoming: Incoming,
        prepared: Prepared,
        deadline: float,
        only_in_conversation: bool,
    ) -> tuple[TurnResult, Committed | None]:
        """The turn in ONE transaction (TurnJournal.turn, in a worker thread): the user's
        record (the chat remembered only when it changed), the session, the engine, the
        commands and their outcomes fed back, the new session, the update's mark and the
        answer. Returns what the journal did and, when the turn committed now, its session
        document and answer."""
        user_id = incoming.user_id
        facts: dict[str, Any] = {}

        def body(db: Transaction, document: dict[str, Any] | None) -> Concluded | None:
            record = self.repository.turn_record(db, user_id, incoming.chat_id)
            session = Session.from_json(document)
            if only_in_conversation and not session.in_conversation:
                return None
            context = self._context_in(record, session)
            scope = context.user.scope
            if (
                session.flow == announce.FLOW_ID
                and scope is not None
                and announce.may_announce(context)
            ):
                # Composing an announcement: its audience buttons say how many each one reaches.
                sizes = self.repository.announcements.audience_sizes(scope, within=db)
                context = replace(context, audience_sizes=sizes)
            turn = router.respond(session, incoming.input, context)
            applies = [effect for effect in turn.effects if isinstance(effect, Apply)]
            language = record.language
            for apply in applies:
                if isinstance(apply.command, SetLanguage):
                    language = apply.command.language
            renderer = Renderer(language)

            def consent_hash(consent: ConsentStatement) -> str:
                return text_hash(renderer(consent.statement))

            commands = [apply.command for apply in applies]
            outcomes = self.repository.apply_within(
                db, user_id, commands, consent_text_hash=consent_hash
            )
            settled, effects, now_speaks = self._apply(db, user_id, turn, applies, outcomes)
            # A command may have set the language (a worker opening an invitation written in
            # Sundanese): the answer is in the language the user now has.
            language = now_speaks or language
            track_unfinished(db, user_id, session, settled, self.clock())  # writes on a change
            facts.update(language=language, commands=commands, outcomes=outcomes)
            return settled.to_json(), answer_to_json(incoming, effects, language)

        result = await asyncio.to_thread(
            self.journal.turn,
            incoming.update_id,
            user_id,
            self.repository.unit,
            body,
            prepared=prepared,
            deadline=deadline,
        )
        if result.committed is None:
            return result, None
        log_outcomes(user_id, facts["commands"], facts["outcomes"])
        self._remember_language(user_id, facts["language"])
        if facts["commands"]:
            # A command may have left notifications for others; a turn without one leaves
            # the delivery engine asleep (waking it costs a claim, a transaction, per update).
            self.outbox_ready.set()
        document, answer = result.committed
        return result, Committed(document, answer)

    def _remember_language(self, user_id: int, language: str | None) -> None:
        """Known languages, so "busy" is said in the user's language when the database is down."""
        self._languages.pop(user_id, None)
        self._languages[user_id] = language
        while len(self._languages) > KNOWN_LANGUAGES:
            del self._languages[next(iter(self._languages))]

    def _programme_of(self, record: UserRecord) -> ProgrammeSettings:
        """The programme a user joined: their agency's regency's; a linked worker's, their
        sponsor's (the deployment's first for anyone else)."""
        sponsor = record.sponsor
        return self.programme.for_agency(sponsor.agency_code if sponsor else record.worker_agency)

    def _context_in(self, record: UserRecord, session: Session) -> Context:
        """The context of a turn in `session`: a worker answering an invitation is in their
        sponsor's regency's programme (its privacy notice, its time zone)."""
        context = self._context(record)
        if record.sponsor is not None or session.flow != worker.FLOW_ID:
            return context
        programme = self.programme.for_agency(session.answers.get("agency_code"))
        now = context.now.astimezone(programme.timezone)
        return replace(context, catalog=programme.catalog, now=now)

    def _context(self, record: UserRecord) -> Context:
        sponsor = record.sponsor
        # The sponsor's agency decides the regency: its categories, programmes, consents, kecamatan
        # and desa, and its time zone (the day a month starts, the NIP's and NIK's dates).
        programme = self._programme_of(record)
        catalog = programme.catalog
        agency = catalog.agency(sponsor.agency_code) if sponsor else None
        facts = UserFacts(
            user_id=record.user_id,
            language=record.language,
            registered=sponsor is not None,
            sponsor_name=sponsor.full_name if sponsor else None,
            agency_name=agency.name if agency else (sponsor.agency_code if sponsor else None),
            open_sponsorships=record.open_sponsorships,
            is_admin=record.user_id in self.admin_ids,
            is_worker=record.worker_sponsorships > 0,
            scope=self._scope(record),
            sponsor_nip=sponsor.nip_masked if sponsor else None,
            funder_type=sponsor.funder_type if sponsor else "asn",
            organisation_name=sponsor.organisation_name if sponsor else None,
            position=sponsor.position if sponsor else None,
        )
        now = self.clock().astimezone(programme.timezone)
        return Context(user=facts, catalog=catalog, now=now, new_id=self.new_id)

    def _scope(self, record: UserRecord) -> Scope | None:
        if record.user_id in self.admin_ids:
            return Scope.superadmin()
        if record.staff_role is None:
            return None
        return Scope(Role(record.staff_role), record.staff_agencies)

    def _apply(
        self,
        db: Transaction,
        user_id: int,
        turn: Turn,
        applies: list[Apply],
        outcomes: list[Any],
    ) -> tuple[Session, list[Effect], str | None]:
        """Inside the turn's transaction, the commands applied: let the engine settle their
        outcomes (it sees the transaction's own writes), giving the session and effects to keep,
        and the user's language as the commands left it (None: not read again)."""
        session, effects = turn.session, list(turn.effects)
        if not any(apply.awaits_outcome for apply in applies):
            return session, effects, None
        record = self.repository.user_record_within(db, user_id)
        context = self._context_in(record, session)
        for apply, outcome in zip(applies, outcomes, strict=True):
            if apply.awaits_outcome:
                settled = router.settle(session, outcome, context)
                session = settled.session
                effects.extend(
                    # The invitation carries its signature, read here: no read when sending.
                    replace(effect, signed_by=self._signed_by(record))
                    if isinstance(effect, ShowInvitation) and effect.signed_by is None
                    else effect
                    for effect in settled.effects
                )
        return session, effects, context.user.language

    def _prepare(self, update_id: int, answer: dict[str, Any]) -> Answer:
        """A committed turn's answer read back, its files beginning to be drawn."""
        incoming, effects, language = answer_from_json(update_id, answer)
        render = Renderer(language)
        return Answer(incoming, effects, render, self._draw(incoming, effects, render))

    async def _send_answer(self, answer: Answer, transport: Transport, *, first_try: bool) -> bool:
        """Send a committed turn's answer; True when it is to be forgotten. A failed first try
        keeps it for one more (on redelivery, or before the user's next turn); a failed second
        try is given up, so an answer that cannot be sent (an expired callback query) never
        blocks the user."""
        try:
            await self._send(answer, transport)
        except Exception:
            logger.exception("update %s: sending the answer failed", answer.incoming.update_id)
            if first_try:
                return False
        return True

    # --- sending ------------------------------------------------------------------------------

    def _draw(self, incoming: Incoming, effects: Sequence[Effect], render: Renderer) -> Drawings:
        """Begin drawing the answer's files, each in a worker thread: they are sent in their
        turn (Drawings.take_*), and drawn meanwhile (Simpan's statement PDF and QR code together,
        while the press is answered and the message before them goes)."""
        drawings = Drawings()
        for index, effect in enumerate(effects):
            if isinstance(effect, SendStatementCopy):
                drawings.statement(index, self._statement_copy(incoming, effect, render))
            elif isinstance(effect, ShowInvitation):
                drawings.invitation(index, self._invitation(incoming, effect, render))
        return drawings

    async def _deliver(
        self,
        incoming: Incoming,
        transport: Transport,
        effects: Sequence[Effect],
        language: str | None,
    ) -> None:
        """Send an answer (its files drawn from now on)."""
        render = Renderer(language)
        answer = Answer(incoming, list(effects), render, self._draw(incoming, effects, render))
        await self._send(answer, transport)

    async def _send(self, answer: Answer, transport: Transport) -> None:
        """Send the answer's effects in order; its files, drawn since it was prepared, are
        waited for in their turn. Files not sent (a send failed) are dropped."""
        try:
            await self._send_effects(answer, transport)
        finally:
            await answer.drawings.close()

    async def _send_effects(self, answer: Answer, transport: Transport) -> None:
        incoming, effects, render = answer.incoming, answer.effects, answer.render
        if incoming.callback_query_id:
            toast = next((e.text for e in effects if isinstance(e, Toast)), None)
            # The press's answer (its spinner, a toast) and the retired buttons of the pressed
            # message are independent of each other: one round trip instead of two. Both end
            # before the reply goes, so the pressed message shows the choice above the reply.
            done = await asyncio.gather(
                transport.answer_callback(
                    incoming.callback_query_id, render.plain(toast) if toast else None
                ),
                self._retire_pressed_buttons(incoming, transport, effects),
                return_exceptions=True,
            )
            failed = next((r for r in done if isinstance(r, BaseException)), None)
            if failed is not None:
                raise failed
        for index, effect in enumerate(effects):
            if isinstance(effect, Message):
                outgoing = self.render(effect, render)
                await self._show(incoming, transport, outgoing, in_place=effect.replace)
            elif isinstance(effect, ShowInvitation):
                png, caption, forward = await answer.drawings.take_invitation(index)
                await transport.send_photo(incoming.chat_id, png, caption)
                await transport.send(incoming.chat_id, forward)
            elif isinstance(effect, SendStatementCopy):
                pdf, name, caption = await answer.drawings.take_statement(index)
                await transport.send_document(incoming.chat_id, pdf, name, caption)
            elif isinstance(effect, ForgetUserMessage):
                await transport.delete(incoming.chat_id, effect.message_id)
            elif isinstance(effect, ShowStatus):
                shown = await self._status(incoming.user_id, render, effect.page or 0)
                await self._show(incoming, transport, shown, in_place=effect.page is not None)
            elif isinstance(effect, ShowPersonalData):
                shown = await self._personal_data(incoming.user_id, render, effect.page or 0)
                await self._show(incoming, transport, shown, in_place=effect.page is not None)
            elif isinstance(effect, ShowRequestQueue):
                queue = await self._request_queue(incoming.user_id, render, effect.page or 0)
                if queue is not None:
                    await self._show(incoming, transport, queue, in_place=effect.page is not None)
            elif isinstance(effect, ShowStaff):
                listed = await self._staff(incoming.user_id, render, effect.page or 0)
                if listed is not None:
                    await self._show(incoming, transport, listed, in_place=effect.page is not None)
            elif isinstance(effect, ShowStatistics):
                await self._statistics(incoming, effect, render, transport)
            elif isinstance(effect, SendDeductionRecap):
                await self._send_recap(incoming, effect, render, transport)
            elif isinstance(effect, ShowCampaign | ShowUpcomingReminders):
                shown = await self._reminders_view(incoming.user_id, effect, render)
                await self._show(incoming, transport, shown, in_place=False)
            elif isinstance(
                effect, ShowAnnouncementPreview | RequestAnnouncementApproval | TrackAnnouncement
            ):
                await self._announcement(incoming, effect, render, transport)
            elif not isinstance(effect, Apply | Toast):  # applied, or answered above
                raise TypeError(f"no delivery for {type(effect).__name__}")

    async def _show(
        self, incoming: Incoming, transport: Transport, outgoing: Outgoing, *, in_place: bool
    ) -> None:
        """Send a message, or put it in place of the message whose button was pressed (another
        page, a list scrolled). Over Telegram's limit, it goes as several messages instead."""
        parts = split_message(outgoing, TEXT_LIMIT)
        if in_place and incoming.callback_message_id is not None and len(parts) == 1:
            await transport.edit(incoming.chat_id, incoming.callback_message_id, outgoing)
            return
        for part in parts:
            await transport.send(incoming.chat_id, part)

    async def _retire_pressed_buttons(
        self, incoming: Incoming, transport: Transport, effects: Sequence[Effect]
    ) -> None:
        """Take the buttons off a message once one of them did its work, so old choices
        cannot be pressed again; kept when the press only paged or was refused."""
        pressed = incoming.input
        if incoming.callback_message_id is None or not isinstance(pressed, ChoicePicked):
            return
        paged = any(isinstance(e, Message) and e.replace for e in effects)
        refused = any(isinstance(e, Toast) for e in effects)
        # Menu, paging and agency buttons can be pressed again (the summary stays usable).
        again = (callbacks.MENU, callbacks.PAGE, callbacks.STATISTICS)
        if paged or refused or pressed.value.startswith(again):
            return
        if callbacks.is_recap(pressed.value):  # months and agencies: pressed again and again
            return
        if callbacks.is_ledger_mark_question(pressed.value):  # the recap under it stays usable
            return
        if callbacks.keeps_buttons(pressed.value):  # an announcement's, a progress message's
            return
        html = None
        if incoming.pressed_label and incoming.pressed_message_html is not None:
            # Scrolling back, the user sees what they chose under each question.
            chosen = (
                incoming.pressed_message_html
                + "\n\n» <b>"
                + escape(incoming.pressed_label)
                + "</b>"
            )
            html = chosen if len(chosen) <= TEXT_LIMIT else None
        await transport.retire(incoming.chat_id, incoming.callback_message_id, html)

    def invitation_link(self, token: str) -> str:
        return f"https://t.me/{self.bot_username or 'bot'}?start={INVITATION_PREFIX}{token}"

    async def _invitation(
        self, incoming: Incoming, invitation: ShowInvitation, render: Renderer
    ) -> InvitationParts:
        """The deep link as a QR code to show on the phone (its caption), and a message to
        forward, written in the worker's language the sponsor chose, whatever the sponsor's
        own: it is for the worker. The QR code is drawn in one worker thread while another
        reads the sponsor (and the worker, when the answer did not carry them)."""
        link = self.invitation_link(invitation.token)

        def read() -> tuple[str, str, Text | Raw]:
            worker_name, language = invitation.worker_name, invitation.language
            if not worker_name or language is None:
                found_name, found_language = self._worker_of(incoming.user_id, invitation.reference)
                worker_name, language = worker_name or found_name, language or found_language
            sponsor = invitation.signed_by
            if sponsor is None:  # an answer stored before the turn carried it
                sponsor = self._signed_by(self.repository.user_record(incoming.user_id))
            return worker_name, language, sponsor

        carried = (
            bool(invitation.worker_name)
            and invitation.language is not None
            and invitation.signed_by is not None
        )
        if carried:  # nothing to read: read() only unpacks the invitation
            png, (worker_name, language, sponsor) = await asyncio.to_thread(qr_png, link), read()
        else:
            png, (worker_name, language, sponsor) = await asyncio.gather(
                asyncio.to_thread(qr_png, link), asyncio.to_thread(read)
            )
        caption = render(
            t(
                "invite.caption",
                worker=Raw(worker_name),
                reference=Raw(invitation.reference),
                days=self.invitation_days,
            )
        )
        forward = Renderer(language)(
            t("invite.forward", worker=Raw(worker_name), sponsor=sponsor, link=link)
        )
        return InvitationParts(png, caption, Outgoing(forward))

    def _signed_by(self, record: UserRecord) -> Text | Raw:
        """The sponsor as the worker's invitation names them: with the village, BAZNAS or
        company they sign for (issue 12), an ASN by name alone as before."""
        sponsor = record.sponsor
        if sponsor is None:
            return Raw("")
        catalog = self._programme_of(record).catalog
        organisation = catalog.organisation_label(sponsor.funder_type, sponsor.organisation_name)
        if organisation == Raw(""):
            return Raw(sponsor.full_name)
        return t("funder.signed_for", name=Raw(sponsor.full_name), organisation=organisation)

    async def _statement_copy(
        self, incoming: Incoming, copy: SendStatementCopy, render: Renderer
    ) -> StatementFile:
        """The agreed salary-deduction statement as a PDF for the treasurer, in the language it
        was agreed in (so its sha256 is the consent record's text_hash), drawn in a worker
        thread."""
        shown = render(copy.statement)
        zone: tzinfo
        try:  # the sponsor's regency's, as the turn knew it: no read of its own
            zone = ZoneInfo(copy.zone)
        except (ValueError, ZoneInfoNotFoundError):  # an answer stored before it was carried
            record = await asyncio.to_thread(self.repository.user_record, incoming.user_id)
            zone = self._programme_of(record).timezone
        given = datetime.fromisoformat(copy.given_at).astimezone(zone)
        at = render(
            t(
                "date.datetime",
                date=long_date(given.date()),
                time=Raw(f"{given:%H:%M} {zone_name(given)}"),
            )
        )
        facts = [
            (render.plain(t("told.pdf_reference")), copy.reference),
            (render.plain(t("told.pdf_version")), copy.version),
            (render.plain(t("told.pdf_agreed_at")), render.plain(t("told.pdf_agreed", at=at))),
            (render.plain(t("told.pdf_hash")), text_hash(shown)),
        ]
        pdf = await asyncio.to_thread(
            statement_pdf, shown, facts, render.plain(t("told.pdf_signatures"))
        )
        name = render.plain(t("told.pdf_file", reference=Raw(copy.reference)))
        return StatementFile(pdf, name, render(t("told.pdf_caption")))

    def _worker_of(self, user_id: int, reference: str) -> tuple[str, str]:
        """The worker's name and language in one of the user's sponsorships (a worker thread's
        read)."""
        items = self.repository.sponsorships_of(user_id)
        item = next((i for i in items if i.reference == reference), None)
        if item is None:
            return "", DEFAULT_LANGUAGE
        return item.worker_full_name or "", item.worker_language

    @staticmethod
    def render(message: Message, render: Renderer) -> Outgoing:
        seq = message.seq if message.seq is not None else 0
        rows = []
        for row in message.buttons:
            cells = []
            for button in row:
                cells.append((render.plain(button.label), callbacks.encode(seq, button.value)))
            rows.append(tuple(cells))
        contact = render.plain(message.request_contact) if message.request_contact else None
        return Outgoing(
            text=render(message.text),
            inline_keyboard=tuple(rows),
            contact_button=contact,
            remove_keyboard=message.remove_keyboard,
        )

    async def _status(self, user_id: int, render: Renderer, page: int = 0) -> Outgoing:
        def read() -> Outgoing:
            record, sponsorships, as_worker = self.repository.status_of(user_id)
            programme = self._programme_of(record)
            return presenters.status(
                record,
                sponsorships,
                as_worker,
                programme.catalog,
                programme.timezone,
                render,
                page,
                catalog_of=self.programme.catalog_of,
            )

        return await asyncio.to_thread(read)

    async def _reminders_view(
        self, user_id: int, effect: ShowCampaign | ShowUpcomingReminders, render: Renderer
    ) -> Outgoing:
        """/kampanye and /pengingat. The scope is read again here: /kampanye for superadmins,
        /pengingat counts only the reminders to people of the user's agencies."""
        record = await asyncio.to_thread(self.repository.user_record, user_id)
        scope = self._scope(record)
        if scope is None or (isinstance(effect, ShowCampaign) and not scope.is_superadmin):
            return Outgoing(render(t("stats.not_allowed")))
        zones = Zones.of(self.programme.catalog, self.programme.timezone)
        store = self.repository.reminders(zones)
        if isinstance(effect, ShowCampaign):
            row = await asyncio.to_thread(store.campaign)
            return reminder_text.campaign_view(
                row.deadline if row else None, row.reminder_days if row else None, render
            )
        planned, facts = await asyncio.to_thread(store.upcoming, self.clock(), effect.days)

        def visible(reminder: Reminder) -> bool:
            person = facts.people.get(reminder.recipient_user_id)
            agency = person.agency if person is not None else None
            return scope.is_superadmin or (agency is not None and scope.covers(agency))

        shown = [reminder for reminder in planned if visible(reminder)]
        return reminder_text.upcoming_view(per_day(shown, facts.people), effect.days, render)

    async def _personal_data(self, user_id: int, render: Renderer, page: int = 0) -> Outgoing:
        data = await asyncio.to_thread(self.repository.personal_data, user_id)
        record = await asyncio.to_thread(self.repository.user_record, user_id)
        programme = self._programme_of(record)
        return presenters.personal_data(data, programme.catalog, programme.timezone, render, page)

    async def _request_queue(
        self, user_id: int, render: Renderer, page: int = 0
    ) -> Outgoing | None:
        if user_id not in self.admin_ids:
            return None
        requests = await asyncio.to_thread(self.repository.open_requests_viewed, user_id)
        return presenters.request_queue(
            requests, self.programme.timezone, self.clock(), render, page
        )

    async def _staff(self, user_id: int, render: Renderer, page: int = 0) -> Outgoing | None:
        """The staff list, for a superadmin only (the router asked only for one; checked again)."""
        if user_id not in self.admin_ids:
            return None
        members = await asyncio.to_thread(self.repository.staff_viewed, user_id)
        return presenters.staff_list(
            members, self.programme.catalog, self.programme.timezone, render, page
        )

    async def _statistics(
        self,
        incoming: Incoming,
        effect: ShowStatistics,
        render: Renderer,
        transport: Transport,
    ) -> None:
        """/statistik: the scope is read again here, when the figures are read (a role taken
        away since the command was typed shows nothing); the read and its audit entry are one
        transaction. Then the summary (or one agency per kecamatan and desa) and its chart."""
        record = await asyncio.to_thread(self.repository.user_record, incoming.user_id)
        scope = self._scope(record)
        if scope is None or (effect.agency is not None and not scope.covers(effect.agency)):
            await transport.send(incoming.chat_id, Outgoing(render(t("stats.not_allowed"))))
            return
        catalog = self.programme.catalog
        now = self.clock().astimezone(self._statistics_zone(effect, scope))
        asked, counted = self._statistics_agencies(effect)
        stats = await asyncio.to_thread(
            self.repository.statistics, Actor(scope, incoming.user_id), asked, now, counted
        )
        if effect.agency is None:
            shown = statistics_chat.summary(
                stats,
                catalog,
                render,
                all_agencies=scope.is_superadmin and effect.regency is None,
                regency=None if effect.regency is None else catalog.regency(effect.regency),
            )
        else:
            shown = statistics_chat.agency_detail(stats, effect.agency, catalog, render)
        await self._show(incoming, transport, shown, in_place=False)
        chart = statistics_chat.chart(stats, effect.agency, catalog, render)
        if chart is not None:
            categories, series, caption = chart
            from bot.statistics_render.chart import bar_chart_png  # loads matplotlib: only here

            png = await asyncio.to_thread(bar_chart_png, categories, series, caption)
            await transport.send_photo(
                incoming.chat_id,
                png,
                render(t("stats.chart_caption", title=Raw(caption), month=month_year(stats.month))),
            )
        await self._send_statistics_workbook(incoming, effect, stats, scope, now, render, transport)

    def _statistics_zone(self, effect: ShowStatistics, scope: Scope) -> tzinfo:
        """The time zone whose date decides the month shown: the regency's or the agency's
        asked for, else the regency of the agencies in the scope (the first for all)."""
        if effect.agency is not None:
            return self.programme.zone_of(effect.agency)
        if effect.regency is not None:
            regency = self.programme.for_regency(effect.regency)
            return (regency or self.programme).timezone
        agencies = None if scope.is_superadmin else scope.agencies
        return self.programme.for_agencies(agencies).timezone

    def _statistics_agencies(self, effect: ShowStatistics) -> tuple[list[str] | None, list[str]]:
        """The agencies /statistik asks for (None: all; the scope restricts them when read) and
        those listed even with nothing to count: one regency's when a regency was asked for."""
        catalog = self.programme.catalog
        if effect.regency is not None:
            codes = [agency.code for agency in catalog.agencies_of(effect.regency)]
            return codes, codes
        asked = None if effect.agency is None else [effect.agency]
        return asked, [agency.code for agency in catalog.agencies]

    async def _send_statistics_workbook(
        self,
        incoming: Incoming,
        effect: ShowStatistics,
        stats: Statistics,
        scope: Scope,
        now: datetime,
        render: Renderer,
        transport: Transport,
    ) -> None:
        """The same figures as an XLSX workbook (with its native chart), after the chart. The
        view's entry records a read; a file leaving the chat is an export, logged as the CLI's
        `peduli stats` logs one (stats.export), before it is sent."""
        buffer = io.BytesIO()
        catalog = self.programme.catalog
        await asyncio.to_thread(write_workbook, stats, catalog, render, buffer)
        allowed = scope.restrict(self._statistics_agencies(effect)[0])
        shown = "*" if allowed is None else ",".join(sorted(allowed))
        await asyncio.to_thread(
            self.repository.record_audit,
            Actor(scope, incoming.user_id),
            STATISTICS_EXPORT,
            now,
            detail=f"format=xlsx agencies={shown} chat",
            row_count=stats.row_count,
        )
        await transport.send_document(
            incoming.chat_id,
            buffer.getvalue(),
            statistics_chat.file_name(stats, scope, effect.agency or effect.regency, render),
            render(t("stats.workbook_caption", month=month_year(stats.month))),
        )

    async def _send_recap(
        self,
        incoming: Incoming,
        effect: SendDeductionRecap,
        render: Renderer,
        transport: Transport,
    ) -> None:
        """The deduction workbook as a document, and its summary. The scope is read again
        here, not taken from the turn: a role removed meanwhile, or an agency outside the scope
        (a forged button), gets a refusal, audit-logged, and no rows. The rows are filtered by
        the scope in SQL (Scope.restrict)."""
        record = await asyncio.to_thread(self.repository.user_record, incoming.user_id)
        scope = self._scope(record)
        month = recap.parse_month(effect.month)
        now = self.clock()
        if scope is None or month is None:
            await transport.send(incoming.chat_id, Outgoing(render(t("rekap.refused"))))
            return
        actor = audit.Actor(scope, incoming.user_id, audit.TELEGRAM)
        agencies = scope.restrict(None if effect.agency is None else [effect.agency])
        detail = f"month={effect.month} agency={effect.agency or '*'} chat"
        if agencies is not None and not agencies:
            await asyncio.to_thread(
                self.repository.record_audit, actor, REFUSED, now, detail=detail, row_count=0
            )
            await transport.send(incoming.chat_id, Outgoing(render(t("rekap.refused"))))
            return
        # The treasurer's agency's regency (what it deducts from, its time zone); each agency's
        # own regency for a recap spanning several (a superadmin's).
        programme = self.programme.for_agencies(agencies)
        catalog, zone = programme.catalog, programme.timezone
        buffer = io.BytesIO()
        if effect.transfers:  # issue 12: a village's, BAZNAS's, a company's, an honorer's
            summary, _count = await asyncio.to_thread(
                self.repository.export_transfers,
                actor,
                month,
                agencies,
                now,
                partial(
                    transfers_export.write_recap, buffer, programme=catalog, render=Renderer("id")
                ),
                detail=detail,
            )
            name = recap_views.transfer_file_name(month, scope, effect.agency, render)
            caption = render(t("funder2.transfer_caption", month=effect.month))
            await transport.send_document(incoming.chat_id, buffer.getvalue(), name, caption)
            shown = recap_views.summary(
                summary, month, scope, effect.agency, catalog, render, transfers=True
            )
            await transport.send(incoming.chat_id, shown)
            return

        def write(rows: Iterator[DeductionRow]) -> deduction_workbook.DeductionSummary:
            return deduction_workbook.write_deductions(
                buffer,
                rows,
                month=month,
                programme=catalog,
                timezone=zone,
                render=Renderer("id"),
                per_agency=self.programme.settings_of,
            )

        summary, _count = await asyncio.to_thread(
            self.repository.export_deductions, actor, month, agencies, now, write, detail=detail
        )
        name = recap_views.file_name(month, scope, effect.agency, render)
        await transport.send_document(
            incoming.chat_id, buffer.getvalue(), name, recap_views.caption(month, catalog, render)
        )
        shown = recap_views.summary(summary, month, scope, effect.agency, catalog, render)
        await transport.send(incoming.chat_id, shown)

    async def _announcement(
        self,
        incoming: Incoming,
        effect: ShowAnnouncementPreview | RequestAnnouncementApproval | TrackAnnouncement,
        render: Renderer,
        transport: Transport,
    ) -> None:
        """/umumkan's messages: the preview (through the very renderer the delivery engine
        uses, so it is what recipients get) and its controls; the approval request to the other
        superadmins; the progress message, which the progress loop then edits."""
        store = self.repository.announcements
        row = await asyncio.to_thread(store.get, effect.announcement_id)
        if isinstance(effect, ShowAnnouncementPreview):
            content = announcement_views.content_of(row)
            preview = announcement_views.render_announcement(content, render.language)
            await transport.deliver(incoming.chat_id, preview, media=content.media)
            count = await asyncio.to_thread(store.count, effect.announcement_id)
            await transport.send(
                incoming.chat_id, announcement_views.preview_controls(row, count, render)
            )
        elif isinstance(effect, RequestAnnouncementApproval):
            chats = await asyncio.to_thread(
                store.other_superadmin_chats, self.admin_ids, row.author_user_id
            )
            content = announcement_views.content_of(row)
            for chat in chats:
                # In the default language: the approvers' own language is not at hand here.
                approver = Renderer(None)
                preview = announcement_views.render_announcement(content, None)
                await transport.deliver(chat, preview, media=content.media)
                await transport.send(chat, announcement_views.approval_request(row, approver))
            # Recorded once asked: if this turn could not ask (an error above), the progress
            # loop asks instead (bot.announcements.ProgressReporter).
            await asyncio.to_thread(
                store.record_asked, effect.announcement_id, len(chats), audit.TELEGRAM
            )
        else:
            author_chat = await asyncio.to_thread(store.chat_of, row.author_user_id)
            if author_chat is None:
                return
            progress = await asyncio.to_thread(store.progress, effect.announcement_id)
            shown = announcement_views.progress_message(progress, self.delivery_rate, render)
            message_id = await transport.send(author_chat, shown)
            if message_id is not None:
                await asyncio.to_thread(
                    store.set_progress_message, effect.announcement_id, author_chat, message_id
                )

    async def _apologize(self, incoming: Incoming, transport: Transport) -> None:
        await self._notice(incoming, transport, "error.try_again")

    async def _say_busy(self, incoming: Incoming, transport: Transport) -> None:
        await self._notice(incoming, transport, "error.busy")

    async def _notice(self, incoming: Incoming, transport: Transport, key: str) -> None:
        """Answer the button press (so its spinner stops) and say why nothing happened, in the
        user's language when it is known here (no store is asked: one may be down)."""
        render = Renderer(self._languages.get(incoming.user_id))
        try:
            if incoming.callback_query_id:
                await transport.answer_callback(incoming.callback_query_id, None)
            await transport.send(incoming.chat_id, Outgoing(render(t(key))))
        except Exception:  # the transport itself is failing; the log has the cause
            logger.warning("could not tell user about a failed update", exc_info=True)


def answer_to_json(
    incoming: Incoming, effects: Sequence[Effect], language: str | None
) -> dict[str, Any]:
    """What `_deliver` needs to send a turn's answer again, as JSON for the turn journal."""
    pressed = incoming.input
    return {
        "chat_id": incoming.chat_id,
        "user_id": incoming.user_id,
        "callback_query_id": incoming.callback_query_id,
        "callback_message_id": incoming.callback_message_id,
        "pressed_label": incoming.pressed_label,
        "pressed_message_html": incoming.pressed_message_html,
        "choice": pressed.value if isinstance(pressed, ChoicePicked) else None,
        "language": language,
        "effects": answers.effects_to_json(effects),
    }


def answer_from_json(
    update_id: int, stored: dict[str, Any]
) -> tuple[Incoming, list[Effect], str | None]:
    choice = stored["choice"]
    pressed: Input = (
        ChoicePicked(seq=-1, value=choice, message_id=stored["callback_message_id"])
        if choice is not None
        else TextReceived("")
    )
    incoming = Incoming(
        update_id=update_id,
        user_id=stored["user_id"],
        chat_id=stored["chat_id"],
        input=pressed,
        callback_query_id=stored["callback_query_id"],
        callback_message_id=stored["callback_message_id"],
        pressed_label=stored["pressed_label"],
        pressed_message_html=stored["pressed_message_html"],
    )
    return incoming, answers.effects_from_json(stored["effects"]), stored["language"]


QR_CODES_KEPT = 256
"""Invitation QR codes kept (a PNG is about 1 KB): an answer sent again (a redelivery, a failed
send) shows the same invitation without drawing it again."""


@functools.lru_cache(maxsize=QR_CODES_KEPT)
def qr_png(link: str) -> bytes:
    """A QR code of the link, large enough to scan from another phone's screen (bot.exports.qr:
    1.4 ms of CPU with its fixed mask and lean PNG writer, segno's defaults took 7.5 ms); the
    service calls it in a worker thread, so the event loop goes on with other users' updates."""
    return qr.qr_png(link)
