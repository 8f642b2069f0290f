"""The built wheel, installed (not editable) into a fresh virtualenv, runs `peduli nik` and
`peduli playground` from an empty working directory: its data files (locales, the programme, the
agencies, the migrations, the emulator's schema) ship inside it, and what it writes goes to var/
in the working directory, not into site-packages.

Honest yet fast: the source is copied (without build/ leftovers) and built with uv; the venv is
made without system site-packages and gets the runtime lock (requirements.lock, with hashes) from
uv's cache, then the wheel with no network allowed, so a dependency missing from the lock fails.
The installed programs run with an environment that has no PYTHONPATH, from a temporary working
directory, so neither the source tree nor the dev venv can be imported.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VALID_NIK = "3205014501900001"
STARTUP = 90.0  # importing aiogram takes seconds on a busy 2-core machine
BUILD_LEFTOVERS = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "var",
    ".env",
)

# Slow (a build, a venv, a bot process); on a machine with a cold cache uv downloads the wheels,
# which the module's first test pays for: hence more than pyproject's 120 s per test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def uv(*arguments: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """uv from the dev venv (a dev dependency, installed from requirements-dev.lock)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    command = [sys.executable, "-m", "uv", *map(str, arguments)]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=BUILD_LEFTOVERS)
    uv("build", "--wheel", "--out-dir", work / "dist", source)
    (built,) = (work / "dist").glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh venv with the runtime lock and the wheel, seeing nothing of the dev venv."""
    target = tmp_path_factory.mktemp("installed") / "venv"
    uv("venv", "--quiet", "--python", sys.executable, target)
    python = target / "bin" / "python"
    uv(
        "pip",
        "install",
        "--quiet",
        "--python",
        python,
        "--require-hashes",
        "-r",
        ROOT / "requirements.lock",
    )
    uv("pip", "install", "--quiet", "--python", python, "--offline", wheel)
    return target


def clean_environment(venv: Path, home: Path) -> dict[str, str]:
    """Only what a shell needs: no PYTHONPATH, no BOT_TOKEN, DATABASE_URL or DATA_KEY."""
    return {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    directory = tmp_path / "work"
    directory.mkdir()
    return directory


def test_wheel_ships_every_data_file_of_its_packages(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    packages = sorted({n.split("/")[0] for n in names if "/" in n and ".dist-info" not in n})
    ours = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert {"bot", "flows", "locales"} <= ours <= set(packages), packages
    missing = [
        path.relative_to(ROOT).as_posix()
        for package in packages
        for path in (ROOT / package).rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix not in (".pyc", ".md")  # a package's README is for readers of the source
        and path.relative_to(ROOT).as_posix() not in names
    ]
    assert missing == [], f"files of the packages left out of the wheel: {missing}"
    assert {"locales/id.toml", "locales/en.toml", "bot/data/programme.toml"} <= names


def test_installed_wheel_imports_from_its_venv_not_the_source_tree(
    venv: Path, workdir: Path
) -> None:
    code = (
        "import importlib.util, json, bot, flows, locales\n"
        "print(json.dumps({'modules': [bot.__file__, flows.__file__, locales.__file__],"
        " 'pytest': importlib.util.find_spec('pytest') is not None}))"
    )
    done = subprocess.run(
        [venv / "bin" / "python", "-I", "-c", code],
        cwd=workdir,
        env=clean_environment(venv, workdir),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = json.loads(done.stdout)
    assert found["pytest"] is False, "the venv sees the dev venv's packages"
    for module in found["modules"]:
        assert Path(module).resolve().is_relative_to(venv.resolve()), module


def test_installed_peduli_nik_checks_with_worded_messages(venv: Path, workdir: Path) -> None:
    done = subprocess.run(
        [venv / "bin" / "peduli", "nik", VALID_NIK, "1234"],
        cwd=workdir,
        env=clean_environment(venv, workdir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr  # the second NIK is invalid
    valid, invalid = (json.loads(line) for line in done.stdout.splitlines())
    assert valid["valid"] is True and valid["birth_date"] == "1990-01-05"
    assert valid["regency"] and valid["input_masked"] == "3205********0001"
    assert invalid["valid"] is False and invalid["errors"]
    # The wording comes from locales/en.toml in the wheel; without it each message is its code.
    assert all(e["message"] != e["code"] for e in invalid["errors"]), invalid["errors"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http(url: str, body: dict[str, Any] | None = None, timeout: float = 30) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return int(response.status), response.read().decode("utf-8")


@pytest.fixture
def playground(venv: Path, workdir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    port = free_port()
    log = workdir.parent / "playground.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [venv / "bin" / "peduli", "playground", "--port", str(port)],
            cwd=workdir,
            env=clean_environment(venv, workdir),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield f"http://127.0.0.1:{port}", process, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl+C, as a person stops it
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def wait_for_page(base: str, process: subprocess.Popen[bytes], log: Path) -> str:
    """The chat page, once the emulator listens (the process must not die meanwhile)."""
    deadline = time.monotonic() + STARTUP
    while True:
        if process.poll() is not None:
            pytest.fail(f"the playground exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            status, page = http(f"{base}/_emulator/", timeout=5)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                pytest.fail(f"the playground never listened:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)  # a server starting up, not a bot turn
            continue
        assert status == 200
        return page


def test_installed_playground_serves_the_chat_page_and_the_bot_answers_start(
    venv: Path, workdir: Path, playground: tuple[str, subprocess.Popen[bytes], Path]
) -> None:
    base, process, log = playground
    assert "Emulated chat" in wait_for_page(base, process, log)
    # The page's own files are package data of the emulator (emulator/page/).
    for name in ("app.js", "style.css", "favicon.svg"):
        status, text = http(f"{base}/_emulator/static/{name}")
        assert status == 200 and text, name

    user = f"{base}/_emulator/users/4242"
    _, sent = http(f"{user}/command", {"command": "start", "first_name": "Siti"})
    mark = json.loads(sent)["mark"]
    try:
        _, answered = http(
            f"{user}/replies?since={mark}&min_count=1&timeout={STARTUP}", timeout=STARTUP + 30
        )
    except urllib.error.HTTPError as error:
        pytest.fail(f"no answer to /start: {error.read()!r}\n{log.read_text()[-3000:]}")
    texts = "\n".join(m["text"] or "" for m in json.loads(answered)["replies"])
    assert "Selamat datang di Gerakan 1 ASN 1 Pekerja Rentan" in texts, texts
    _, personas = http(f"{base}/_emulator/playground")
    assert json.loads(personas)["inspector"] is True  # the bot registered what the panel shows

    # What it writes lands in var/ of the working directory, nothing beside the installed code.
    assert (workdir / "var" / "playground.sqlite3").is_file()
    assert (workdir / "var" / "dev-data-key").is_file()
    (site_packages,) = venv.glob("lib/python3.*/site-packages")
    assert not (site_packages / "var").exists()
    assert process.poll() is None, log.read_text()[-3000:]

    # An unused playground starts with the sample data (bot.demo, as `peduli demo`): the persona
    # ASN (emulator.personas, id 1001) has a sponsorship in /status.
    assert "Loaded the sample data" in log.read_text()
    persona = f"{base}/_emulator/users/1001"
    _, sent = http(f"{persona}/command", {"command": "status", "first_name": "Siti"})
    mark = json.loads(sent)["mark"]
    _, answered = http(
        f"{persona}/replies?since={mark}&min_count=1&timeout={STARTUP}", timeout=STARTUP + 30
    )
    status = "\n".join(m["text"] or "" for m in json.loads(answered)["replies"])
    assert "Ujang Supriatna" in status and "dikonfirmasi pekerja" in status, status
