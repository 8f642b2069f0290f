"""Drives the pure router like a user would, rendering every message so a missing locale key or
parameter fails the test. Commands are applied by a tiny in-memory host."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.catalog import ProgrammeSettings, load_programme
from bot.i18n import Renderer
from bot.settings import DEFAULT_PROGRAMME_FILE
from flows import engine, router
from flows.access import Scope
from flows.commands import (
    Applied,
    Command,
    Outcome,
    Refused,
    RegisterSponsor,
    SetLanguage,
    SubmitSponsorship,
)
from flows.context import Context, UserFacts
from flows.effects import Apply, Effect, Message, Toast
from flows.inputs import ChoicePicked, CommandIssued, ContactShared, Input, TextReceived
from flows.session import Session
from flows.validators.masking import mask_nip

PROGRAMME = load_programme(DEFAULT_PROGRAMME_FILE)
WIB = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 11, 21, 9, 30, tzinfo=WIB)

VALID_NIP = "198503152010011001"
VALID_NIK = "3205014501900001"  # Garut, Garut Kota; female, born 1990-01-05


@dataclass
class Host:
    """Applies commands in memory the way the repository does, with scripted refusals."""

    refuse: dict[type, str] = field(default_factory=dict)
    scripted: dict[type, list[Outcome]] = field(default_factory=dict)
    applied: list[Command] = field(default_factory=list)
    is_admin: bool = False
    is_worker: bool = False  # linked as the worker of a sponsorship
    scope: Scope | None = None  # a member of staff's role and agencies
    audience_sizes: dict[str, int] | None = None  # counted by the host while composing
    language: str | None = None
    sponsor: RegisterSponsor | None = None
    sponsorships: list[SubmitSponsorship] = field(default_factory=list)

    def apply(self, command: Command) -> Outcome:
        self.applied.append(command)
        if self.scripted.get(type(command)):
            return self.scripted[type(command)].pop(0)
        if type(command) in self.refuse:
            return Refused(self.refuse.pop(type(command)))
        if isinstance(command, SetLanguage):
            self.language = command.language
        elif isinstance(command, RegisterSponsor):
            self.sponsor = command
        elif isinstance(command, SubmitSponsorship):
            self.sponsorships.append(command)
            reference = f"PR-TEST{len(self.sponsorships)}"
            return Applied(reference=reference, invitation_token=f"token{len(self.sponsorships)}")
        return Applied()


@dataclass
class Chat:
    user_id: int = 1001
    host: Host = field(default_factory=Host)
    session: Session = field(default_factory=Session)
    now: datetime = NOW
    sent: list[Effect] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    programme: ProgrammeSettings | None = None  # None: PROGRAMME (a deployment of several: set)

    def context(self) -> Context:
        sponsor = self.host.sponsor
        facts = UserFacts(
            user_id=self.user_id,
            language=self.host.language,
            registered=sponsor is not None,
            sponsor_name=sponsor.full_name if sponsor else None,
            agency_name="Dinas Kesehatan" if sponsor else None,
            open_sponsorships=len(self.host.sponsorships),
            is_admin=self.host.is_admin,
            is_worker=self.host.is_worker,
            scope=self.host.scope,
            # as bot.service gives it
            sponsor_nip=mask_nip(sponsor.nip) if sponsor and sponsor.nip else None,
            funder_type=sponsor.funder_type if sponsor else "asn",
            organisation_name=sponsor.organisation_name if sponsor else None,
            position=sponsor.position if sponsor else None,
        )
        return Context(
            facts,
            (self.programme or PROGRAMME).catalog,
            self.now,
            lambda: f"draft-{next(self._ids)}",
            audience_sizes=self.host.audience_sizes,
        )

    def do(self, event: Input) -> list[Effect]:
        turn = router.respond(self.session, event, self.context())
        effects = list(turn.effects)
        self.session = turn.session
        for effect in list(effects):
            if isinstance(effect, Apply):
                outcome = self.host.apply(effect.command)
                if effect.awaits_outcome:
                    settled = router.settle(self.session, outcome, self.context())
                    self.session = settled.session
                    effects.extend(settled.effects)
        render = Renderer(self.host.language)
        for effect in effects:  # every message must render in both languages
            if isinstance(effect, Message):
                for language in ("id", "en"):
                    Renderer(language)(effect.text)
                    for row in effect.buttons:
                        for button in row:
                            Renderer(language)(button.label)
            if isinstance(effect, Toast):
                render(effect.text)
        self.sent = effects
        return effects

    # --- what a user does -----------------------------------------------------------------
    def command(self, name: str, argument: str = "") -> list[Effect]:
        return self.do(CommandIssued(name, argument))

    def type(self, text: str) -> list[Effect]:
        return self.do(TextReceived(text))

    def press(self, value: str, seq: int | None = None) -> list[Effect]:
        return self.do(
            ChoicePicked(self.session.seq if seq is None else seq, self.shown(value), 77)
        )

    def shown(self, value: str) -> str:
        """The value of the button on screen that means `value`: an agreement's buttons carry a
        tag of the wording shown ("agree~1a2b…"); other buttons are their value."""
        for effect in reversed(self.sent):
            if isinstance(effect, Message):
                for row in effect.buttons:
                    for button in row:
                        if button.value.partition("~")[0] == value:
                            return button.value
        if self.session.active and self.session.interrupt is None:  # the question on screen
            flow = router.FLOWS[self.session.flow or ""]
            for row in engine.prompt(flow, self.session, self.context()).buttons:
                for button in row:
                    if button.value.partition("~")[0] == value:
                        return button.value
        return value

    def share_contact(self, phone: str, own: bool = True) -> list[Effect]:
        return self.do(ContactShared(phone, own))

    # --- what the user sees ---------------------------------------------------------------
    def message_keys(self) -> list[str]:
        return [e.text.key for e in self.sent if isinstance(e, Message | Toast)]

    def last(self) -> Message:
        return [e for e in self.sent if isinstance(e, Message)][-1]

    def values(self) -> list[str]:
        return [b.value for row in self.last().buttons for b in row]

    def rendered(self, language: str = "id") -> str:
        return "\n".join(Renderer(language)(e.text) for e in self.sent if isinstance(e, Message))


def signed_up(chat: Chat | None = None) -> Chat:
    chat = chat or Chat()
    chat.command("start")
    chat.press("lang:id")
    chat.type(VALID_NIP)
    chat.press("yes")
    chat.type("Dra. Siti Aminah, M.Si.")
    chat.press("dinkes")
    chat.share_contact("6281234567890")
    assert chat.host.sponsor is not None, chat.message_keys()
    return chat
