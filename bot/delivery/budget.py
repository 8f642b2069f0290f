"""The rate budget of one bot token: how many bulk messages a second the delivery engine may
send, and one a second to each chat, shared by every process of the bot when Redis is
configured (the `limits` library's moving window; in memory otherwise).

A 429 answer (Telegram's flood control) pauses the whole budget for its retry_after: every
process sharing the storage stops sending until it ends, not only the one that was told.
Replies to the person talking to the bot are sent by the service directly and never wait here;
`note_reply` lets them take their share of the window so bulk sends slow down for them.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.aio.strategies import MovingWindowRateLimiter

from bot.storage.state import SharedWindow

NAMESPACE = "peduli-delivery"
DEFAULT_RATE = 25.0  # messages a second: Telegram allows ~30; the rest is for replies
CHUNKS_PER_SECOND = 50  # at 1000/s, slots are taken 20 at a time; below 100/s one at a time
CHUNK_SECONDS = 0.2  # a slot taken ahead is used within this, or dropped
PAUSE_CHECK_SECONDS = 0.1  # how stale this process's view of another's 429 pause may be
PER_CHAT_RATE = 1  # Telegram: about one message a second to one chat
#: Replies noted within this many seconds take the window in one call (note_reply): one Redis
#: call and one task per update cost more CPU than the rest of the budget under load.
NOTE_SECONDS = 0.1


def budget_key(token: str) -> str:
    """The budget's name for a bot token: a hash, never the token itself (it would be a secret
    readable by anyone with access to Redis)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def limits_storage(redis_url: str | None) -> Storage:
    """Redis (shared by every process of the bot) when configured, else this process's memory."""
    if not redis_url:
        return MemoryStorage()
    uri = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
    return RedisStorage(uri, implementation="redispy")


