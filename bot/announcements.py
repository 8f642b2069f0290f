"""How an announcement reads: the real AnnouncementRenderer (bot.delivery.contracts), and the
author's preview, approval request, progress message and final report.

`render_announcement` is what the delivery engine sends to every recipient AND what the author
previews, so the preview is exactly what arrives: the admin's HTML as the text (the caption when a
photo or document goes with it), the optional button that opens a flow, and under it always the
button "Berhenti menerima pengumuman" (opt out). The buttons are worded in the recipient's
language; the body is the author's, as written.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.delivery.contracts import AnnouncementContent
from bot.i18n import Renderer
from bot.storage.announcements import AnnouncementStore, Progress, failures_csv
from bot.storage.models import Announcement
from bot.transport import Media, Outgoing, Transport
from flows import callbacks
from flows.text import Raw, t

logger = logging.getLogger(__name__)

TIMELESS = callbacks.TIMELESS
PROGRESS_INTERVAL = 3.0  # seconds between edits of a progress message
# The flow each button value opens, as a menu entry the router starts whenever it is pressed.
_MENU_OF_BUTTON: dict[str, callbacks.MenuEntry] = {"sponsor": "sponsor", "signup": "signup"}


def content_of(row: Announcement) -> AnnouncementContent:
    """The stored announcement as the engine and the renderer take it."""
    assert row.id is not None
    media = None
    if row.media_kind in ("photo", "document") and row.media_file_id:
        media = Media(row.media_kind, row.media_file_id)  # type: ignore[arg-type]
    return AnnouncementContent(row.id, row.body, media, row.button, row.paid_broadcast)


def render_announcement(content: AnnouncementContent, language: str | None) -> Outgoing:
    """The message one recipient gets (the AnnouncementRenderer of bot.delivery.contracts)."""
    render = Renderer(language)
    rows: list[tuple[tuple[str, str], ...]] = []
    entry = _MENU_OF_BUTTON.get(content.button or "")
    if entry is not None:
        label = render.plain(t(f"announce.button_label.{content.button}"))
        rows.append(((label, callbacks.encode(TIMELESS, callbacks.menu(entry))),))
    opt_out = callbacks.encode(TIMELESS, callbacks.announcement_opt_out(content.id))
    rows.append(((render.plain(t("announce.button_opt_out")), opt_out),))
    return Outgoing(text=content.body, inline_keyboard=tuple(rows))


def preview_controls(row: Announcement, count: int, render: Renderer) -> Outgoing:
    """Under the preview: the audience and its size, send / change / cancel."""
    assert row.id is not None
    button = (
        render(t(f"announce.button_option.{row.button}"))
        if row.button
        else render(t("announce.button_none"))
    )
    text = render(
        t(
            "announce.preview_controls",
            audience=t(f"announce.audience.{row.audience}"),
            agencies=Raw(row.audience_agencies or "-"),
            button=Raw(button),
            count=count,
        )
    )
    send, edit, cancel = (
        callbacks.encode(TIMELESS, callbacks.announcement("annsend", row.id)),
        callbacks.encode(TIMELESS, callbacks.announcement("annedit", row.id)),
        callbacks.encode(TIMELESS, callbacks.announcement("anncancel", row.id)),
    )
    return Outgoing(
        text,
        inline_keyboard=(
            ((render.plain(t("announce.button_send")), send),),
            ((render.plain(t("announce.button_edit")), edit),),
            ((render.plain(t("announce.button_cancel")), cancel),),
        ),
    )


def approval_request(row: Announcement, render: Renderer) -> Outgoing:
    assert row.id is not None
    approve = callbacks.encode(TIMELESS, callbacks.announcement("annok", row.id))
    reject = callbacks.encode(TIMELESS, callbacks.announcement("annrej", row.id))
    text = render(
        t(
            "announce.approval_request",
            id=row.id,
            author=Raw(str(row.author_user_id)),
            audience=t(f"announce.audience.{row.audience}"),
            count=row.recipients or 0,
        )
    )
    return Outgoing(
        text,
        inline_keyboard=(
            (
                (render.plain(t("announce.button_approve")), approve),
                (render.plain(t("announce.button_reject")), reject),
            ),
        ),
    )


def time_left(progress: Progress, rate: float) -> timedelta | None:
    """At `rate` messages a second (the engine's budget, measured or configured)."""
    if rate <= 0:
        return None
    return timedelta(seconds=round(progress.pending / rate))


def progress_message(progress: Progress, rate: float, render: Renderer) -> Outgoing:
    """The progress message: counts, time left, and pause/resume/cancel while it runs."""
    left = time_left(progress, rate)
    minutes = 0 if left is None else max(1, round(left.total_seconds() / 60))
    key = {
        "sending": "announce.progress_sending",
        "paused": "announce.progress_paused",
        "done": "announce.progress_done",
        "cancelled": "announce.progress_cancelled",
    }.get(progress.status, "announce.progress_sending")
    text = render(
        t(
            key,
            **progress.counts(),
            pending=progress.pending,
            minutes=minutes if progress.pending else 0,
        )
    )
    rows: list[tuple[tuple[str, str], ...]] = []
    if progress.status in ("sending", "paused"):
        toggle: callbacks.AnnouncementAction = (
            "annpause" if progress.status == "sending" else "annresume"
        )
        label = "announce.button_pause" if toggle == "annpause" else "announce.button_resume"
        rows.append(
            (
                (
                    render.plain(t(label)),
                    callbacks.encode(TIMELESS, callbacks.announcement(toggle, progress.id)),
                ),
                (
                    render.plain(t("announce.button_stop")),
                    callbacks.encode(TIMELESS, callbacks.announcement("annstop", progress.id)),
                ),
            )
        )
    return Outgoing(text, inline_keyboard=tuple(rows))


def report_file_name(announcement_id: int) -> str:
    return f"pengumuman-{announcement_id}-gagal.csv"


class ProgressReporter:
    """The loop that keeps every announcement's progress message current (a task of the runner,
    beside the outbox): every few seconds it edits the message when its text changed (Telegram
    answers 400 "message is not modified" to an edit that changes nothing), marks an
    announcement 'done' once every row has an outcome, and then sends the final report with a
    CSV of the failures and stops tracking it (progress_message_id cleared)."""

    def __init__(
        self,
        store: AnnouncementStore,
        transport: Transport,
        *,
        language: str | None = None,
        interval: float = PROGRESS_INTERVAL,
        rate: float = 25.0,
        superadmins: frozenset[int] = frozenset(),
    ) -> None:
        self.store = store
        self.transport = transport
        self.render = Renderer(language)
        self.interval = interval
        self.rate = rate
        self.superadmins = superadmins
        self._shown: dict[int, Outgoing] = {}

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database or network hiccup: try again next time
                logger.warning("announcement progress update failed", exc_info=True)
            await asyncio.sleep(self.interval)

    async def tick(self) -> int:
        """One round over the tracked announcements; returns how many messages were edited."""
        edited = 0
        await self._ask_approvals()
        await asyncio.to_thread(self.store.finish_all)
        for row in await asyncio.to_thread(self.store.tracked):
            assert row.id is not None
            progress = await asyncio.to_thread(self.store.progress, row.id)
            shown = progress_message(progress, self.rate, self.render)
            chat, message = row.progress_chat_id, row.progress_message_id
            if chat is None or message is None:
                continue
            if self._shown.get(row.id) != shown:
                await self.transport.edit(chat, message, shown)
                self._shown[row.id] = shown
                edited += 1
            finished = progress.status in ("done", "cancelled") and progress.pending == 0
            # Only the process that stops tracking it reports (several may run this loop).
            if finished and await asyncio.to_thread(
                self.store.release_progress_message, row.id, message
            ):
                await self._report(row.id, chat, progress)
        return edited

    async def _ask_approvals(self) -> None:
        """Ask the superadmins to approve large announcements not asked for yet: those made on
        the command line, and those whose author's turn could not ask (the chat's turn asks at
        once and records it): the preview, then approve / reject."""
        if not self.superadmins:
            return
        for row in await asyncio.to_thread(self.store.unasked_approvals):
            assert row.id is not None
            chats = await asyncio.to_thread(
                self.store.other_superadmin_chats, self.superadmins, row.author_user_id
            )
            # Recorded before sending: asked at most once even if a send fails.
            await asyncio.to_thread(self.store.record_asked, row.id, len(chats))
            content = content_of(row)
            for chat in chats:
                await self.transport.deliver(
                    chat, render_announcement(content, None), media=content.media
                )
                await self.transport.send(chat, approval_request(row, self.render))

    async def _report(self, announcement_id: int, chat: int, progress: Progress) -> None:
        failed = await asyncio.to_thread(self.store.failures, announcement_id)
        text = self.render(t("announce.report", **progress.counts()))
        # Tracking stopped first (the caller): a report is sent at most once, even if a send
        # below fails.
        self._shown.pop(announcement_id, None)
        await self.transport.send(chat, Outgoing(text))
        if failed:
            await self.transport.send_document(
                chat,
                failures_csv(failed),
                report_file_name(announcement_id),
                self.render(t("announce.report_caption", count=len(failed))),
            )
