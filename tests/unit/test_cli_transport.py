"""Choosing the Telegram framework: `--transport` and TRANSPORT reach the runtime built."""

from __future__ import annotations

from typing import Any

import pytest

from bot import app, cli
from bot.settings import TRANSPORT_NAMES, Settings


def test_the_cli_offers_exactly_the_transports_the_settings_know() -> None:
    # The CLI writes them out to stay light (no pydantic import); they must not drift apart.
    assert cli.TRANSPORTS == TRANSPORT_NAMES


@pytest.mark.parametrize("command", ["run", "webhook", "playground"])
@pytest.mark.parametrize("given", [[], ["--transport", "ptb"], ["--transport", "aiogram"]])
def test_transport_option_reaches_the_run_function(
    command: str, given: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def record(*args: Any, **kwargs: Any) -> int:
        seen["transport"] = kwargs.get("transport", args[-1] if args else None)
        return 0

    target = {"run": "run_polling", "webhook": "run_webhook", "playground": "run_playground"}
    monkeypatch.setattr(app, target[command], record)
    assert cli.main([command, *given]) == 0
    assert seen["transport"] == (given[1] if given else None)


def test_an_unknown_transport_is_refused_by_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["run", "--transport", "telethon"])
    assert "invalid choice: 'telethon'" in capsys.readouterr().err


def test_the_option_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSPORT", "ptb")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.transport == "ptb"
    assert app._with_transport(settings, None).transport == "ptb"
    assert app._with_transport(settings, "aiogram").transport == "aiogram"


def test_transport_setting_refuses_an_unknown_framework(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSPORT", "telethon")
    with pytest.raises(ValueError, match="transport"):
        Settings(_env_file=None)  # type: ignore[call-arg]
