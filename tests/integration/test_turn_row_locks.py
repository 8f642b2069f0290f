"""Two bot processes clear each other's journal rows: a turn clears the answers another process
delivered (its Redis marks say so) and supersedes their session copies, while that process
clears the same rows in a transaction of its own. Waiting for such a row, each holding one the
other wants, they deadlocked (PostgreSQL killed one turn: "busy", the update posted again, its
button answered twice). A turn now leaves a row another transaction holds to its holder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.storage.db import create_db_engine
from bot.storage.state import JournalStatements
from tests.migrated import migrate

USER = 7501
ROW = 91_001


@pytest.fixture
def engine(postgres_url: str, tmp_path: Path) -> Iterator[Engine]:
    migrate(postgres_url)
    made = create_db_engine(postgres_url)
    with made.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO processed_updates (update_id, user_id, claimed_at, answer, session)"
                " VALUES (:id, :user, :at, 'sealed answer', 'sealed copy')"
            ),
            {"id": ROW, "user": USER, "at": datetime(2026, 11, 30, tzinfo=UTC)},
        )
    yield made
    made.dispose()


def row(engine: Engine) -> tuple[str | None, str | None]:
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT answer, session FROM processed_updates WHERE update_id = :id"),
            {"id": ROW},
        ).one()
    return found[0], found[1]


@pytest.mark.parametrize("which", ["forget_elsewhere", "supersede"])
def test_a_turn_leaves_a_row_another_transaction_holds_and_clears_it_once_free(
    engine: Engine, which: str
) -> None:
    statements = JournalStatements.build("postgresql", sql_sessions=None)
    statement, parameters = (
        (statements.forget[False, True], {"ids": [ROW], "owner": USER})
        if which == "forget_elsewhere"
        else (statements.supersede_unlocked, {"ids": [ROW]})
    )
    holder = engine.connect()
    try:
        holder.begin()
        # The other process's transaction, clearing the same row, holds it.
        holder.execute(
            text("SELECT 1 FROM processed_updates WHERE update_id = :id FOR UPDATE"), {"id": ROW}
        )
        with engine.begin() as turn:
            # Without the rule this waits for the holder: here it would fail after 2 s.
            turn.execute(text("SET LOCAL lock_timeout = '2s'"))
            turn.execute(statement, parameters)
        assert row(engine) == ("sealed answer", "sealed copy")  # left to its holder
    finally:
        holder.rollback()
        holder.close()
    with engine.begin() as turn:
        turn.execute(statement, parameters)
    # The answer alone (the session copy is settled by the turn), or the copy alone.
    cleared = (None, "sealed copy") if which == "forget_elsewhere" else ("sealed answer", None)
    assert row(engine) == cleared
