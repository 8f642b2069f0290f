"""The benchmark (bench/): its fake Bot API answers in the Bot API's shapes, its simulated users
have valid and distinct identities, and a tiny run plays whole conversations against the real
bot process and finds them stored. Nothing here asserts on time: figures are run by hand."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import integrity_lines, main, summarize, transport_table
from bench.fake_api import FakeBotApi
from bench.load import Outcome, asn_conversation, letters, nik_for, nip_for
from bench.runner import Options, stored_check
from emulator.schema import BotApiSchema
from flows.validators.names import check_person_name
from flows.validators.nik import check_nik
from flows.validators.nip import check_nip
from tests.conftest import DEFAULT_POSTGRES

TODAY = date(2026, 11, 29)
KEYBOARD = json.dumps({"inline_keyboard": [[{"text": "✅ Ya", "callback_data": "c:1"}]]})

# (method, parameters as aiogram sends them: form fields are strings)
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("getMe", {}),
    ("setWebhook", {"url": "http://127.0.0.1:1/telegram/webhook", "secret_token": "s"}),
    ("deleteWebhook", {}),
    ("getWebhookInfo", {}),
    ("setMyCommands", {"commands": "[]"}),
    ("sendMessage", {"chat_id": "42", "text": "<b>Halo</b>", "parse_mode": "HTML"}),
    ("sendMessage", {"chat_id": "42", "text": "Pilih", "reply_markup": KEYBOARD}),
    ("sendPhoto", {"chat_id": "42", "caption": "QR", "photo": "attach://photo"}),
    ("sendDocument", {"chat_id": "42", "caption": "berkas", "document": "attach://d"}),
    ("editMessageText", {"chat_id": "42", "message_id": "2", "text": "Dipilih"}),
    ("editMessageReplyMarkup", {"chat_id": "42", "message_id": "2", "reply_markup": KEYBOARD}),
    ("deleteMessage", {"chat_id": "42", "message_id": "1"}),
    ("answerCallbackQuery", {"callback_query_id": "7"}),
    ("getUpdates", {"timeout": "0"}),
]


@pytest.mark.parametrize(
    ("method", "params"), CALLS, ids=[f"{m}-{i}" for i, (m, _) in enumerate(CALLS)]
)
def test_fake_api_results_have_the_bot_api_shapes(method: str, params: dict[str, Any]) -> None:
    schema = BotApiSchema.load()
    api = FakeBotApi()
    for _ in range(3):  # messages 1-3 exist for the edits and the deletion
        api.result("sendMessage", {"chat_id": "42", "text": "x"})
    result = api.result(method, params)
    returns = schema.returns(method)
    assert result is not None
    matching = []
    for type_name in returns:
        try:
            schema.validate_object(type_name, result)
        except Exception:
            continue
        matching.append(type_name)
    assert matching, f"{method} answered {result!r}, not one of {returns}"


def test_fake_api_records_what_the_user_sees() -> None:
    api = FakeBotApi()
    api.result(
        "sendMessage",
        {
            "chat_id": "42",
            "text": "<b>Pilih</b> &amp; tekan",
            "parse_mode": "HTML",
            "reply_markup": KEYBOARD,
        },
    )
    log = api.chat(42)
    shown = log.offering("✅ Ya")
    assert shown is not None and shown.text == "Pilih & tekan"
    api.result(
        "editMessageText", {"chat_id": "42", "message_id": str(shown.message_id), "text": "ok"}
    )
    assert log.offering("✅ Ya") is None  # an edit without a keyboard removes it, as Telegram
    assert [e.method for e in log.events] == ["sendMessage", "editMessageText"]


def test_simulated_users_have_valid_distinct_identities() -> None:
    count = 3000
    nips = {nip_for(i) for i in range(count)}
    niks = {nik_for(i) for i in range(count)}
    assert len(nips) == count and len(niks) == count
    for index in (0, 1, 998, 999, 1000, 2999, 999 * 4000):
        assert check_nip(nip_for(index), TODAY).valid, nip_for(index)
    for index in (0, 1, 9998, 9999, 2999, 9999 * 8000):
        assert check_nik(nik_for(index), TODAY).valid, nik_for(index)
    names = {letters(i) for i in range(count)}
    assert len(names) == count
    for step in asn_conversation(5, 27).steps:
        if step.name in ("name", "worker_name"):
            assert check_person_name(step.value).valid, step.value


def test_only_a_conversation_whose_shown_reference_is_stored_counts() -> None:
    outcomes = [
        Outcome(1, completed=True, reference="PR-AAAAAA", invitation_link="https://t.me/b?start=x"),
        Outcome(2, completed=True, reference="PR-BBBBBB"),  # stored for another sponsor
        Outcome(3, completed=True, reference=None),  # no reference shown
        Outcome(4, completed=False, reference="PR-DDDDDD"),  # stopped before the end
    ]
    stored = {1: ["PR-AAAAAA"], 9: ["PR-BBBBBB"], 4: ["PR-DDDDDD"]}
    assert stored_check(outcomes, stored) == {
        "stored_sponsorships": 1,
        "invitation_links": 1,
        "all_stored": False,
    }
    assert stored_check(outcomes[:1], stored)["all_stored"] is True
    assert stored_check(outcomes[:1], {})["all_stored"] is False


@pytest.mark.slow
def test_two_users_sign_up_and_sponsor_through_the_bot_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results.json"
    tiny = [
        "--configs",
        "sqlite",
        "--rounds",
        "1",
        "--users",
        "2",
        "--conversations",
        "2",
        "--warmup",
        "0",
    ]
    code = main([*tiny, "--paced", "", "--json", str(results)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    (run,) = json.loads(results.read_text())["runs"]
    assert run["check"] == {
        "conversations": 2,
        "completed": 2,
        "stored_sponsorships": 2,
        "invitation_links": 2,
        "all_stored": True,
        "integrity_clean": True,
    }
    integrity = run["integrity"]
    assert (integrity["lost"], integrity["duplicated"], integrity["out_of_order"]) == (0, 0, 0)
    assert integrity["updates"] == 2 * len(asn_conversation(1, 0).steps)
    saturated = run["phases"]["saturated"]
    assert saturated["updates"] == 2 * len(asn_conversation(1, 0).steps)
    for figure in ("updates_per_s", "conversations_per_s", "p50_ms", "p99_ms"):
        assert saturated[figure] > 0, figure
    assert saturated["bot_cpu_ms_per_update"] is not None
    assert run["peak_rss_mb"] > 0
    assert "this bot, SQLite" in printed and "2/2" in printed
    assert "updates/s" in printed and "CPU ms/update" in printed


def _run(key: str, updates_per_s: float, p50: float, p99: float) -> dict[str, Any]:
    """One round's measurement of `key` as run_config records it (the parts summarize reads)."""
    phase = {"updates_per_s": updates_per_s, "p50_ms": p50, "p99_ms": p99}
    return {
        "config": key,
        "round": 1,
        "phases": {
            "saturated": {**phase, "conversations_per_s": 1.0, "bot_cpu_ms_per_update": 1.0},
            "paced_100": {**phase, "updates_per_s": min(updates_per_s, 100.0)},
        },
        "peak_rss_mb": 100.0,
        "check": {"conversations": 1, "completed": 1, "all_stored": True},
    }


