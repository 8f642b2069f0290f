"""The delivery engine: claims small batches of the outbox (bot.storage.delivery_store) in
priority order (notifications, then reminders, then announcements), sends each row within the
bot's rate budget (bot.delivery.budget), one attempt each (Transport.deliver), and marks the
batch in one transaction.

Why small batches: Telegram has no idempotency key, so between a send and its mark a kill -9
leaves the row's fate unknown. A batch is about half a second of the budget (rate x 0.5 rows),
so at most that many rows (two batches while the next is being claimed) can be in flight when a
process dies; their leases end and the next claim settles them: announcement and reminder rows
'unknown' (never sent twice), notification rows sent again (at least once). A new notification
is claimed at the next batch, so it waits about half a second behind an announcement at most.

Why the slot deadline: a row may only be sent while its lease holds (another process takes it
over afterwards). A row that cannot get a slot from the budget in time (a long 429 pause) is
released untried, and every send is cut off at send_timeout, well inside the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Literal

from bot.delivery.budget import RateBudget
from bot.delivery.contracts import (
    AnnouncementContent,
    AnnouncementRenderer,
    DueReminder,
    EveryReminderDue,
    ReminderGate,
    plain_announcement,
)
from bot.i18n import Renderer
from bot.reminder_text import reminder_outgoing
from bot.storage.delivery_store import Delivery, DeliveryStore, Mark
from bot.storage.models import Announcement
from bot.transport import Media, Outgoing, SendResult, SendStatus, Transport
from flows.text import from_json

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)
SEND_TIMEOUT = 10.0  # seconds: a send still unanswered then counts as a transient failure
SLOT_SHARE = 0.8  # of the lease left after a send's timeout: when the last slot may be taken
BATCH_SECONDS = 0.5  # a batch is this much of the budget
PIPELINE = 2  # batches in flight at once: the next is claimed while one is still sending
ANNOUNCEMENT_CACHE = 64
MARK_ATTEMPTS = 3
MARK_RETRY_SECONDS = 1.0  # x 2: well inside the lease (the sends ended before it)
# A stopping bot (SIGTERM, a deploy) lets the batches in flight finish and be marked, up to this
# long: abandoned, their announcement and reminder rows would lapse into 'unknown' and never be
# sent, on every ordinary restart. Only a kill -9 (or a stop slower than this) leaves rows so.
STOP_GRACE = 5.0


def batch_size_for(rate: float) -> int:
    return max(1, round(rate * BATCH_SECONDS))


class DeliveryEngine:
    def __init__(
        self,
        store: DeliveryStore,
        transport: Transport,
        ready: asyncio.Event,
        budget: RateBudget,
        *,
        renderer: AnnouncementRenderer = plain_announcement,
        reminder_gate: ReminderGate | None = None,
        paid_broadcast: bool = False,
        batch_size: int | None = None,
        lease: timedelta = LEASE,
        send_timeout: float = SEND_TIMEOUT,
        interval_seconds: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < send_timeout < lease.total_seconds():
            # A send outliving its lease could be claimed and sent again by another process.
            raise ValueError("send_timeout must be positive and shorter than the lease")
        self.store = store
        self.transport = transport
        self.ready = ready
        self.budget = budget
        self.renderer = renderer
        self.reminder_gate = reminder_gate or EveryReminderDue()
        self.paid_broadcast = paid_broadcast
        self.batch_size = batch_size or batch_size_for(budget.rate)
        self.lease = lease
        self.send_timeout = send_timeout
        self.interval = interval_seconds
        self._clock = clock
        self._announcements: OrderedDict[int, AnnouncementContent | None] = OrderedDict()
        self._renderers: dict[str | None, Renderer] = {}
        self.sent = 0  # rows Telegram accepted from this engine (the benchmark reads it)

    # ---- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Until cancelled: claim a batch whenever fewer than PIPELINE are in flight; when
        nothing is due, sleep until woken (the service's outbox_ready) or the interval ends."""
        in_flight: set[asyncio.Task[int]] = set()
        try:
            while True:
                try:
                    claimed = False
                    if len(in_flight) < PIPELINE:
                        pause = await self.budget.paused_for()
                        if pause > 0:
                            await asyncio.sleep(min(pause, self.interval))
                            continue
                        batch = await self._claim_sheltered(in_flight)
                        if batch:
                            in_flight.add(asyncio.create_task(self._send_batch(batch)))
                            claimed = True
                    if claimed:
                        continue
                    if in_flight:
                        done, in_flight = await asyncio.wait(
                            in_flight, timeout=self.interval, return_when=asyncio.FIRST_COMPLETED
                        )
                        for task in done:
                            if task.exception() is not None:
                                logger.error("delivery batch failed", exc_info=task.exception())
                        continue
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.ready.wait(), self.interval)
                    self.ready.clear()
                except Exception:  # the loop must outlive a database or network hiccup
                    logger.exception("delivery failed; retrying")
                    await asyncio.sleep(1.0)
        finally:
            if in_flight:
                await asyncio.wait(in_flight, timeout=STOP_GRACE)
            for task in in_flight:
                task.cancel()

    async def _claim_sheltered(self, in_flight: set[asyncio.Task[int]]) -> list[Delivery]:
        """A claim that a stop cannot cut in half: its transaction runs in a worker thread and
        commits anyway, so when the stop comes meanwhile, the rows it claimed join the batches
        the stop lets finish (`in_flight`) instead of lapsing unsent."""
        claim = asyncio.ensure_future(self._claim())
        try:
            return await asyncio.shield(claim)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                batch = await asyncio.wait_for(claim, STOP_GRACE)
                if batch:
                    in_flight.add(asyncio.create_task(self._send_batch(batch)))
            raise

    async def deliver_once(self) -> int:
        """One batch: claim, send, mark. How many rows Telegram accepted."""
        batch = await self._claim()
        return await self._send_batch(batch) if batch else 0

    async def _claim(self) -> list[Delivery]:
        return await asyncio.to_thread(self.store.claim, self.batch_size, self.lease)

    # ---- one batch ---------------------------------------------------------------------------

    async def _send_batch(self, batch: Sequence[Delivery]) -> int:
        # Slots are taken only while the lease leaves room for a whole send after them.
        room = (self.lease.total_seconds() - self.send_timeout) * SLOT_SHARE
        deadline = self._clock() + room
        marks: list[Mark] = []
        due = await self._still_due(batch, marks)
        announcements = await self._contents({d.announcement_id for d in due} - {None})
        results = await asyncio.gather(
            *(self._send_one(d, announcements, deadline) for d in due), return_exceptions=True
        )
        for delivery, result in zip(due, results, strict=True):
            if isinstance(result, BaseException):
                logger.error("delivery %s failed", delivery.id, exc_info=result)
                result = Mark(delivery.id, "transient", detail=type(result).__name__)
            marks.append(result)
        await self._mark(marks)
        sent = sum(mark.result == "sent" for mark in marks)
        self.sent += sent
        return sent

    async def _mark(self, marks: list[Mark]) -> None:
        """Record a batch's outcomes, retried through a short database hiccup: a batch left
        unmarked would lapse, and its announcement rows would count as unknown."""
        for attempt in range(MARK_ATTEMPTS):
            try:
                await asyncio.to_thread(self.store.mark, marks)
                return
            except Exception:
                if attempt + 1 == MARK_ATTEMPTS:
                    raise
                logger.warning("marking %d deliveries failed; retrying", len(marks))
                await asyncio.sleep(MARK_RETRY_SECONDS)

    async def _still_due(self, batch: Sequence[Delivery], marks: list[Mark]) -> list[Delivery]:
        """The batch without reminders whose reason is gone (marked void)."""
        reminders = [
            DueReminder(d.id, d.dedupe_key, d.recipient_user_id)
            for d in batch
            if d.kind == "reminder"
        ]
        if not reminders:
            return list(batch)
        keep = await asyncio.to_thread(self.reminder_gate.still_due, reminders)
        due = []
        for delivery in batch:
            if delivery.kind == "reminder" and delivery.id not in keep:
                marks.append(Mark(delivery.id, "void", detail="no longer due"))
            else:
                due.append(delivery)
        return due

    async def _contents(self, ids: set[int | None]) -> dict[int, AnnouncementContent | None]:
        """The announcements of a batch, each loaded once (its text never changes once sent)."""
        wanted = {i for i in ids if i is not None}
        missing = wanted - set(self._announcements)
        if missing:
            found = await asyncio.to_thread(self.store.announcements, missing)
            for announcement_id in missing:
                row = found.get(announcement_id)
                self._announcements[announcement_id] = content_of(row) if row else None
            while len(self._announcements) > ANNOUNCEMENT_CACHE:
                self._announcements.popitem(last=False)
        return {i: self._announcements.get(i) for i in wanted}

    async def _send_one(
        self,
        delivery: Delivery,
        announcements: dict[int, AnnouncementContent | None],
        deadline: float,
    ) -> Mark:
        media: Media | None = None
        paid = self.paid_broadcast
        if delivery.announcement_id is not None:
            content = announcements.get(delivery.announcement_id)
            if content is None:
                return Mark(delivery.id, "refused", detail="announcement not found")
            message = self.renderer(content, delivery.language)
            media = content.media
            paid = paid or content.paid_broadcast
        else:
            assert delivery.message is not None  # the store opened it
            if delivery.kind == "reminder":  # a reminder carries its buttons (resume, new link)
                message = reminder_outgoing(delivery.message, delivery.language)
            else:
                message = Outgoing(self._renderer(delivery.language)(from_json(delivery.message)))
        if not await self.budget.acquire(delivery.chat_id, deadline):
            return Mark(delivery.id, "release", detail="no slot within the lease")
        try:
            result = await asyncio.wait_for(
                self.transport.deliver(delivery.chat_id, message, media=media, paid_broadcast=paid),
                self.send_timeout,
            )
        except Exception as error:  # a timeout or a transport bug: worth a later retry
            result = SendResult(SendStatus.TRANSIENT, detail=type(error).__name__)
        return await self._mark_for(delivery, result)

    async def _mark_for(self, delivery: Delivery, result: SendResult) -> Mark:
        status = result.status
        if status == SendStatus.SENT:
            return Mark(delivery.id, "sent", message_id=result.message_id)
        if status == SendStatus.RATE_LIMITED:
            # Telegram's flood control: everyone sharing the budget waits, this row goes again.
            await self.budget.pause(result.retry_after or 1.0)
            return Mark(delivery.id, "release", detail="429")
        if status == SendStatus.BLOCKED:
            return Mark(
                delivery.id,
                "blocked",
                detail=result.detail or "blocked",
                recipient_user_id=delivery.recipient_user_id,
            )
        if status == SendStatus.REFUSED:
            return Mark(delivery.id, "refused", detail=result.detail or "refused")
        return Mark(
            delivery.id,
            "transient",
            detail=result.detail or "transient",
            attempts=delivery.attempts,
        )

    def _renderer(self, language: str | None) -> Renderer:
        renderer = self._renderers.get(language)
        if renderer is None:
            renderer = self._renderers[language] = Renderer(language)
        return renderer


def content_of(announcement: Announcement) -> AnnouncementContent:
    media = None
    if announcement.media_kind is not None and announcement.media_file_id:
        kind: Literal["photo", "document"] = (
            "photo" if announcement.media_kind == "photo" else "document"
        )
        media = Media(kind, announcement.media_file_id)
    assert announcement.id is not None
    return AnnouncementContent(
        id=announcement.id,
        body=announcement.body,
        media=media,
        button=announcement.button,
        paid_broadcast=announcement.paid_broadcast,
    )
