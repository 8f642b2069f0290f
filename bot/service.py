"""Handling one update, whatever the transport:

dedupe by update id -> per-user lock -> load session -> engine -> apply commands in one transaction
-> feed outcomes back -> save session -> send messages.

"Saved" is said only after the commit; a repeated update or a double-pressed button changes nothing
twice (update de-duplication, prompt numbers, idempotency keys and unique constraints).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape

from bot import presenters
from bot.catalog import ProgrammeSettings
from bot.i18n import Renderer, text_hash
from bot.storage.ports import SessionStore, UpdateDeduplicator, UserLocks
from bot.storage.repository import ConsentStatement, Repository, UserRecord
from bot.transport import Outgoing, Transport
from flows import router
from flows.commands import SetLanguage
from flows.context import Context, UserFacts
from flows.effects import (
    Apply,
    Effect,
    ForgetUserMessage,
    Message,
    ShowInvitation,
    ShowPersonalData,
    ShowRequestQueue,
    ShowStatus,
    Toast,
)
from flows.engine import Turn
from flows.inputs import ChoicePicked, Input
from flows.router import INVITATION_PREFIX
from flows.session import Session
from flows.text import Raw, t

logger = logging.getLogger(__name__)

CALLBACK_DATA_LIMIT = 64  # bytes, Bot API
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


@dataclass
class ConversationService:
    repository: Repository
    sessions: SessionStore
    deduplicator: UpdateDeduplicator
    locks: UserLocks
    programme: ProgrammeSettings
    clock: Callable[[], datetime]
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)
    admin_ids: frozenset[int] = frozenset()
    invitation_days: int = 14
    bot_username: str | None = None  # learnt from getMe at start; deep links need it
    outbox_ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, incoming: Incoming, transport: Transport) -> None:
        if not await self.deduplicator.claim(incoming.update_id):
            # The first delivery answered it (a callback query can be answered only once).
            logger.info("update %s already handled", incoming.update_id)
            return
        try:
            async with self.locks.hold(incoming.user_id):
                effects, language = await self._turn(incoming)
                self.outbox_ready.set()  # a command may have left notifications for others
                try:
                    await self._deliver(incoming, transport, effects, language)
                except Exception:
                    # The turn is saved: handling the update again would apply the answer twice
                    # (to the next question), so the claim stays; only the sending failed.
                    logger.exception("update %s: sending the answer failed", incoming.update_id)
        except Exception:
            # Nothing was saved: forget the claim, so a redelivery is handled again.
            await self.deduplicator.release(incoming.update_id)
            logger.exception("update %s failed", incoming.update_id)
            await self._apologize(incoming, transport)

    async def _turn(self, incoming: Incoming) -> tuple[list[Effect], str | None]:
        """Load, run the engine, apply commands in one transaction, save: the effects to send."""
        user_id = incoming.user_id
        record = await asyncio.to_thread(self._remember, user_id, incoming.chat_id)
        session = Session.from_json(await self.sessions.load(user_id))
        turn = router.respond(session, incoming.input, self._context(record))
        session, effects, language = await self._apply(user_id, turn, record.language)
        await self.sessions.save(user_id, session.to_json())
        return effects, language

    def _remember(self, user_id: int, chat_id: int) -> UserRecord:
        self.repository.remember_chat(user_id, chat_id)
        return self.repository.user_record(user_id)

    def _context(self, record: UserRecord) -> Context:
        catalog = self.programme.catalog
        sponsor = record.sponsor
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
        )
        return Context(user=facts, catalog=catalog, now=self.clock(), new_id=self.new_id)

    async def _apply(
        self, user_id: int, turn: Turn, language: str | None
    ) -> tuple[Session, list[Effect], str | None]:
        """Apply the turn's commands in one transaction, then let the engine settle the outcomes."""
        session, effects = turn.session, list(turn.effects)
        applies = [effect for effect in effects if isinstance(effect, Apply)]
        if not applies:
            return session, effects, language
        for apply in applies:
            if isinstance(apply.command, SetLanguage):
                language = apply.command.language
        renderer = Renderer(language)

        def consent_hash(consent: ConsentStatement) -> str:
            return text_hash(renderer(consent.statement))

        outcomes = await asyncio.to_thread(
            self.repository.apply,
            user_id,
            [apply.command for apply in applies],
            consent_text_hash=consent_hash,
        )
        record = await asyncio.to_thread(self.repository.user_record, user_id)
        for apply, outcome in zip(applies, outcomes, strict=True):
            if apply.awaits_outcome:
                settled = router.settle(session, outcome, self._context(record))
                session = settled.session
                effects.extend(settled.effects)
        return session, effects, language

    # --- sending ------------------------------------------------------------------------------

    async def _deliver(
        self,
        incoming: Incoming,
        transport: Transport,
        effects: Sequence[Effect],
        language: str | None,
    ) -> None:
        render = Renderer(language)
        if incoming.callback_query_id:
            toast = next((e.text for e in effects if isinstance(e, Toast)), None)
            await transport.answer_callback(
                incoming.callback_query_id, render.plain(toast) if toast else None
            )
            await self._retire_pressed_buttons(incoming, transport, effects)
        for effect in effects:
            if isinstance(effect, Message):
                outgoing = self.render(effect, render)
                if effect.replace and incoming.callback_message_id is not None:
                    await transport.edit(incoming.chat_id, incoming.callback_message_id, outgoing)
                else:
                    await transport.send(incoming.chat_id, outgoing)
            elif isinstance(effect, ShowInvitation):
                await self._show_invitation(incoming, effect, render, transport)
            elif isinstance(effect, ForgetUserMessage):
                await transport.delete(incoming.chat_id, effect.message_id)
            elif isinstance(effect, ShowStatus):
                await transport.send(incoming.chat_id, await self._status(incoming.user_id, render))
            elif isinstance(effect, ShowPersonalData):
                shown = await self._personal_data(incoming.user_id, render)
                await transport.send(incoming.chat_id, shown)
            elif isinstance(effect, ShowRequestQueue):
                queue = await self._request_queue(incoming.user_id, render)
                if queue is not None:
                    await transport.send(incoming.chat_id, queue)
            elif not isinstance(effect, Apply | Toast):  # applied, or answered above
                raise TypeError(f"no delivery for {type(effect).__name__}")

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
        if paged or refused or pressed.value.startswith(router.MENU):
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

    async def _show_invitation(
        self, incoming: Incoming, invitation: ShowInvitation, render: Renderer, transport: Transport
    ) -> None:
        """The deep link as a QR code to show on the phone, and a message to forward, written
        in Indonesian whatever the sponsor's language: it is for the worker."""
        link = self.invitation_link(invitation.token)
        worker_name = invitation.worker_name or await self._worker_name(
            incoming.user_id, invitation.reference
        )
        caption = render(
            t(
                "invite.caption",
                worker=Raw(worker_name),
                reference=Raw(invitation.reference),
                days=self.invitation_days,
            )
        )
        await transport.send_photo(incoming.chat_id, qr_png(link), caption)
        record = await asyncio.to_thread(self.repository.user_record, incoming.user_id)
        sponsor = record.sponsor.full_name if record.sponsor else ""
        forward = Renderer("id")(
            t("invite.forward", worker=Raw(worker_name), sponsor=Raw(sponsor), link=link)
        )
        await transport.send(incoming.chat_id, Outgoing(forward))

    async def _worker_name(self, user_id: int, reference: str) -> str:
        items = await asyncio.to_thread(self.repository.sponsorships_of, user_id)
        return next((i.worker_full_name or "" for i in items if i.reference == reference), "")

    @staticmethod
    def render(message: Message, render: Renderer) -> Outgoing:
        seq = message.seq if message.seq is not None else 0
        rows = []
        for row in message.buttons:
            cells = []
            for button in row:
                data = f"{seq}:{button.value}"
                if len(data.encode()) > CALLBACK_DATA_LIMIT:
                    raise ValueError(f"callback data over {CALLBACK_DATA_LIMIT} bytes: {data!r}")
                cells.append((render.plain(button.label), data))
            rows.append(tuple(cells))
        contact = render.plain(message.request_contact) if message.request_contact else None
        return Outgoing(
            text=render(message.text),
            inline_keyboard=tuple(rows),
            contact_button=contact,
            remove_keyboard=message.remove_keyboard,
        )

    async def _status(self, user_id: int, render: Renderer) -> Outgoing:
        def read() -> Outgoing:
            return presenters.status(
                self.repository.user_record(user_id),
                self.repository.sponsorships_of(user_id),
                self.repository.worker_sponsorships(user_id),
                self.programme.catalog,
                self.programme.timezone,
                render,
            )

        return await asyncio.to_thread(read)

    async def _personal_data(self, user_id: int, render: Renderer) -> Outgoing:
        data = await asyncio.to_thread(self.repository.personal_data, user_id)
        return presenters.personal_data(
            data, self.programme.catalog, self.programme.timezone, render
        )

    async def _request_queue(self, user_id: int, render: Renderer) -> Outgoing | None:
        if user_id not in self.admin_ids:
            return None
        requests = await asyncio.to_thread(self.repository.open_requests)
        return presenters.request_queue(requests, self.programme.timezone, self.clock(), render)

    async def _apologize(self, incoming: Incoming, transport: Transport) -> None:
        try:
            if incoming.callback_query_id:
                await transport.answer_callback(incoming.callback_query_id, None)
            await transport.send(incoming.chat_id, Outgoing(Renderer(None)(t("error.try_again"))))
        except Exception:  # the transport itself is failing; the log has the cause
            logger.warning("could not tell user about a failed update", exc_info=True)


def qr_png(link: str) -> bytes:
    """A QR code of the link, large enough to scan from another phone's screen."""
    import io

    import segno

    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind="png", scale=10, border=4)
    return buffer.getvalue()
