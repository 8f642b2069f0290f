"""`peduli webhook` against what is not Telegram: no secret, a bad secret, bodies that are not
updates, forged updates. Real HTTP to the real server (aiogram inside), the emulator as Telegram."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import bot.app
from bot.app import WebhookServer, serve_webhook
from bot.cli import main
from bot.settings import Settings
from emulator.server import BotApiEmulator
from tests.e2e import harness
from tests.e2e.harness import (
    NOW,
    PARSE_ERROR,
    TOKEN,
    UNKNOWN_KIND_ERROR,
    settings_for,
    sqlite_url,
    texts,
)
from tests.e2e.test_hostile_updates import SECRET_TEXT, message, private_chat
from tests.e2e.test_processes import ROOT, free_port

SECRET = "s3cret_Token-1"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


def webhook_settings(emulator: BotApiEmulator, tmp_path: Path, secret: str | None) -> Settings:
    port = free_port()
    return settings_for(
        emulator.base_url or "",
        sqlite_url(tmp_path),
        tmp_path,
        webhook_url=f"http://127.0.0.1:{port}",
        webhook_secret=secret,
        webhook_listen=f"127.0.0.1:{port}",
    )


@pytest.fixture
async def server(emulator: BotApiEmulator, tmp_path: Path) -> AsyncIterator[WebhookServer]:
    running = await serve_webhook(webhook_settings(emulator, tmp_path, SECRET), clock=lambda: NOW)
    yield running
    await running.stop()


# ---------------------------------------------------------------------------- the secret


def test_webhook_without_a_secret_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "BOT_"))}
    env.update(BOT_TOKEN=TOKEN, WEBHOOK_URL="https://bot.example.org")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "webhook"],
        cwd=tmp_path,  # no .env
        env=env | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "WEBHOOK_SECRET is not set" in done.stderr and "--insecure-no-secret" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def webhook_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """`peduli webhook` in this process, up to the point where the server would start: the
    list records each start (its insecure_no_secret flag)."""
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("WEBHOOK_SECRET", "WEBHOOK_LISTEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.org")
    started: list[bool] = []

    async def record_start(
        settings: Settings, insecure_no_secret: bool, serve_as: int | None
    ) -> None:
        started.append(insecure_no_secret)

    monkeypatch.setattr(bot.app, "_webhook", record_start)
    return started


@pytest.mark.parametrize(
    "secret",
    ["", "has space", "ü" * 8, "a/b", "x" * 257],
    ids=["empty", "space", "non-ascii", "slash", "too-long"],
)
def test_webhook_refuses_a_secret_telegram_would_not_accept(
    secret: str,
    webhook_env: list[bool],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", secret)
    assert main(["webhook"]) == 2
    assert webhook_env == []
    err = capsys.readouterr().err
    assert "WEBHOOK_SECRET" in err and "Traceback" not in err
    if secret:
        assert secret not in err  # a secret is never echoed


@pytest.mark.parametrize("secret", ["a", "A-z_09", "x" * 256])
def test_webhook_starts_with_a_secret_of_telegrams_form(
    secret: str, webhook_env: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", secret)
    assert main(["webhook"]) == 0
    assert webhook_env == [False]


def test_insecure_no_secret_flag_lets_the_webhook_start_without_a_secret(
    webhook_env: list[bool],
) -> None:
    assert main(["webhook", "--insecure-no-secret"]) == 0
    assert webhook_env == [True]


async def test_serve_webhook_refuses_without_a_secret(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="WEBHOOK_SECRET is not set"):
        await serve_webhook(webhook_settings(emulator, tmp_path, None))
    assert emulator.webhook_url == ""  # nothing was registered


async def test_insecure_no_secret_serves_and_warns_loudly(
    emulator: BotApiEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = webhook_settings(emulator, tmp_path, None)
    server = await serve_webhook(settings, clock=lambda: NOW, insecure_no_secret=True)
    try:
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert any("INSECURE" in r.getMessage() for r in warnings)
        user = emulator.user(7401, phone_number="+6281234567890")
        assert "Pilih bahasa" in texts(await user.say("/start"))
        assert {d.status for d in emulator.webhook_deliveries} == {200}
    finally:
        await server.stop()


# ---------------------------------------------------------------------------- bodies


async def post(server_url: str, body: bytes) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(server_url, data=body, headers=HEADERS) as answer,
    ):
        return answer.status, await answer.text()


def problems(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_webhook_answers_400_to_a_body_that_is_not_json_without_a_traceback(
    emulator: BotApiEmulator, server: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for body in (b'{"update_id": 1, "message": {"text": "' + SECRET_TEXT.encode(), b"\xff\xfe"):
        status, _ = await post(emulator.webhook_url, body)
        assert status == 400
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refused == ["webhook request refused: the body is not JSON"] * 2
    assert problems(caplog) == []
    assert "3205014501900001" not in caplog.text


@pytest.mark.parametrize("body", [b"[]", b'[{"update_id": 5}]', b'"teks"', b"42", b"null"])
async def test_webhook_answers_400_to_json_that_is_not_an_object(
    body: bytes,
    emulator: BotApiEmulator,
    server: WebhookServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    status, _ = await post(emulator.webhook_url, body)
    assert status == 400
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1 and "not an object" in refused[0]
    assert problems(caplog) == []


async def test_webhook_skips_an_object_that_is_not_an_update_with_200(
    emulator: BotApiEmulator, server: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    """200, not 400: Telegram redelivers on non-2xx, so an update it sent that aiogram cannot
    parse would otherwise be retried and hold up the queue behind it."""
    caplog.set_level(logging.DEBUG)
    bad: dict[str, Any] = {
        "update_id": 424242,
        "message": message(private_chat(7501), 7501, SECRET_TEXT, date="kemarin sore"),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(emulator.webhook_url, json=bad, headers=HEADERS) as answer,
    ):
        assert answer.status == 200
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    error = PARSE_ERROR[harness.TRANSPORT_UNDER_TEST]
    assert skipped == [f"update 424242 skipped: cannot be parsed ({error})"]
    assert problems(caplog) == []
    assert "3205014501900001" not in caplog.text and "kemarin sore" not in caplog.text
    # The server still serves the next update normally.
    user = emulator.user(7502)
    assert "Pilih bahasa" in texts(await user.say("/start"))
    assert not [c for c in emulator.calls if c.params.get("chat_id") == 7501]


async def test_webhook_refuses_an_update_whose_private_chat_is_not_the_senders(
    emulator: BotApiEmulator, server: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    victim = emulator.user(7101)
    assert "Pilih bahasa" in texts(await victim.say("/start"))
    sent_before = len(emulator.calls)
    forged = await emulator.inject_update("message", message(private_chat(7201), 7101, "/batal"))
    # With the right secret (the attacker knows the address, maybe not the secret: here the
    # worst case), the forged update is still refused, and the victim's sign-up is untouched.
    assert "Ketik NIP" in texts(await victim.choose("🇮🇩 Bahasa Indonesia"))
    calls = emulator.calls[sent_before:]
    assert {c.params.get("chat_id") for c in calls if "chat_id" in c.params} <= {7101}
    assert f"update {forged['update_id']} refused: the private chat is not the sender's" in {
        r.getMessage() for r in caplog.records
    }


async def test_webhook_skips_an_update_of_a_kind_the_framework_does_not_know(
    emulator: BotApiEmulator, server: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    """aiogram's dispatcher would warn with the whole update dumped, python-telegram-bot would
    make an empty Update of it; it never gets there."""
    caplog.set_level(logging.DEBUG)
    update = {"update_id": 434343, "future_kind": {"text": SECRET_TEXT}}
    async with (
        aiohttp.ClientSession() as http,
        http.post(emulator.webhook_url, json=update, headers=HEADERS) as answer,
    ):
        assert answer.status == 200
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    error = UNKNOWN_KIND_ERROR[harness.TRANSPORT_UNDER_TEST]
    assert skipped == [f"update 434343 skipped: cannot be parsed ({error})"]
    assert "3205014501900001" not in caplog.text
