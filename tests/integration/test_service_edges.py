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

from bot import service as service_module
from bot.app import Built, build_service
from bot.exports.statement_pdf import statement_pdf
from bot.service import Incoming, qr_png
from bot.settings import Settings
from bot.transport import Outgoing
from flows.effects import Message, SendStatementCopy, ShowInvitation
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


class SimpanTransport(PhotoTransport):
    """Records what the user sees, in order; holds the press's answer until `ready` is set, and
    fails the document when told to."""

    def __init__(self, ready: asyncio.Event, *, fail_document: bool = False) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.ready = ready
        self.fail_document = fail_document

    async def answer_callback(self, callback_query_id: str, text: str | None) -> None:
        self.calls.append("answer")
        await asyncio.wait_for(self.ready.wait(), 10)

    async def retire(self, chat_id: int, message_id: int, html: str | None) -> None:
        self.calls.append("retire")

    async def send(self, chat_id: int, message: Outgoing) -> int | None:
        self.calls.append("forward" if "start=w_" in message.text else "saved")
        return await super().send(chat_id, message)

    async def send_document(
        self, chat_id: int, data: bytes, filename: str, caption: str
    ) -> int | None:
        self.calls.append("document")
        if self.fail_document:
            raise ConnectionError("the Bot API is gone")
        return await super().send_document(chat_id, data, filename, caption)

    async def send_photo(self, chat_id: int, png: bytes, caption: str) -> int | None:
        self.calls.append("photo")
        return await super().send_photo(chat_id, png, caption)


def simpan(user_id: int) -> tuple[Incoming, list[Any]]:
    """The press of "💾 Simpan" and its answer's effects: the saved message, the statement copy
    for the treasurer, the invitation (flows.sponsorship._settle)."""
    press = Incoming(
        update_id=3,
        user_id=user_id,
        chat_id=user_id,
        input=ChoicePicked(seq=9, value="save", message_id=50),
        callback_query_id=f"q-{user_id}",
        callback_message_id=50,
        pressed_label="💾 Simpan",
        pressed_message_html="Ringkasan",
    )
    copy = SendStatementCopy(
        "PR-SIMPAN", t("button.back"), "2026-12-1", NOW.isoformat(), zone="Asia/Jakarta"
    )
    invitation = ShowInvitation("PR-SIMPAN", f"token-simpan-{user_id}", "Ujang Suryana", "id")
    return press, [Message(t("button.back")), copy, invitation]


def drawing_recorded(
    monkeypatch: pytest.MonkeyPatch, ready: asyncio.Event
) -> list[tuple[str, str]]:
    """The PDF and QR drawings as they start (what, in which thread); `ready` set once both
    have started."""
    loop = asyncio.get_running_loop()
    started: list[tuple[str, str]] = []

    def recorded(what: str, draw: Any) -> Any:
        def drawing(*args: Any) -> Any:
            started.append((what, threading.current_thread().name))
            if len(started) == 2:
                loop.call_soon_threadsafe(ready.set)
            return draw(*args)

        return drawing

    monkeypatch.setattr(service_module, "statement_pdf", recorded("pdf", statement_pdf))
    monkeypatch.setattr(service_module, "qr_png", recorded("qr", qr_png.__wrapped__))
    return started


async def test_simpan_draws_its_pdf_and_qr_code_together_while_the_press_is_answered(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both files are drawn in worker threads from the start of the answer, not each before
    its own send: the press's answer is held until both drawings have started (it would wait
    forever for drawings that start after it). The user sees the same order as before."""
    ready = asyncio.Event()
    started = drawing_recorded(monkeypatch, ready)
    transport = SimpanTransport(ready)
    press, effects = simpan(73)
    await built.service._deliver(press, transport, effects, "id")
    assert sorted(what for what, _ in started) == ["pdf", "qr"]  # each drawn once
    assert threading.main_thread().name not in {thread for _, thread in started}
    assert transport.calls == ["answer", "retire", "saved", "document", "photo", "forward"]
    assert len(transport.photos) == 1


async def test_a_failed_send_leaves_no_drawing_behind(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The document cannot be sent: the answer stops there (the photo is not sent before it),
    and the QR code's drawing, already begun, is awaited and dropped: no task left over."""
    ready = asyncio.Event()
    drawing_recorded(monkeypatch, ready)
    transport = SimpanTransport(ready, fail_document=True)
    press, effects = simpan(74)
    before = asyncio.all_tasks()
    with pytest.raises(ConnectionError):
        await built.service._deliver(press, transport, effects, "id")
    assert transport.calls == ["answer", "retire", "saved", "document"]
    assert transport.photos == []
    assert asyncio.all_tasks() == before
