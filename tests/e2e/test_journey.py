"""An ASN signs up and sponsors a worker, end to end: the real aiogram bot over HTTP against the
emulator, once on SQLite alone and once on PostgreSQL with Redis."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from emulator.server import BotApiEmulator
from tests.e2e.harness import (
    VALID_NIK,
    VALID_NIP,
    BotUnderTest,
    register_worker,
    settings_for,
    sign_up,
    sqlite_url,
    texts,
)


@pytest.fixture(params=["sqlite", "postgres+redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str | None]:
    if request.param == "sqlite":
        return {"database_url": sqlite_url(tmp_path), "redis_url": None}
    return {
        "database_url": request.getfixturevalue("postgres_url"),
        "redis_url": request.getfixturevalue("redis_url"),
        "redis_prefix": request.getfixturevalue("redis_prefix"),
    }


async def test_asn_signs_up_and_sponsors_a_worker(
    emulator: BotApiEmulator,
    backend: dict[str, str | None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = settings_for(emulator.base_url, tmp_path=tmp_path, **backend)  # type: ignore[arg-type]
    bot = await BotUnderTest(settings, emulator=emulator).start()
    try:
        user = emulator.user(5001, first_name="Siti", phone_number="+6281234567890")
        await sign_up(user)
        summary = await register_worker(user)
        assert "3205********0001" in summary and "Kota Kulon" in summary
        saved = texts(await user.choose("💾 Simpan"))
        assert "Tersimpan" in saved
        reference = re.search(r"PR-[2-9A-HJKMNP-Z]{6}", saved)
        assert reference, saved

        (row,) = bot.repository.sponsorships_of(5001)
        assert row.reference == reference.group(0)
        assert row.status == "waiting_worker" and row.monthly_amount == 16800
        assert row.nik_masked == "3205********0001"
        assert bot.repository.reveal_nik(row.reference) == VALID_NIK

        status = texts(await user.say("/status"))
        assert "Ujang Suryana" in status and row.reference in status
        assert "menunggu konfirmasi pekerja" in status

        assert emulator.commands(scope_type="all_private_chats") != []
        english = emulator.commands(scope_type="all_private_chats", language_code="en")
        assert "Register the worker you sponsor" in [c["description"] for c in english]
        readable = [m.text or "" for m in user.history if not m.deleted]
        assert not [text for text in readable if VALID_NIK in text], "a NIK left in the chat"
        assert [m for m in user.history if m.deleted and m.text == VALID_NIK]
        assert emulator.rejections == []
    finally:
        await bot.stop()

    # What the bot logged (the emulator's own log is Telegram's side and shows the prompts).
    logged = "\n".join(
        record.getMessage() for record in caplog.records if not record.name.startswith("emulator")
    )
    assert "SubmitSponsorship" in logged
    for secret in (VALID_NIK, VALID_NIP, "81234567890"):
        assert secret not in logged
    if backend["redis_url"] is None:
        database = Path(str(backend["database_url"]).removeprefix("sqlite:///"))
        stored = b"".join(
            p.read_bytes() for p in database.parent.glob(database.name + "*") if p.is_file()
        )
        assert stored, "the database file was not found"
        for secret in (VALID_NIK, VALID_NIP):
            assert secret.encode() not in stored
