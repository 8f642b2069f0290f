"""The fuzz suite's own checks catch what they are for: a refused call, an apology, a crash
logged, a broken row. Without these, a fuzz run could pass because its checks see nothing."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy import text

from emulator.schema import BotApiSchema
from tests.fuzz.driver import DEEP_PREFIX, WORKER, Act, Driver
from tests.fuzz.integrity import integrity_problems
from tests.fuzz.test_fuzz import NOW
from tests.fuzz.world import APOLOGIES, World, template_database

#: The first sponsor typing what each step expects: signs up and saves one sponsorship.
SAVED = [Act("expected", 0, 1)] * 40


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_database(tmp_path_factory.mktemp("template"))


@pytest.fixture
async def world(tmp_path: Path, template: Path) -> AsyncIterator[World]:
    made = await World.create(tmp_path, template, BotApiSchema.load(), NOW)
    yield made
    await made.close()


async def test_the_deep_prefix_saves_a_sponsorship_and_brings_the_worker_to_review(
    world: World,
) -> None:
    driver = Driver(world)
    await driver.run(DEEP_PREFIX)
    assert driver.references(), sorted(driver.steps)
    assert {"sponsorship.summary", "worker.verify"} <= driver.steps
    assert (await driver.session(WORKER)).step == "review"
    assert world.violations() == [] and integrity_problems(world.built.engine) == []


async def test_an_invalid_call_and_an_apology_are_violations(world: World) -> None:
    driver = Driver(world)
    await driver.run([Act("expected", 0, 1)])
    chat = driver.user(0).id
    assert world.violations() == []
    with pytest.raises(TelegramBadRequest):  # over 4096 characters
        await world.bot.send_message(chat, "x" * 4097)
    forged = InlineKeyboardButton(text="b", callback_data="d" * 65)  # over 64 bytes
    markup = InlineKeyboardMarkup(inline_keyboard=[[forged]])
    with pytest.raises(TelegramBadRequest):
        await world.bot.send_message(chat, APOLOGIES[0], reply_markup=markup)
    await world.bot.send_message(chat, APOLOGIES[1])
    found = world.violations()
    assert len(found) == 3, found
    assert "message is too long" in found[0] and "BUTTON_DATA_INVALID" in found[1]
    assert found[2] == f"apology sent to {chat}"


async def test_a_row_breaking_an_invariant_is_reported(world: World) -> None:
    driver = Driver(world)
    await driver.run(SAVED)
    with world.built.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE sponsorships SET worker_user_id = "
                "(SELECT user_id FROM sponsors WHERE sponsors.id = sponsorships.sponsor_id)"
            )
        )
    assert [p.split(":")[0] for p in integrity_problems(world.built.engine)] == [
        "nobody is their own worker"
    ]


def test_failure_log_keeps_errors_with_their_traceback() -> None:
    from tests.fuzz.world import FailureLog

    handler = FailureLog()
    logger = logging.getLogger("bot.fuzz-check")
    logger.addHandler(handler)
    try:
        logger.info("fine")
        try:
            raise KeyError("worker_name")
        except KeyError:
            logger.exception("update %s failed", 7)
    finally:
        logger.removeHandler(handler)
    assert len(handler.records) == 1
    assert "update 7 failed" in handler.describe() and "KeyError" in handler.describe()
