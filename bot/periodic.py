"""A background task's heartbeat: the ledger's upkeep and the reminder rounds run on it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

STOP_GRACE = 10.0  # seconds a stopping bot waits for a round's transaction to end


async def every(
    interval: float,
    run_once: Callable[[], Awaitable[object]],
    *,
    logger: logging.Logger,
    failure: str,
    grace: float = STOP_GRACE,
) -> None:
    """Until cancelled: a round now, then one every `interval` seconds. A round that fails is
    logged (`failure`) and the next one retries: the loop must outlive a database hiccup.
    Cancelled during a round, it lets the round's transaction (in a worker thread, which cannot
    be interrupted) end first, up to `grace` seconds, so the engine is not closed under it."""

    async def round_() -> None:
        try:
            await run_once()
        except Exception:
            logger.exception(failure)

    while True:
        current = asyncio.ensure_future(round_())
        try:
            await asyncio.shield(current)
        except asyncio.CancelledError:
            await asyncio.wait({current}, timeout=grace)
            raise
        await asyncio.sleep(interval)
