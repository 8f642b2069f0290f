"""Staff roles end to end, through the real aiogram bot and the Bot API emulator: a superadmin
adds an operator in the admin chat, the operator's next update carries their scope, removal asks
first and works; /admin does not exist for an operator or an outsider, and their forged presses
of its buttons are refused and change nothing. Every action is in the audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from bot.storage.views import UserRecord
from emulator.server import BotApiEmulator
from flows.access import Role, Scope
from flows.context import Context
from tests.e2e.harness import BotUnderTest, texts
from tests.e2e.test_worker_journey import ADMIN, bot, clock  # noqa: F401  (fixtures)

OPERATOR = 8101
OUTSIDER = 8102
NOT_ALLOWED = "Anda tidak dapat memakai tombol ini."


def scopes_seen(bot: BotUnderTest, monkeypatch: pytest.MonkeyPatch) -> dict[int, Any]:  # noqa: F811
    """The scope each user's latest update was handled with (the engine's context)."""
    assert bot.built is not None
    service = bot.built.service
    seen: dict[int, Any] = {}
    original: Callable[[UserRecord], Context] = service._context

    def context(record: UserRecord) -> Context:
        built = original(record)
        seen[record.user_id] = built.user.scope
        return built

    monkeypatch.setattr(service, "_context", context)
    return seen


def table(bot: BotUnderTest, sql: str) -> list[tuple[Any, ...]]:  # noqa: F811
    assert bot.built is not None
    with bot.built.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(sql))]


def staff_rows(bot: BotUnderTest) -> list[tuple[Any, ...]]:  # noqa: F811
    return table(bot, "SELECT user_id, agency_code, role FROM staff_roles ORDER BY 1, 2")


def audit_rows(bot: BotUnderTest) -> list[tuple[Any, ...]]:  # noqa: F811
    return table(
        bot, "SELECT actor_user_id, channel, action, scope, row_count FROM audit_log ORDER BY id"
    )


async def test_a_superadmin_adds_an_operator_who_then_has_scope_and_removes_them(
    emulator: BotApiEmulator,
    bot: BotUnderTest,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = scopes_seen(bot, monkeypatch)
    admin = emulator.user(ADMIN, first_name="Admin")
    operator = emulator.user(OPERATOR, first_name="Operator")

    shown = texts(await admin.say("/admin"))
    assert "Belum ada operator atau bendahara" in shown and "/admin tambah operator" in shown

    added = texts(await admin.say(f"/admin tambah operator dinkes,SETDA {OPERATOR}", min_count=2))
    assert "Peran petugas disimpan" in added
    assert f"{OPERATOR} · operator · Dinas Kesehatan (dinkes)" in added
    assert staff_rows(bot) == [(OPERATOR, "dinkes", "operator"), (OPERATOR, "setda", "operator")]

    await operator.say("/start")
    assert seen[OPERATOR] == Scope(Role.OPERATOR, frozenset({"dinkes", "setda"}))
    assert seen[ADMIN] == Scope.superadmin()

    asking = texts(await admin.choose(f"🗑️ Hapus {OPERATOR}"))
    assert f"Cabut peran petugas dengan ID Telegram {OPERATOR}?" in asking
    assert len(staff_rows(bot)) == 2  # asked first: nothing removed yet
    removed = texts(await admin.choose("🗑️ Ya, cabut perannya", min_count=2))
    assert "Peran petugas dicabut" in removed and "Belum ada operator" in removed
    assert staff_rows(bot) == []

    await operator.say("/start")
    assert seen[OPERATOR] is None
    assert audit_rows(bot) == [
        (ADMIN, "telegram", "staff.view", "*", 0),
        (ADMIN, "telegram", "staff.grant", "*", 2),
        (ADMIN, "telegram", "staff.view", "*", 1),
        (ADMIN, "telegram", "staff.revoke", "*", 2),
        (ADMIN, "telegram", "staff.view", "*", 0),
    ]
    assert emulator.rejections == []


@pytest.mark.parametrize("who", ["operator", "outsider"])
async def test_admin_does_not_exist_for_others_and_their_forged_buttons_change_nothing(
    emulator: BotApiEmulator,
    bot: BotUnderTest,  # noqa: F811
    who: str,
) -> None:
    admin = emulator.user(ADMIN, first_name="Admin")
    await admin.say(f"/admin tambah bendahara dinkes {OPERATOR}", min_count=2)
    user = emulator.user(OPERATOR if who == "operator" else OUTSIDER, first_name="Someone")
    await user.say("/start")  # a message with buttons to press on
    before = (staff_rows(bot), audit_rows(bot))

    unknown = texts(await user.say("/zzz"))
    for typed in ("/admin", f"/admin hapus {OPERATOR}", f"/admin tambah operator setda {user.id}"):
        answer = texts(await user.say(typed))
        assert answer == unknown.replace("/zzz", typed.split()[0]), typed

    for data in (f"0:act:staffrmok:{OPERATOR}", f"0:act:staffrm:{OPERATOR}", "0:show:staff:0"):
        mark = user.mark()
        answer = await user.wait_callback_answer(await user.press_data(data))
        assert answer.text in (NOT_ALLOWED, "Tombol ini sudah tidak berlaku. Lihat pesan terakhir.")
        if "staffrm" in data:
            assert answer.text == NOT_ALLOWED
        assert "Petugas" not in texts(await user.replies_since(mark, min_count=0))

    assert (staff_rows(bot), audit_rows(bot)) == before
    assert staff_rows(bot) == [(OPERATOR, "dinkes", "treasurer")]
    assert emulator.rejections == []
