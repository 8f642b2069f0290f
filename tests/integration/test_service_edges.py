"""The service's delivery edges: work that does not depend on the update is done once."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import segno

from bot.app import Built, build_service
from bot.service import Incoming
from bot.settings import Settings
from bot.transport import Outgoing
from flows.effects import Message, ShowInvitation
from flows.inputs import ChoicePicked, TextReceived
from flows.text import t
from tests.e2e.harness import NOW
from tests.integration.test_service_shared_redis import RecordingTransport


class PhotoTransport(RecordingTransport):
    def __init__(self) -> None:
        super().__init__()
        self.photos: list[bytes] = []

    async def send_photo(self, chat_id: int, png: bytes, caption: str) -> int | None:
        self.photos.append(png)
        return await super().send_photo(chat_id, png, caption)


@pytest.fixture
async def built(tmp_path: Path) -> AsyncIterator[Built]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        bot_token="123456:TEST",
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        data_key=base64.b64encode(b"k" * 32).decode(),
        data_key_file=tmp_path / "unused",
    )
    built = build_service(settings, clock=lambda: NOW)
    try:
        yield built
    finally:
        await built.aclose()


async def test_an_invitation_shown_again_reuses_its_qr_code_drawn_off_the_event_loop(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer sent again (a redelivered update, a send that failed) shows the same
    invitation: its QR code (10-13 ms of pure Python) is drawn once, in a worker thread."""
    drawn: list[str] = []
    make = segno.make

    def counting_make(content: Any, *args: Any, **kwargs: Any) -> Any:
        drawn.append(threading.current_thread().name)
        return make(content, *args, **kwargs)

    monkeypatch.setattr(segno, "make", counting_make)
    service, transport = built.service, PhotoTransport()
    incoming = Incoming(update_id=1, user_id=71, chat_id=71, input=TextReceived(""))
    invitation = ShowInvitation("PR-QRONCE", "token-drawn-once-71", "Siti", "id")
    for _ in range(2):
        await service._deliver(incoming, transport, [invitation], "id")
    assert len(transport.photos) == 2 and transport.photos[0] == transport.photos[1]
    assert len(drawn) == 1
    assert drawn != [threading.main_thread().name]  # not on the event loop's thread


class PressTransport(PhotoTransport):
    """Holds the press's answer and the retire until both have started."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.both_started = asyncio.Event()

    async def _held(self, name: str) -> None:
        self.calls.append(f"{name} started")
        if sum(call.endswith("started") for call in self.calls) == 2:
            self.both_started.set()
        await asyncio.wait_for(self.both_started.wait(), 5)
        self.calls.append(f"{name} done")

    async def answer_callback(self, callback_query_id: str, text: str | None) -> None:
        await self._held("answer")

    async def retire(self, chat_id: int, message_id: int, html: str | None) -> None:
        await self._held("retire")

    async def send(self, chat_id: int, message: Outgoing) -> int | None:
        self.calls.append("reply")
        return await super().send(chat_id, message)


async def test_a_press_is_answered_and_its_buttons_retired_together_before_the_reply(
    built: Built,
) -> None:
    transport = PressTransport()
    press = Incoming(
        update_id=2,
        user_id=72,
        chat_id=72,
        input=ChoicePicked(seq=3, value="yes", message_id=40),
        callback_query_id="q-72",
        callback_message_id=40,
        pressed_label="Ya",
        pressed_message_html="Benar?",
    )
    await built.service._deliver(press, transport, [Message(t("button.back"))], "id")
    assert transport.calls[:2] == ["answer started", "retire started"]  # one round trip
    assert sorted(transport.calls[2:4]) == ["answer done", "retire done"]
    assert transport.calls[4:] == ["reply"]  # the reply after the retired buttons
