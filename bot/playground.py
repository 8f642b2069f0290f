"""What the playground's panel shows about one person: where their conversation stands and what
the bot stored, masked.

The emulator (a test kit that imports nothing of the product) defines the protocol: an
"inspector", a callable user id -> JSON-able dict, which `peduli playground` (bot.app) registers
on it. This module implements it from the session store and the database rows
(bot.storage.inspection), so a reader sees what the bot understood: the flow and step, the
session's answers, the sponsorship's state, the consents, the outbox.

Never a full NIK, NIP, phone, KPJ number or birth date: in the session every run of digits long
enough to be one is masked wherever it stands (an answer, a nested draft), and the answer to a
step marked sensitive is masked (a NIK as 3205********0001) or hidden; the rows are the masked
columns the database keeps.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable
from typing import Any

from bot.i18n import Renderer
from bot.storage.ports import SessionStore
from flows.router import FLOWS
from flows.session import Session
from flows.steps import Flow
from flows.validators.masking import mask_nik, mask_nip, mask_phone

#: A run of 6 or more digits, separators allowed inside (a NIK, NIP, phone, KPJ number, a date
#: typed as 05011990): the shortest sensitive number a person types is a 6-digit birth date.
_DIGIT_RUN = re.compile(r"\+?\d(?:[\d .\-/]*\d){5,}")
#: Session keys holding secrets rather than answers (an invitation's token opens its link).
_SECRET_KEYS = ("token",)

RowsOfUser = Callable[[int], dict[str, Any]]


def mask_number(text: str) -> str:
    """A number shown masked the way the bot masks it: a NIK (16 digits), a NIP (18), a phone
    (a leading + or 0), anything else (a KPJ number, a date) all but its last 2 digits."""
    digits = re.sub(r"\D", "", text)
    if len(digits) == 16:
        return mask_nik(digits)
    if len(digits) == 18:
        return mask_nip(digits)
    if text.startswith(("+", "0")) and 9 <= len(digits) <= 15:
        return mask_phone(text)
    return "*" * (len(digits) - 2) + digits[-2:]


def masked(value: Any) -> Any:
    """`value` with every long run of digits in its strings masked, recursively."""
    if isinstance(value, str):
        return _DIGIT_RUN.sub(lambda found: mask_number(found.group(0)), value)
    if isinstance(value, dict):
        return {
            key: "***" if any(s in str(key) for s in _SECRET_KEYS) else masked(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [masked(item) for item in value]
    return value


def _sensitive_answer(value: Any) -> Any:
    """A typed NIK shown as the bot masks it; any other sensitive answer (a birth date) hidden."""
    if value is None:
        return None
    shown = masked(value)
    return shown if shown != value else "***"


def _sensitive_steps(flows: Iterable[Flow]) -> frozenset[str]:
    return frozenset(step.id for flow in flows for step in flow.steps.values() if step.sensitive)


class PlaygroundInspector:
    """The emulator's inspector for `peduli playground`: user id -> what the bot holds."""

    def __init__(
        self,
        sessions: SessionStore,
        rows_of_user: RowsOfUser,
        admin_ids: frozenset[int],
        language: str = "id",
    ) -> None:
        self._sessions = sessions
        self._rows_of_user = rows_of_user
        self._admin_ids = admin_ids
        self._render = Renderer(language)
        self._sensitive = _sensitive_steps(FLOWS.values())

    async def __call__(self, user_id: int) -> dict[str, Any]:
        session = Session.from_json(await self._sessions.load(user_id))
        rows = await asyncio.to_thread(self._rows_of_user, user_id)
        return {
            "user_id": user_id,
            "superadmin": user_id in self._admin_ids,
            "conversation": self._conversation(session),
            **rows,  # masked columns only (bot.storage.inspection unseals nothing)
        }

    def _conversation(self, session: Session) -> dict[str, Any]:
        flow = FLOWS.get(session.flow or "")
        answers = {
            key: _sensitive_answer(value) if key in self._sensitive else value
            for key, value in session.answers.items()
        }
        return {
            "flow": session.flow,
            "flow_title": self._render(flow.title) if flow is not None else None,
            "step": session.step,
            "prompt_number": session.seq,
            # "invitation:<token>": the token opens the link, the word is what matters here
            "interrupt": session.interrupt.split(":", 1)[0] if session.interrupt else None,
            "failures": session.failures,
            "editing": session.editing,
            "list_search": session.query or None,
            "answers": masked(answers),
            "history": list(session.history),
            "parked_draft": session.parked is not None,
            "updated_at": session.updated_at,
        }