def test_each_transport_is_read_against_its_own_frameworks_echo() -> None:
    options = Options(
        rounds=1, configs=("echo", "postgres", "echo-ptb", "postgres-ptb"), paced_rates=(100.0,)
    )
    runs = [
        _run("echo", 400.0, 2.0, 10.0),
        _run("postgres", 40.0, 200.0, 900.0),
        _run("echo-ptb", 200.0, 5.0, 30.0),
        _run("postgres-ptb", 10.0, 500.0, 1500.0),
    ]
    summary = summarize(options, runs)
    assert summary["postgres"]["ratio_updates_vs_echo"] == 0.1
    assert summary["postgres-ptb"]["ratio_updates_vs_echo"] == 0.05
    printed = transport_table(options, summary)
    assert printed is not None
    aiogram, ptb = (line.split(" | ") for line in printed.splitlines()[2:])
    assert [cell.strip() for cell in aiogram] == [
        "aiogram: this bot, PostgreSQL + Redis",
        "40",
        "400",
        "0.100",
        "200.0 / 900.0 (40/s)",
        "2.0 / 10.0",
        "100.0 / 90.0",
    ]
    assert [cell.strip() for cell in ptb][1:] == [
        "10",
        "200",
        "0.050",
        "500.0 / 1,500.0 (10/s)",
        "5.0 / 30.0",
        "100.0 / 50.0",
    ]
    # Without its framework's echo in the run, a bot has no row; without any, no table.
    alone = Options(rounds=1, configs=("postgres-ptb",), paced_rates=(100.0,))
    assert transport_table(alone, summarize(alone, runs[3:])) is None


def test_two_processes_are_read_against_one_and_their_findings_printed() -> None:
    options = Options(rounds=1, configs=("postgres", "postgres2"), paced_rates=())
    clean = {"lost": 0, "duplicated": 0, "out_of_order": 0, "clean": True, "examples": []}
    one = {**_run("postgres", 40.0, 200.0, 900.0), "integrity": {**clean, "updates": 21}}
    found = {**clean, "duplicated": 1, "clean": False, "examples": ["user 7 update 4: twice"]}
    two = {
        **_run("postgres2", 60.0, 150.0, 700.0),
        "processes": 2,
        "integrity": {**found, "conversations": 1, "updates": 21},
    }
    one["integrity"]["conversations"] = 1
    summary = summarize(options, [one, two])
    assert summary["postgres2"]["ratio_updates_vs_one_process"] == 1.5
    assert "ratio_updates_vs_one_process" not in summary["postgres"]
    assert summary["postgres2"]["integrity"]["clean"] is False
    assert summary["postgres"]["integrity"]["clean"] is True
    lines = integrity_lines(summary)
    assert lines[0].startswith("postgres: 1 process(es): 21 updates of 1 conversations: lost 0")
    assert "handled twice 1" in lines[1] and lines[2] == "  user 7 update 4: twice"
    assert "60 against one process's 40 (postgres): 1.50 x" in lines[3]


