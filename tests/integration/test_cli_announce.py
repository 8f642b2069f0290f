"""`peduli announce` end to end through bot.cli.main, on SQLite and PostgreSQL: the count and the
preview (the delivery engine's renderer, opt-out button included), the confirmation (declined:
nothing queued), queueing, status, pause/resume/cancel, and the report CSV of failures with
masked recipients; the audit log says `cli`. Delivery is the test kit's stand-in sender."""

from __future__ import annotations

import base64
import csv
import io
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from bot.cli import main as cli
from bot.storage.db import create_db_engine
from bot.storage.models import AuditEntry
from tests.integration.announcekit import Asn, fake_send, populate, recipients

KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture
def database_url(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_KEY", KEY)
    monkeypatch.setenv("ADMIN_IDS", "77")
    return database_url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def test_announce_queue_status_and_report(
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # The key check needs the database's key fingerprint: the first command writes it.
    assert run(capsys, "announce", "status", "1")[0] == 2  # no such announcement yet
    engine = create_db_engine(database_url)
    try:
        populate(engine, [Asn(1001, "dinkes"), Asn(1002, "setda"), Asn(1003, "disdik")])
        monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
        status, out, _ = run(
            capsys,
            "announce",
            "--text",
            "<b>Daftar</b> sebelum 30 September",
            "--audience",
            "agency_asn",
            "--agency",
            "dinkes",
            "--agency",
            "setda",
            "--button",
            "sponsor",
        )
        assert status == 1 and "to 2 people" in out and "Not sent." in out
        assert "<b>Daftar</b> sebelum 30 September" in out
        assert "[ ➕ Daftarkan pekerja ]" in out and "[ 🔕 Berhenti menerima pengumuman ]" in out
        assert recipients(engine, 1) == []

        status, out, _ = run(
            capsys, "announce", "--text", "Halo", "--audience", "all_asn", "--yes", "--no-wait"
        )
        assert status == 0 and "#2 queued for 3 people" in out
        assert recipients(engine, 2) == [1001, 1002, 1003]
        status, out, _ = run(capsys, "announce", "pause", "2")
        assert status == 0 and "#2 paused" in out
        assert fake_send(engine) == []
        assert run(capsys, "announce", "resume", "2")[0] == 0
        fake_send(engine, outcome_of=lambda user: "blocked" if user == 1002 else "sent")
        status, out, _ = run(capsys, "announce", "status", "2")
        assert "#2 done: recipients 3, sent 2, failed 0, blocked 1" in out
        report = tmp_path / "gagal.csv"
        status, out, _ = run(capsys, "announce", "report", "2", "--csv", str(report))
        assert status == 0 and "1 failures written" in out
        rows = list(csv.DictReader(io.StringIO(report.read_text())))
        assert [(r["recipient"], r["outcome"]) for r in rows] == [("***2", "blocked")]
        status, _, err = run(capsys, "announce", "cancel", "2")
        assert status == 2 and "not in a state" in err  # done: nothing to cancel
        with Session(engine) as session:
            actions = [
                (entry.action, entry.channel, entry.row_count)
                for entry in session.query(AuditEntry).order_by(AuditEntry.id)
            ]
        assert ("announcement.cancel", "cli", 0) in actions  # the declined draft
        assert ("announcement.queue", "cli", 3) in actions
        assert ("announcement.pause", "cli", None) in actions
        assert ("announcement.resume", "cli", None) in actions
    finally:
        engine.dispose()


def test_announce_refuses_bad_text(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "announce", "--text", "<b>open", "--audience", "all_asn", "--yes")
    assert status == 2 and "html" in err
    status, _, err = run(
        capsys, "announce", "--text", "x" * 1025, "--photo", "AgAD", "--audience", "all_asn"
    )
    assert status == 2 and "limit 1024" in err
