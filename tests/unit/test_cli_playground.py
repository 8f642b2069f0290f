"""`--playground` on every command that opens the database, and what it points them at."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from bot.cli import DATABASE_COMMANDS, _parser
from bot.settings import Settings


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every runnable command: (its words, its parser)."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
        return
    for action in subparsers:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


def test_every_database_command_takes_playground_and_no_other_does() -> None:
    leaves = list(_leaves(_parser()))
    assert {path[0] for path, _ in leaves} >= DATABASE_COMMANDS
    for path, parser in leaves:
        options = {option for action in parser._actions for option in action.option_strings}
        assert ("--playground" in options) == (path[0] in DATABASE_COMMANDS), path


def test_playground_option_is_parsed_after_the_command_words() -> None:
    args = _parser().parse_args(["coverage", "import", "rows.csv", "--playground"])
    assert args.playground
    assert not _parser().parse_args(["stats"]).playground
    args = _parser().parse_args(
        ["admin", "add", "--role", "operator", "--playground", "--agency", "dinkes", "77"]
    )
    assert args.playground and args.agency == ["dinkes", "77"]


def test_for_playground_points_at_the_playground_database_without_redis() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url="postgresql+psycopg://bot@db/peduli",
        playground_database_url="sqlite:///elsewhere.sqlite3",
        redis_url="redis://cache:6379/0",
        data_key_file="keys/dev",
    )
    playground = settings.for_playground()
    assert playground.database_url == "sqlite:///elsewhere.sqlite3"
    assert playground.redis_url is None
    assert playground.data_key_file == settings.data_key_file  # the key the playground uses too
    assert settings.database_url == "postgresql+psycopg://bot@db/peduli"  # a copy
