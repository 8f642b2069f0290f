"""The service sends long lists a page at a time, shows another page in place of the one whose
button was pressed (its buttons kept), and sends anything over 4096 characters in parts."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import presenters
from bot.app import Built, build_service
from bot.service import Incoming
from bot.settings import Settings
from bot.transport import TEXT_LIMIT, Outgoing
from flows.commands import RegisterSponsor, RequestCorrection
from flows.inputs import ChoicePicked, CommandIssued
from tests.e2e.harness import NOW

ADMIN = 9201


class Transport:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Outgoing | None]] = []

    async def send(self, chat_id: int, message: Outgoing) -> int | None:
        self.calls.append(("send", message))
        return len(self.calls)

    async def edit(self, chat_id: int, message_id: int, message: Outgoing) -> None:
        self.calls.append(("edit", message))

    async def retire(self, chat_id: int, message_id: int, html: str | None) -> None:
        self.calls.append(("retire", None))

    async def answer_callback(self, callback_query_id: str, text: str | None) -> None:
        self.calls.append(("answer", None))

    async def delete(self, chat_id: int, message_id: int) -> None:
        self.calls.append(("delete", None))

    async def send_photo(self, chat_id: int, png: bytes, caption: str) -> int | None:
        self.calls.append(("photo", None))
        return len(self.calls)

    async def send_document(
        self, chat_id: int, data: bytes, filename: str, caption: str
    ) -> int | None:
        self.calls.append(("document", None))
        return len(self.calls)


@pytest.fixture
async def built(tmp_path: Path) -> AsyncIterator[Built]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        bot_token="123456:TEST",
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        data_key=base64.b64encode(b"k" * 32).decode(),
        data_key_file=tmp_path / "unused",
        admin_ids=str(ADMIN),
    )
    built = build_service(settings, clock=lambda: NOW)
    for number in range(4):  # 12 open requests, 3 from each of 4 sponsors
        user_id = 8600 + number
        register = RegisterSponsor(
            user_id, f"19850315201001{1002 + number}", "PNS", f"S{number}", "32.05.DINKES", "+62811"
        )
        requests = [RequestCorrection(user_id, None, "sponsor", "x" * 480, NOW) for _ in range(3)]
        built.service.repository.apply(user_id, [register, *requests])
    yield built
    await built.aclose()


async def test_another_page_replaces_the_one_whose_button_was_pressed(built: Built) -> None:
    service, transport = built.service, Transport()
    await service.handle(Incoming(1, ADMIN, ADMIN, CommandIssued("antrian")), transport)
    [(kind, first)] = transport.calls
    assert kind == "send" and first is not None and len(first.text) < TEXT_LIMIT
    [next_page] = [data for row in first.inline_keyboard for _label, data in row if "show" in data]
    seq, _, value = next_page.partition(":")
    transport.calls.clear()
    pressed = Incoming(
        2,
        ADMIN,
        ADMIN,
        ChoicePicked(int(seq), value),
        callback_query_id="q1",
        callback_message_id=55,
        pressed_label="Berikutnya ▶️",
        pressed_message_html=first.text,
    )
    await service.handle(pressed, transport)
    # Answered, then edited in place; not retired (the page buttons stay usable), nothing new.
    assert [kind for kind, _message in transport.calls] == ["answer", "edit"]
    second = transport.calls[1][1]
    assert second is not None and "Menampilkan 6–10 dari 12" in second.text
    assert any(data == "0:show:queue:0" for row in second.inline_keyboard for _l, data in row)


async def test_a_message_over_the_limit_is_sent_in_parts(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The safety net under paging: whatever a presenter returns, Telegram gets parts it takes."""
    huge = Outgoing("\n".join(f"<b>baris {n}</b> " + "y" * 90 for n in range(120)))
    keyboard = ((("✅", "0:act:resolve:1"),),)
    monkeypatch.setattr(
        presenters, "request_queue", lambda *args: Outgoing(huge.text, inline_keyboard=keyboard)
    )
    service, transport = built.service, Transport()
    await service.handle(Incoming(1, ADMIN, ADMIN, CommandIssued("antrian")), transport)
    parts = [message for kind, message in transport.calls if kind == "send"]
    texts = [p.text for p in parts if p is not None]
    assert len(texts) > 1 and all(len(text) <= TEXT_LIMIT for text in texts)
    assert "\n".join(text.strip("\n") for text in texts) == huge.text  # every line, once
    assert [p.inline_keyboard for p in parts if p is not None][-1] == keyboard
    assert not any(p.inline_keyboard for p in parts[:-1] if p is not None)
