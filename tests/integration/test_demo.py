"""The playground's sample data set (bot.demo, `peduli demo`) and the database commands'
`--playground` option and their errors naming the database (bot.cli)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.catalog import load_programme
from bot.cli import main as cli
from bot.demo import PLANS, ROSTER, load_demo
from bot.notifications import notices_for
from bot.settings import Settings
from bot.storage import census
from bot.storage.db import create_db_engine
from bot.storage.keys import verified_sealer
from bot.storage.repository import Repository
from emulator.personas import ASN, TREASURER, WORKER
from flows.access import Scope
from flows.statuses import SponsorshipStatus
from flows.validators.nik import check_nik
from tests.clock import NOW

KEY = base64.b64encode(bytes(range(32))).decode()
OTHER_KEY = base64.b64encode(b"o" * 32).decode()


def settings_of(url: str, tmp_path: Path, key: str = KEY) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        data_key=key,
        data_key_file=tmp_path / "unused-key",
    )


def repository_of(settings: Settings, engine: Engine) -> Repository:
    programme = load_programme(settings.programme_file)
    return Repository(
        engine, verified_sealer(settings, engine), notify=notices_for(programme.catalog)
    )


def test_demo_holds_every_status_valid_data_and_a_second_run_adds_nothing(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    settings = settings_of(database_url, tmp_path)
    first = load_demo(settings, clock=lambda: NOW)
    assert first.loaded
    assert set(first.statuses) == {status.value for status in SponsorshipStatus}
    counts = census.row_counts(engine)
    assert counts["roster"] == len(ROSTER) and counts["sponsorships"] == len(PLANS)
    assert counts["sponsors"] == sum(1 for person in ROSTER if person.user_id is not None)
    assert counts["deductions"] > 0 and counts["consents"] > len(PLANS) and counts["staff"] == 3
    assert counts["requests"] == 1

    second = load_demo(settings, clock=lambda: NOW)
    assert not second.loaded and "nothing added" in second.render()
    assert census.row_counts(engine) == counts
    assert census.sponsorship_statuses(engine) == first.statuses

    # As the product sees them: the personas' rows, NIKs sealed and valid, the ledger's month.
    repository = repository_of(settings, engine)
    mine = repository.sponsorships_of(ASN.user_id)
    assert sorted(view.status for view in mine) == ["confirmed", "withdrawn"]
    [theirs] = repository.worker_sponsorships(WORKER.user_id)
    assert theirs.status == SponsorshipStatus.CONFIRMED
    assert repository.user_record(TREASURER.user_id).staff_role == "treasurer"
    audiences = repository.announcements.audience_sizes(Scope.superadmin())
    assert audiences["all_asn"] == counts["sponsors"] and audiences["confirmed_workers"] > 0
    for person in ROSTER:
        for view in repository.sponsorships_of(person.user_id or 0):
            nik = repository.reveal_nik(view.reference)
            if view.status in ("confirmed", "active", "waiting_worker", "lapsed"):
                assert nik is not None and check_nik(nik, NOW.date()).valid, view
    with engine.connect() as connection:
        raw = b"".join(
            str(row).encode() for row in connection.exec_driver_sql("SELECT * FROM sponsorships")
        )
    for person_nik in (repository.reveal_nik(view.reference) for view in mine):
        assert person_nik is None or person_nik.encode() not in raw


def test_reset_starts_afresh_and_a_used_database_is_left_alone(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    settings = settings_of(database_url, tmp_path)
    repository_of(settings, engine).remember_chat(4242, 4242)  # someone used the playground
    untouched = load_demo(settings, only_if_empty=True, clock=lambda: NOW)
    assert not untouched.loaded and census.row_counts(engine)["sponsorships"] == 0

    loaded = load_demo(settings, reset=True, clock=lambda: NOW)
    assert loaded.loaded and loaded.reset
    counts = census.row_counts(engine)
    engine.dispose()
    again = load_demo(settings, reset=True, clock=lambda: NOW)
    assert again.loaded and census.row_counts(engine) == counts


@pytest.fixture
def playground(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A working directory without a database; the playground's database in another place."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "REDIS_URL", "ADMIN_IDS", "DATA_KEY_OLD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_KEY", KEY)
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'playground.sqlite3'}"
    monkeypatch.setenv("PLAYGROUND_DATABASE_URL", url)
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_peduli_demo_and_playground_option_reach_the_playground_database(
    playground: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "demo")
    assert code == 0 and playground in out and "Loaded the sample data" in out
    for line in ("1001  asn", "1002  worker", "9001  admin", "9002  treasurer"):
        assert line in out
    code, out, _ = run(capsys, "demo")
    assert code == 0 and "nothing added" in out

    code, out, _ = run(capsys, "stats", "--playground", "--format", "json")
    assert code == 0
    assert json.loads(out)["regency"]["signed_up"] == 14

    code, out, _ = run(capsys, "export", "deductions", "--month", "2026-11", "--playground")
    assert code == 0, out
    code, out, _ = run(capsys, "audit", "--playground")
    assert code == 0 and "stats.export" in out
    code, out, _ = run(capsys, "admin", "list", "--playground")
    assert code == 0 and str(TREASURER.user_id) in out

    # Without --playground the same commands look at DATABASE_URL's default, which is absent.
    code, out, err = run(capsys, "stats", "--format", "json")
    assert code == 2 and out == ""
    assert "sqlite:///var/peduli.sqlite3" in err and "--playground" in err
    assert not (tmp_path / "var").exists()


def test_a_command_never_creates_an_empty_database_and_names_the_one_it_looked_at(
    playground: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "rows.csv").write_text("reference,kpj,start_date\n", encoding="utf-8")
    code, out, err = run(capsys, "coverage", "import", "rows.csv")
    assert code == 2 and out == ""
    assert "no database at sqlite:///var/peduli.sqlite3" in err
    assert "DATABASE_URL" in err and "--playground" in err
    assert not (tmp_path / "var" / "peduli.sqlite3").exists()

    # An empty (unmigrated) file: the revision and the database named.
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    url = f"sqlite:///{empty}"
    monkeypatch.setenv("DATABASE_URL", url)
    code, _, err = run(capsys, "coverage", "import", "rows.csv")
    assert code == 2 and f"the database {url} is at revision none" in err
    assert "peduli db upgrade" in err and "--playground" in err


def test_database_errors_name_the_database_with_its_password_masked(
    playground: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://peduli:s3cret@127.0.0.1:9/none")
    code, _, err = run(capsys, "stats")
    assert code == 2
    assert "postgresql+psycopg://peduli:***@127.0.0.1:9/none" in err and "s3cret" not in err

    assert run(capsys, "demo")[0] == 0
    monkeypatch.setenv("DATA_KEY", OTHER_KEY)  # not the key the playground's data are sealed with
    code, _, err = run(capsys, "stats", "--playground")
    assert code == 2 and playground in err
    code, _, err = run(capsys, "keys", "check", "--playground")
    assert code == 1 and playground in err
    code, _, err = run(capsys, "export", "deductions", "--month", "2026-11", "--playground")
    assert code == 2 and playground in err
    code, out, err = run(capsys, "demo")
    assert code == 2 and playground in err and "--reset" in err
    code, out, _ = run(capsys, "demo", "--reset")
    assert code == 0 and "Emptied" in out and "Loaded" in out


def test_db_upgrade_creates_the_playground_database_when_asked(
    playground: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "db", "upgrade", "--playground")
    assert code == 0 and playground in out
    engine = create_db_engine(playground)
    try:
        assert census.is_empty(engine)
    finally:
        engine.dispose()
