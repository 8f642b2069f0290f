"""`peduli playground` (start_playground, as `make run` without a token starts it) on each
transport: the sample data are loaded, the chat page's personas talk to the bot through the
emulator, and the panel's inspector answers (tests/e2e/conftest.py runs this on aiogram and
python-telegram-bot, i.e. `peduli playground --transport ptb`)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from pathlib import Path

import aiohttp

from bot.app import poll_until_stopped, start_playground
from bot.settings import Settings
from emulator.personas import ADMIN, ASN, WORKER
from emulator.users import FakeUser
from tests.e2e import harness
from tests.e2e.harness import texts


async def test_the_playground_runs_with_its_sample_data_on_this_transport(
    tmp_path: Path,
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        playground_database_url=f"sqlite:///{tmp_path / 'playground.sqlite3'}",
        data_key=base64.b64encode(b"p" * 32).decode(),
        data_key_file=tmp_path / "unused-key",
        transport=harness.TRANSPORT_UNDER_TEST,
        admin_ids="",
    )
    playground = await start_playground(settings, 0, flood_limits=False)
    polling = asyncio.create_task(
        poll_until_stopped(playground.runtime, polling_timeout=1, handle_signals=False)
    )
    try:
        emulator = playground.emulator
        asn: FakeUser = emulator.user(ASN.user_id, ASN.first_name)
        status = texts(await asn.say("/status"))
        assert WORKER.full_name in status  # the sample data's sponsorship of the worker
        admin: FakeUser = emulator.user(ADMIN.user_id, ADMIN.first_name)
        assert "dinas" in texts(await admin.say("/statistik", min_count=2))
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{playground.base_url}/_emulator/users/{ASN.user_id}/inspect") as answer,
        ):
            panel = await answer.json()
        assert panel["available"] is True
        states = {row["status"] for row in panel["sponsorships"]}
        assert "confirmed" in states, panel  # the sample sponsorship the worker agreed to
    finally:
        await playground.runtime.stop_polling()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(polling, 10)
        await playground.stop()