class RateBudget:
    """`acquire(chat_id)` waits until one more message may go to that chat within the budget."""

    def __init__(
        self,
        key: str,
        rate: float,
        storage: Storage | None = None,
        *,
        per_chat: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.key = key
        self.rate = rate
        self.storage = storage or MemoryStorage()
        self.limiter = MovingWindowRateLimiter(self.storage)
        whole = max(1, math.floor(rate))
        # At high rates (paid broadcasts) slots are taken from the shared window a few at a
        # time: one Redis call per message would cost more CPU than the send itself. A chunk
        # is used within CHUNK_SECONDS, and the window is made smaller by what a chunk can
        # hold back, so that no second ever sees more than `rate` messages.
        self.chunk = max(1, whole // CHUNKS_PER_SECOND)
        self.window = RateLimitItemPerSecond(whole - self.chunk + 1, 1, namespace=NAMESPACE)
        self.per_chat = RateLimitItemPerSecond(PER_CHAT_RATE, 1, namespace=NAMESPACE)
        self.check_chats = per_chat
        self._sleep = sleep
        self._clock = clock
        self._pause_key = f"{NAMESPACE}/pause/{key}"
        self._paused_until = 0.0  # this process's view; the storage holds the shared one
        self._pause_checked = -1.0  # when the shared pause was last read
        self._stash: list[float] = []  # slots taken from the window, unused: until when valid
        self._refill = asyncio.Lock()
        self._pause_read = asyncio.Lock()
        self._replies = 0  # noted, not yet in the window
        self._noting: asyncio.Task[None] | None = None
        self.reply_hits = 0  # calls that put replies in the window (for tests)
        self.pauses = 0  # how often a 429 paused the budget (for tests and the benchmark)
        self._shared: tuple[object, SharedWindow | None] = (None, None)  # shared_window's

    async def acquire(self, chat_id: int, deadline: float | None = None) -> bool:
        """Wait for a slot for one message to `chat_id`; False when none came before `deadline`
        (a clock() time). The chat's second is taken first: a global slot is never wasted on a
        chat that must wait (a chat second taken in vain only delays that chat)."""
        chat = str(chat_id)
        chat_taken = not self.check_chats
        while True:
            wait = await self.paused_for()
            if wait <= 0 and not chat_taken:
                if await self.limiter.hit(self.per_chat, self.key, "chat", chat):
                    chat_taken = True
                else:
                    wait = await self._window_wait(self.per_chat, self.key, "chat", chat)
            if wait <= 0:
                if await self._take_slot():
                    return True
                wait = await self._window_wait(self.window, self.key)
            if deadline is not None and self._clock() + wait > deadline:
                return False
            await self._sleep(max(wait, 0.001))

    async def _take_slot(self) -> bool:
        async with self._refill:
            now = self._clock()
            while self._stash and self._stash[-1] < now:
                self._stash.pop()
            if self._stash:
                self._stash.pop()
                return True
            if await self.limiter.hit(self.window, self.key, cost=self.chunk):
                self._stash = [now + CHUNK_SECONDS] * (self.chunk - 1)
                return True
            return self.chunk > 1 and await self.limiter.hit(self.window, self.key)

    async def _window_wait(self, item: RateLimitItemPerSecond, *identifiers: str) -> float:
        stats = await self.limiter.get_window_stats(item, *identifiers)
        return max(0.0, stats.reset_time - self._clock())

    def shared_window(self) -> SharedWindow | None:
        """The window replies are counted in, when it is in Redis: a turn whose lock is in the
        same Redis counts its reply there in the script that ends it (bot.storage.state's
        RedisOpenTurn), instead of a `note_reply` round trip of its own. None in memory."""
        made_for, shared = self._shared
        if made_for == (self.key, self.window):
            return shared
        shared = None
        bridge: Any = getattr(self.storage, "bridge", None)
        # coredis or valkey (not a redis-py client): replies noted by note_reply
        if isinstance(self.storage, RedisStorage) and isinstance(bridge, RedispyBridge):
            shared = SharedWindow(
                bridge.get_connection(),
                bridge.prefixed_key(self.window.key_for(self.key)),
                self.window.amount,
                self.window.get_expiry(),
            )
        self._shared = ((self.key, self.window), shared)
        return shared

    def note_reply(self) -> None:
        """A reply went to the current speaker outside the engine: count it in the window so
        bulk sends leave room for it. Never blocks (and never fails the reply).

        Replies noted within NOTE_SECONDS go into the window together, in one call (cost = their
        number, at most the window's size): one task and one Redis call per burst rather than
        per update. A burst larger than what the window has left takes nothing, as a single
        reply on a full window does: bulk sends wait on that window anyway."""
        self._replies += 1
        if self._noting is None:
            self._noting = asyncio.get_running_loop().create_task(self._note_replies())
            self._noting.add_done_callback(_ignore_result)

    async def _note_replies(self) -> None:
        try:
            await self._sleep(NOTE_SECONDS)
            while self._replies:
                count, self._replies = self._replies, 0
                self.reply_hits += 1
                await self.limiter.hit(self.window, self.key, cost=min(count, self.window.amount))
        finally:
            self._replies = 0
            self._noting = None

    async def pause(self, retry_after: float) -> None:
        """Telegram answered 429: no process sends on this budget for `retry_after` seconds."""
        seconds = max(1, math.ceil(retry_after))
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self.pauses += 1
        if await self.storage.get(self._pause_key) <= 0:
            await self.storage.incr(self._pause_key, seconds)

    async def paused_for(self) -> float:
        """Seconds until the budget's pause ends (0: not paused), in this process or another."""
        # One read at a time: concurrent senders wait for it and then see its answer, rather
        # than taking "read a moment ago" for "not paused" while the read is still under way.
        async with self._pause_read:
            now = self._clock()
            local = self._paused_until - now
            if local > 0:
                return local
            if now - self._pause_checked < PAUSE_CHECK_SECONDS:
                return 0.0  # read a moment ago: not one Redis call per message
            if await self.storage.get(self._pause_key) > 0:
                expiry = await self.storage.get_expiry(self._pause_key)
                self._paused_until = max(self._paused_until, expiry)
            self._pause_checked = now
            return max(0.0, self._paused_until - now)

    async def reset(self) -> None:
        """Forget the pause and this bot's window (tests, benchmarks)."""
        self._paused_until = 0.0
        self._pause_checked = -1.0
        await self.storage.clear(self._pause_key)
        await self.limiter.clear(self.window, self.key)


def _ignore_result(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a Redis hiccup while noting a reply is not worth a log
