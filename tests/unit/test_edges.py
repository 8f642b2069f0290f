"""The edges of a turn (issue 13): what the webhook endpoint, the transports and the background
work do per update besides the turn itself. Counted, never timed."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from aiohttp.web_log import AccessLogger

from bot.app import ACCESS_LOGGER, configure_logging


@pytest.fixture
def logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    touched = [logging.getLogger(name) for name in (ACCESS_LOGGER, "aiogram.event")]
    saved = (root.level, list(root.handlers), [each.level for each in touched])
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for each, level in zip(touched, saved[2], strict=True):
        each.setLevel(level)


@pytest.mark.usefixtures("logging_restored")
@pytest.mark.parametrize(("level", "written"), [("INFO", False), ("WARNING", False), ("DEBUG", True)])
def test_the_webhook_writes_an_access_line_per_update_only_at_debug(
    level: str, written: bool
) -> None:
    """aiohttp formats and writes an access line per request (per update) whenever its logger
    is enabled for INFO; the bot's logging leaves it on at DEBUG only."""
    configure_logging(level)
    assert AccessLogger(logging.getLogger(ACCESS_LOGGER)).enabled is written
