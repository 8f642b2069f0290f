"""The playground page in a real browser: Debian's chromium driven by Playwright for Python.

Playwright never downloads a browser here (no network): it drives the system's chromium
(`executable_path`). Without chromium the tests are skipped with the reason, except under CI=true,
where they fail: .ci/run installs chromium, and CI never passes by skipping.

Screenshots go to the folder PLAYGROUND_SCREENSHOTS names (default: the test's tmp_path); each
test prints where.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.app import Playground, poll_until_stopped, start_playground
from bot.settings import Settings
from emulator.server import BotApiEmulator
from tests.migrated import migrate

#: Where Debian's chromium package puts the browser.
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1600, "height": 900}
#: How long a browser assertion waits for the page (the bot answers within a second or two).
WAIT_MS = 15_000
expect.set_options(timeout=WAIT_MS)


def chromium_path() -> str:
    """The system's chromium, or skip (fail under CI=true) saying why."""
    found = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if found is None:
        reason = (
            "chromium is not installed: the browser tests drive Debian's chromium package "
            "(apt-get install chromium); Playwright's own browser download is not used"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason + " (CI=true: .ci/run installs it; the browser tests must run)")
        pytest.skip(reason)
    return found


@pytest.fixture
def screenshots(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """The folder of this test's screenshots: $PLAYGROUND_SCREENSHOTS/<test> or tmp_path."""
    base = os.environ.get("PLAYGROUND_SCREENSHOTS")
    folder = Path(base) / request.node.name if base else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of {request.node.name}: {folder}")
    return folder


@dataclass
class PageProblems:
    """What the browser reported: script errors, failed requests, HTTP errors (a favicon 404)."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                self.errors.append(f"console: {message.text}") if message.type == "error" else None
            ),
        )
        page.on(
            "response",
            lambda response: (
                self.errors.append(f"HTTP {response.status}: {response.url}")
                if response.status >= 400
                else None
            ),
        )


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[tuple[Page, PageProblems]]:
    context = await browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    opened = await context.new_page()
    opened.set_default_timeout(WAIT_MS)
    problems = PageProblems()
    problems.watch(opened)
    yield opened, problems
    await context.close()


@pytest.fixture
async def bare_emulator() -> AsyncIterator[BotApiEmulator]:
    """The emulator alone (no bot): the test plays the bot through emulator.call."""
    emulator = BotApiEmulator("123456:PAGE", per_chat_rate=None, global_rate=None)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def chromium_available() -> str:
    return chromium_path()


@pytest.fixture
async def playground(tmp_path: Path, chromium_available: str) -> AsyncIterator[Playground]:
    """`peduli playground` as `make run` starts it (start_playground), in this process, on a
    free port and a database of the test's own; the flood limits lifted (a test clicks faster
    than a person)."""
    database = f"sqlite:///{tmp_path / 'playground.sqlite3'}"
    await asyncio.to_thread(migrate, database)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        playground_database_url=database,
        data_key=base64.b64encode(b"p" * 32).decode(),
        data_key_file=tmp_path / "unused-key",
        transport="aiogram",
        admin_ids="",
    )
    # Without the sample data: the journey meets the bot as a new ASN 1001 would.
    running = await start_playground(settings, 0, flood_limits=False, sample_data=False)
    task = asyncio.create_task(
        poll_until_stopped(running.runtime, polling_timeout=1, handle_signals=False)
    )
    try:
        yield running
    finally:
        await running.runtime.stop_polling()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        await running.stop()
