"""The start-up heap is frozen once the bot serves (bot.heap): the collector's full passes no
longer walk it (one took 94-271 ms under the benchmark, stalling every turn in flight)."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

import bot.app
from bot.heap import settle_after_start
from bot.settings import Settings


class Node:
    me: Node | None = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test process collects as before


def test_what_is_alive_at_start_is_frozen_and_what_comes_after_is_collected(
    unfrozen: None,
) -> None:
    kept = [[1], [2]]
    dropped = Node()
    dropped.me = dropped  # a cycle dropped before the freeze: freed, not frozen for ever
    dropped_ref = weakref.ref(dropped)
    del dropped

    frozen = settle_after_start()

    assert frozen == gc.get_freeze_count() > 0
    assert dropped_ref() is None
    assert not any(item is kept for item in gc.get_objects())  # no pass walks it any more
    later = [[3]]
    assert any(item is later for item in gc.get_objects())  # collected as before


def test_the_webhook_process_freezes_its_heap_once_it_serves(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []

    class Server:
        async def stop(self) -> None:
            events.append("stopped")

    async def serve(settings: Settings, **_: Any) -> Server:
        events.append("serving")
        return Server()

    def settle() -> int:
        events.append("settled")
        os.kill(os.getpid(), signal.SIGTERM)  # the process's own stop, handled by _webhook
        return 1

    monkeypatch.setattr(bot.app, "serve_webhook", serve)
    monkeypatch.setattr(bot.app, "settle_after_start", settle)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    # Without the settling (and so without its stop) the server would wait for ever.
    asyncio.run(asyncio.wait_for(bot.app._webhook(settings, False, None), 10))
    assert events == ["serving", "settled", "stopped"]


def test_long_polling_freezes_its_heap_before_the_first_update(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events: list[str] = []

    class Built:
        service = object()

        async def aclose(self) -> None:
            events.append("closed")

    class Runtime:
        async def close(self) -> None:
            pass

    async def poll(runtime: Runtime) -> None:
        events.append("polling")

    monkeypatch.setattr(bot.app, "build_service", lambda settings: Built())
    monkeypatch.setattr(bot.app, "create_runtime", lambda *args, **kwargs: Runtime())
    monkeypatch.setattr(bot.app, "settle_after_start", lambda: events.append("settled") or 1)
    monkeypatch.setattr(bot.app, "poll_until_stopped", poll)
    asyncio.run(bot.app._polling(Settings(_env_file=None), "1:T"))  # type: ignore[call-arg]
    assert events == ["settled", "polling", "closed"]
