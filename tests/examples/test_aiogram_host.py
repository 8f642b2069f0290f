"""examples/aiogram_host.py run as a program against the Bot API emulator over real HTTP: a host
bot's own command, button and free-text handler keep working beside the flows, and the flows
answer only their own commands, buttons and conversations (flows_router)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path

import pytest

from emulator.models import ChatMessage
from emulator.server import BotApiEmulator
from emulator.users import FakeUser
from tests.e2e.harness import (
    TOKEN,
    VALID_NIP,
    environment_for_subprocess,
    settings_for,
    sqlite_url,
    texts,
)
from tests.migrated import migrate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "aiogram_host.py"
STARTUP = 60.0  # importing aiogram takes seconds on a 2-core machine

pytestmark = pytest.mark.slow


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    emulator = BotApiEmulator(TOKEN, per_chat_burst=50)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def host(emulator: BotApiEmulator, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    assert emulator.base_url
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path, transport="aiogram")
    migrate(settings.database_url)  # a copy of a migrated database: the example finds it at head
    log = tmp_path / "host.log"
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path,  # as a host would run it: not from the checkout, no .env of ours
        env=environment_for_subprocess(settings),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


async def turn(
    user: FakeUser,
    action: Awaitable[object],
    count: int,
    timeout: float = 10.0,  # noqa: ASYNC109 - a deadline that fails with a diagnostic
) -> list[ChatMessage]:
    """The action, then exactly `count` bot events in the user's chat (a bot in another process:
    no in-process signal says when it is done, so each turn's size is known)."""
    mark = user.mark()
    await action
    return await user.replies_counted(mark, count, timeout=timeout)


async def test_the_host_keeps_its_handlers_and_the_flows_answer_only_their_own(
    emulator: BotApiEmulator, host: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    user = emulator.user(7301)
    log = tmp_path / "host.log"

    # The host's own command, handled on its Dispatcher.
    hello = await turn(user, user.send_command("halo"), 1, timeout=STARTUP)
    assert texts(hello) == "Halo! Ini bot tuan rumah.", log.read_text()[-3000:]
    # Its menu was merged: the flows' commands, then the host's, in every language.
    for language in ("", "en"):
        menu = [c["command"] for c in emulator.commands("all_private_chats", language)]
        assert menu[0] == "start" and menu[-1] == "halo", menu

    # The host's button (registered after the flows' router): the host answers it, not the
    # flows (which would answer a button they do not know as stale).
    mark = user.mark()
    press = await user.press("👍 Suka")
    assert (await user.wait_callback_answer(press)).text == "Terima kasih!"
    assert texts(await user.replies_counted(mark, 1)) == "Tuan rumah mencatat: suka."

    # Free text while the user is in no conversation, and a command the flows do not know,
    # fall through to the host.
    said = await turn(user, user.send_text("apa kabar"), 1)
    assert texts(said) == "Tuan rumah menerima: apa kabar"
    unknown = await turn(user, user.send_command("cuaca"), 1)
    assert texts(unknown) == "Tuan rumah menerima: /cuaca"

    # The flows' own command and buttons, and free text within their conversation.
    assert "Pilih bahasa" in texts(await turn(user, user.send_command("start"), 1))
    # Text while the flows' question (the language, asked on top of any flow) awaits a press.
    asked = texts(await turn(user, user.send_text("bahasa apa?"), 2))
    assert "Silakan jawab dengan menekan" in asked and "Tuan rumah" not in asked
    # The language saved, the short privacy notice, the NIP question.
    assert "Ketik NIP" in texts(await turn(user, user.press("🇮🇩 Bahasa Indonesia"), 4))
    (question,) = await turn(user, user.send_text(VALID_NIP), 1)
    assert "NIP ini menunjukkan" in texts([question])
    # The host's command in the middle of a flow: the host answers, the flow waits.
    assert texts(await turn(user, user.send_command("halo"), 1)) == "Halo! Ini bot tuan rumah."
    confirmed = user.press("✅ Ya, benar", message_id=question.message_id)
    assert "Ketik nama lengkap" in texts(await turn(user, confirmed, 2))
    assert "Pilih instansi" in texts(await turn(user, user.send_text("Dra. Siti Aminah"), 1))

    # /batal ends the flow (the flows' command); free text is the host's again.
    await turn(user, user.send_command("batal"), 1)
    assert texts(await turn(user, user.send_text("halo lagi"), 1)) == (
        "Tuan rumah menerima: halo lagi"
    )
    # A button in the flows' format that is no longer current is still the flows': stale.
    stale = await user.press_data("1:old-answer")
    answer = await user.wait_callback_answer(stale)
    assert answer.text == "Tombol ini sudah tidak berlaku. Lihat pesan terakhir."

    assert emulator.rejections == []
    os.killpg(host.pid, signal.SIGTERM)  # aiogram's polling stops; the example closes down
    assert host.wait(timeout=30) == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()


async def test_a_host_that_keeps_its_own_menus_gets_none_from_the_flows(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    from bot.app import build_service
    from bot.telegram_aiogram.runner import create_bot, prepare

    assert emulator.base_url
    settings = settings_for(emulator.base_url, sqlite_url(tmp_path), tmp_path)
    migrate(settings.database_url)
    built = build_service(settings)
    bot = create_bot(TOKEN, emulator.base_url)
    try:
        await prepare(built.service, bot, menus=False)
        assert built.service.bot_username  # getMe all the same: the deep links need it
        assert emulator.calls_to("setMyCommands") == []
    finally:
        await bot.session.close()
        await built.aclose()
