"""The import contracts in pyproject.toml bite: each violation, tried in a scratch copy of the
source tree, breaks exactly the contract written against it, and the unmodified copy passes.

lint-imports runs on the copy (its pyproject.toml, its directory as the working directory and first
on PYTHONPATH, no cache), so grimp analyses the copy and not the editable install. A run takes a
fraction of a second; the variants run in parallel threads, each in its own copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Every top-level package of the repository but the tests, the locales and the configuration.
COPIED = sorted(
    {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"} | {"locales", "pyproject.toml"}
)


def contract_names(pyproject: Path) -> dict[str, str]:
    """Contract id -> name, as lint-imports prints it."""
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {contract["id"]: contract["name"] for contract in config["contracts"]}


CONTRACTS = contract_names(ROOT / "pyproject.toml")


def append(relative: str, line: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = root / relative
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        path.write_text(existing + f"\n{line}\n", encoding="utf-8")

    return edit


@dataclass(frozen=True)
class Violation:
    edit: Callable[[Path], None]
    breaks: frozenset[str]  # the ids of the contracts it must break, and no other


def violation(edit: Callable[[Path], None], *breaks: str) -> Violation:
    return Violation(edit, frozenset(breaks))


# The four violations of issue 7 first, then one per remaining contract, then new modules.
VIOLATIONS: dict[str, Violation] = {
    # bot.catalog is read by an offline command (coverage import): that contract breaks too.
    "aiogram imported by bot/catalog.py": violation(
        append("bot/catalog.py", "import aiogram"),
        "aiogram-adapter",
        "offline-commands",
        "one-framework-ptb",
    ),
    "aiogram imported by bot/__main__.py": violation(
        append("bot/__main__.py", "import aiogram"), "aiogram-adapter"
    ),
    # The adapter package imports aiogram itself (lazy_types), and the python-telegram-bot
    # transport imports bot.service: it would load aiogram too.
    "bot.service imports the aiogram adapter": violation(
        append("bot/service.py", "from bot import telegram_aiogram"),
        "bot-layers",
        "one-framework-ptb",
    ),
    "psycopg imported by a flows module": violation(
        append("flows/engine.py", "import psycopg"), "flows-pure"
    ),
    "socket imported by a flows module": violation(
        append("flows/engine.py", "import socket"), "flows-pure"
    ),
    "a clock module imported by a flows module": violation(
        append("flows/validators/__init__.py", "import time"), "flows-pure"
    ),
    "a new flows module imports sqlalchemy": violation(
        append("flows/new_thing.py", "import sqlalchemy"), "flows-pure", "storage-drivers"
    ),
    "a new module inside bot.storage imports aiogram": violation(
        # covered because the contract protects aiogram from every module but the adapter package
        append("bot/storage/new_thing.py", "from aiogram import Bot"),
        "aiogram-adapter",
    ),
    "flows imports bot": violation(append("flows/engine.py", "import bot.transport"), "top-level"),
    "flows reaches the file system through bot": violation(
        # bot.i18n imports importlib.resources: the chain flows -> bot.i18n -> importlib counts
        append("flows/engine.py", "import bot.i18n"),
        "top-level",
        "flows-pure",
    ),
    "storage imports the service layer": violation(
        append("bot/storage/views.py", "import bot.ledger"), "bot-layers"
    ),
    "storage words a message (imports the notification layer)": violation(
        append("bot/storage/handlers/coverage.py", "from bot import notifications"), "bot-layers"
    ),
    "one command handler imports another": violation(
        append("bot/storage/handlers/requests.py", "from bot.storage.handlers import sponsor"),
        "storage-handlers",
    ),
    "two siblings of the services layer import each other": violation(
        append("bot/coverage.py", "from bot import ledger"), "bot-layers"
    ),
    "a new top-level module of bot is placed in no layer": violation(
        append("bot/new_thing.py", "X = 1"), "bot-layers"
    ),
    "the presenters import SQLAlchemy": violation(
        append("bot/presenters.py", "import sqlalchemy"), "storage-drivers"
    ),
    "an offline command loads aiogram through the composition root": violation(
        append("bot/cli/nik.py", "import bot.app"), "offline-commands"
    ),
    "one command of the CLI imports another": violation(
        append("bot/cli/nik.py", "from bot.cli import docs"), "cli-commands"
    ),
    "the emulator imports the product's storage": violation(
        append("emulator/models.py", "import bot.storage"), "emulator"
    ),
    "the emulator imports flows": violation(
        append("emulator/limits.py", "import flows.engine"), "emulator"
    ),
    "the emulator's fake users import its server again (the old circle)": violation(
        append("emulator/users.py", "import emulator.server"), "emulator-layers", "emulator-acyclic"
    ),
    "the emulator's playground imports its server (only for typing, still a circle)": violation(
        append("emulator/playground.py", "from emulator.server import BotApiEmulator"),
        "emulator-layers",
        "emulator-acyclic",
    ),
    "a new module of the emulator is placed in no layer": violation(
        append("emulator/new_thing.py", "X = 1"), "emulator-layers"
    ),
    "python-telegram-bot imported by the service": violation(
        append("bot/service.py", "import telegram"),
        "ptb-adapter",
        "one-framework-aiogram",
    ),
    "the aiogram transport loads python-telegram-bot": violation(
        append("bot/telegram_aiogram/adapter.py", "import telegram.ext"),
        "ptb-adapter",
        "one-framework-aiogram",
    ),
    "the python-telegram-bot transport loads aiogram through the other transport": violation(
        append("bot/telegram_ptb/__init__.py", "import bot.telegram_aiogram.adapter"),
        "one-framework-ptb",
        "bot-layers",
    ),
    "an offline command loads python-telegram-bot": violation(
        append("bot/cli/stats.py", "import bot.telegram_ptb.runner"), "offline-commands"
    ),
    "the shared hosting layer imports a transport": violation(
        append("bot/hosting.py", "import bot.telegram_ptb"), "bot-layers"
    ),
    "the product's service imports the emulator": violation(
        append("bot/service.py", "import emulator.models"), "emulator-only-for-playground"
    ),
}


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str

    def status(self, contract_id: str) -> str:
        name = CONTRACTS[contract_id]
        for line in self.output.splitlines():
            if line.startswith(name + " "):
                return line[len(name) :].split()[0]
        raise AssertionError(f"contract {name!r} is not in the report:\n{self.output}")

    def broken(self) -> set[str]:
        return {cid for cid in CONTRACTS if self.status(cid) == "BROKEN"}


def lint_imports() -> Path:
    found = Path(sys.executable).with_name("lint-imports")
    return found if found.exists() else Path(shutil.which("lint-imports") or "lint-imports")


def scratch_copy(directory: Path) -> Path:
    directory.mkdir(parents=True)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, directory / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(source, directory / name)
    return directory


def run_lint(root: Path) -> Run:
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
        "COLUMNS": "1000",  # one contract per line
    }
    result = subprocess.run(
        [str(lint_imports()), "--no-cache", str(root / "pyproject.toml")],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Run(result.returncode, result.stdout + result.stderr)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    base = tmp_path_factory.mktemp("contracts")

    def prepare_and_run(index: int, label: str | None) -> tuple[str | None, Run]:
        root = scratch_copy(base / f"copy{index}")
        if label is not None:
            VIOLATIONS[label].edit(root)
        return label, run_lint(root)

    labels: list[str | None] = [None, *VIOLATIONS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(pool.map(lambda item: prepare_and_run(*item), enumerate(labels)))
    yield {("unmodified" if label is None else label): run for label, run in results.items()}


def test_the_unmodified_copy_keeps_every_contract(runs: dict[str, Run]) -> None:
    run = runs["unmodified"]
    assert run.returncode == 0, run.output
    assert run.broken() == set(), run.output


def test_the_copy_is_what_lint_imports_analyses(runs: dict[str, Run]) -> None:
    """A new module in the copy is reported, so the copy (not the installed tree) was analysed."""
    run = runs["a new top-level module of bot is placed in no layer"]
    assert "bot.new_thing" in run.output, run.output


@pytest.mark.parametrize("label", list(VIOLATIONS))
def test_each_violation_breaks_its_contract(runs: dict[str, Run], label: str) -> None:
    run = runs[label]
    assert run.returncode != 0, run.output
    assert run.broken() == VIOLATIONS[label].breaks, run.output


def test_every_contract_is_proved_by_a_violation() -> None:
    assert set().union(*(v.breaks for v in VIOLATIONS.values())) == set(CONTRACTS)
