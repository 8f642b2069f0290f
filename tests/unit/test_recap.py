"""/rekap in the flows: who gets it, which month by default, and refusals for an agency outside
the scope, by command or by button (forged callback data included)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from flows import callbacks, recap
from flows.access import Role, Scope
from flows.effects import Message, SendDeductionRecap, Toast

JAKARTA = ZoneInfo("Asia/Jakarta")
OPERATOR = Scope.of(Role.OPERATOR, ["dinkes", "disdik"])
TREASURER = Scope.of(Role.TREASURER, ["dinkes"])


@pytest.mark.parametrize(
    ("now", "month"),
    [
        (datetime(2026, 11, 20, 23, 59, tzinfo=JAKARTA), date(2026, 11, 1)),
        (datetime(2026, 11, 21, 0, 0, tzinfo=JAKARTA), date(2026, 12, 1)),
        (datetime(2026, 12, 25, tzinfo=JAKARTA), date(2027, 1, 1)),
        (datetime(2026, 12, 1, tzinfo=JAKARTA), date(2026, 12, 1)),
    ],
)
def test_default_month(now: datetime, month: date) -> None:
    assert recap.default_month(now) == month


def test_months_around() -> None:
    assert recap.previous_month(date(2026, 1, 1)) == date(2025, 12, 1)
    assert recap.next_month(date(2026, 12, 1)) == date(2027, 1, 1)


@pytest.mark.parametrize(
    ("text", "month"),
    [
        ("2026-12", date(2026, 12, 1)),
        ("2026-1", date(2026, 1, 1)),
        ("٢٠٢٦-١٢", date(2026, 12, 1)),
        ("2026-13", None),
        ("2026-00", None),
        ("12-2026", None),
        ("1999-01", None),
        ("Desember", None),
        ("2026-1 2", None),
    ],
)
def test_parse_month(text: str, month: date | None) -> None:
    assert recap.parse_month(text) == month


NOW = datetime(2026, 11, 25, tzinfo=JAKARTA)


def test_command() -> None:
    assert recap.command("", TREASURER, NOW) == SendDeductionRecap("2026-12")
    assert recap.command("2026-11", TREASURER, NOW) == SendDeductionRecap("2026-11")
    assert recap.command("2026-11 disdik", OPERATOR, NOW) == SendDeductionRecap("2026-11", "disdik")
    refused = recap.command("2026-11 bappeda", OPERATOR, NOW)
    assert isinstance(refused, Message) and refused.text.key == "rekap.refused"
    refused = recap.command("2026-11 disdik", TREASURER, NOW)
    assert isinstance(refused, Message) and refused.text.key == "rekap.refused"
    everything = recap.command("2026-11 bappeda", Scope.superadmin(), NOW)
    assert everything == SendDeductionRecap("2026-11", "bappeda")
    for bad in ("2026-13", "a b c", "Desember"):
        usage = recap.command(bad, TREASURER, NOW)
        assert isinstance(usage, Message) and usage.text.key == "rekap.usage"


def test_buttons() -> None:
    value = callbacks.recap("2026-12", "disdik")
    name, _, argument = value.removeprefix(callbacks.ACTION).partition(":")
    assert name == "rekap"
    assert recap.pressed(argument, OPERATOR) == SendDeductionRecap("2026-12", "disdik")
    refused = recap.pressed(argument, TREASURER)
    assert isinstance(refused, Message) and refused.text.key == "rekap.refused"
    assert isinstance(recap.pressed(argument, None), Toast)
    assert isinstance(recap.pressed("bogus:dinkes", OPERATOR), Toast)