@pytest.mark.slow
def test_the_echo_bots_of_both_frameworks_and_the_transport_ratios_at_tiny_size(
    capsys: pytest.CaptureFixture[str],
) -> None:
    tiny = ["--rounds", "1", "--users", "2", "--conversations", "2", "--warmup", "0"]
    # A paced phase of five conversations: twice its pool of two users (they start one after the
    # other), and one more for --paced-seconds at 8/s.
    paced = ["--paced", "8", "--paced-seconds", "1"]
    code = main(["--configs", "echo,sqlite,echo-ptb", *tiny, *paced, "--no-json"])
    captured = capsys.readouterr()
    printed = captured.out
    assert code == 0, printed + captured.err  # stderr says why a configuration failed
    (ptb_echo,) = [line for line in printed.splitlines() if line.startswith("python-telegram-bot")]
    assert "7/7 replies" in ptb_echo  # every update of the saturated and paced phases echoed
    compared = printed.split("measured in this run:\n", 1)[1]
    (row,) = [line for line in compared.splitlines() if line.startswith("aiogram: ")]
    cells = [cell.strip() for cell in row.split(" | ")]
    assert cells[0] == "aiogram: this bot, SQLite" and float(cells[3]) > 0
    assert "at 8/s" in compared and cells[6] != "–"


@pytest.mark.slow
def test_the_echo_making_the_bots_calls_makes_exactly_them(tmp_path: Path) -> None:
    """`echo-calls` is the floor of the bot's Bot API calls on aiogram only while it makes the
    calls the bot makes: the same methods, as many of each, for as many updates. A change to
    what the bot sends at a step must be copied into bench.echo_aiogram.BOT_CALLS."""
    results = tmp_path / "results.json"
    tiny = ["--rounds", "1", "--users", "2", "--conversations", "2", "--warmup", "0"]
    code = main(["--configs", "echo-calls,sqlite", *tiny, "--paced", "", "--json", str(results)])
    assert code == 0
    runs = {run["config"]: run for run in json.loads(results.read_text())["runs"]}
    calls, bot = runs["echo-calls"]["bot_api_calls"], runs["sqlite"]["bot_api_calls"]
    assert runs["echo-calls"]["updates_total"] == runs["sqlite"]["updates_total"] == 44
    assert calls["by_method"] == bot["by_method"]
    assert calls["by_method"]["answerCallbackQuery"] == 2 * 14
    assert calls["per_update"] == bot["per_update"] == round(118 / 44, 3)


@pytest.mark.slow
@pytest.mark.timeout(600)  # two bot processes start one after the other: slow on a loaded CI box
def test_two_bot_processes_share_one_store_and_lose_nothing(
    postgres_url: str, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The runner creates a database of its own beside the test one (postgres_url only makes
    # sure the server is there: CI fails rather than skips without it).
    server = os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES)
    results = tmp_path / "results.json"
    tiny = ["--rounds", "1", "--users", "2", "--conversations", "2", "--warmup", "0"]
    storage = ["--postgres-url", server, "--redis-url", redis_url]
    code = main(["--configs", "postgres2", *tiny, "--paced", "", *storage, "--json", str(results)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    (run,) = json.loads(results.read_text())["runs"]
    assert run["processes"] == 2 and len(run["peak_rss_mb_each"]) == 2
    assert run["check"]["all_stored"] is True and run["check"]["stored_sponsorships"] == 2
    integrity = run["integrity"]
    assert integrity["updates"] == 2 * len(asn_conversation(1, 0).steps)
    assert (integrity["lost"], integrity["duplicated"], integrity["out_of_order"]) == (0, 0, 0)
    updates = integrity["updates"]
    assert f"postgres2: 2 process(es): {updates} updates of 2 conversations: lost 0" in printed


def test_an_echo_bot_takes_a_secret_beginning_with_a_dash() -> None:
    """secrets.token_urlsafe may start with "-": given as a separate argument, argparse took it
    for an option and the echo bot exited at start (a CI run failed so)."""
    import argparse

    from bench.runner import _command

    command = _command("echo", "http://127.0.0.1:1", "127.0.0.1:2", "-dashed", None)
    parser = argparse.ArgumentParser()
    for name in ("--api", "--listen", "--secret", "--token"):
        parser.add_argument(name, required=True)
    args = parser.parse_args(command[command.index("--api") :])
    assert args.secret == "-dashed"
