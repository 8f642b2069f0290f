"""The unit of work finds every command's handler in one registry, built once from the
aggregates' handler modules; no command type is handled twice."""

from __future__ import annotations

import typing

import pytest

from bot.storage.handlers import coverage, requests, sponsor, sponsorship
from bot.storage.repository import HANDLERS, _registry
from flows.commands import Command, SetLanguage


def test_every_command_type_has_exactly_one_handler() -> None:
    groups = [sponsor.HANDLERS, sponsorship.HANDLERS, requests.HANDLERS, coverage.HANDLERS]
    registered = [command_type for group in groups for command_type in group]
    assert len(registered) == len(set(registered))
    assert set(HANDLERS) == set(typing.get_args(Command))


def test_a_command_type_registered_twice_is_refused() -> None:
    with pytest.raises(TypeError, match="two handlers for SetLanguage"):
        _registry(sponsor.HANDLERS, {SetLanguage: coverage.activate_coverage})
