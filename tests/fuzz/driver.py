"""Streams of updates for the fuzz suite: mostly the answers a person would give (so flows are
traversed to their deep steps: saved sponsorships, workers' decisions, admins' activations), mixed
with hostile input at every step.

A stream is a list of abstract ``Act``s drawn by hypothesis; each is resolved against the live
state when it runs ("press a button of the newest keyboard", "type what this step expects"), so
shrinking keeps streams meaningful.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

from emulator.users import FakeUser
from flows import engine
from flows.router import FLOWS, INVITATION_PREFIX
from flows.session import Session
from flows.steps import AnswerKind
from flows.validators.nik import check_nik
from flows.validators.nip import check_nip
from tests.fuzz.world import ADMIN_ID, World

TODAY = date(2026, 11, 21)
SPONSORS = (1001, 1002)
WORKER = 1003
USERS = (*SPONSORS, WORKER, ADMIN_ID)

LINK = re.compile(r"start=(" + INVITATION_PREFIX + r"[A-Za-z0-9_-]+)")
REFERENCE = re.compile(r"PR-[2-9A-HJKMNP-Z]{6}")


def _valid_nips(count: int) -> list[str]:
    chooser, found = random.Random(6), list[str]()
    while len(found) < count:
        born = date(1965, 1, 1) + timedelta(days=chooser.randrange(30 * 365))
        start = born.year + chooser.randrange(19, 35)
        nip = (
            f"{born:%Y%m%d}{start:04d}{chooser.randrange(1, 13):02d}"
            f"{chooser.choice('12')}{chooser.randrange(1, 1000):03d}"
        )
        if check_nip(nip, TODAY).valid and nip not in found:
            found.append(nip)
    return found


def _valid_niks(count: int) -> list[tuple[str, date]]:
    """Garut NIKs (the district list is Garut's), with the birth date each encodes."""
    chooser, found = random.Random(7), list[tuple[str, date]]()
    regions = ["320501", "320502", "320503", "320504", "320505", "320506"]
    while len(found) < count:
        born = date(1960, 1, 1) + timedelta(days=chooser.randrange(45 * 365))
        day = born.day + (40 if chooser.random() < 0.5 else 0)
        nik = f"{chooser.choice(regions)}{day:02d}{born:%m%y}{chooser.randrange(1, 10000):04d}"
        check = check_nik(nik, TODAY)
        if check.valid and nik not in [n for n, _ in found]:
            assert check.birth_date is not None
            found.append((nik, check.birth_date))
    return found


NIPS = _valid_nips(64)
NIKS = _valid_niks(64)
NAMES = [
    "Dra. Siti Aminah",
    "Budi Santoso",
    "Ujang Suryana",
    "Euis Rahmawati",
    "Asep Saepudin, S.Pd.",
    "Ni Luh Putu Ayu",
    "Muhammad Al-Fatih",
    "Tjoet Nja' Dhien",
]
FREE_TEXT = ["Penjual sayur keliling", "Nama saya salah ketik", "Tanggal lahir di KTP salah"]
PHONES = ["0812 3456 7890", "+62 813-1111-2222", "081299998888"]

COMMANDS = [
    "start",
    "batal",
    "kembali",
    "bantuan",
    "status",
    "data_saya",
    "koreksi",
    "antrian",
    "aktifkan",
    "pekerja",
    "bahasa",
    "menu",
    "daftar",
    "help",
    "cancel",
]
INJECTION = [
    "<b>tebal</b>",
    "<a href='javascript:alert(1)'>klik</a>",
    "</code></pre><script>x</script>",
    "&lt;&amp;&gt; & < > \" '",
    "*tebal* _miring_ `kode` [tautan](https://contoh.id) ~coret~ ||spoiler||",
    "https://contoh.id/phishing?x=1",
    "\u202ekebalik\u202c",
    "\u200b\u200c\u200d\ufeff",
    "\u3164",
    "ㅤ",
    "𝐁𝐮𝐝𝐢 𝐒𝐚𝐧𝐭𝐨𝐬𝐨",
    "Z̷̢̛a̶͎͐l̸̢̈g̷̰͝o̶̡͠",
    "👨‍👩‍👧‍👦🇮🇩🙂",
    "مرحبا بالعالم",
    "שלום",
    "٣٢٠٥٠١٤٥٠١٩٠٠٠٠١",
    "１９８５０３１５２０１００１１００１",
    "1990-01-05",
    "05011990",
    "5 Januari 1990",
    "0001",
    "\x00\x07\x1b[31m",
    "PR-AAAAAA 23012345678 2026-12-01",
    "/",
    "//start",
    "/start@emulated_test_bot",
    "/aktifkan PR-222222 ²³ 2026-12-01",
    # {REF} becomes a reference shown in some chat, {LINK} an invitation's start parameter.
    "/aktifkan {REF} 23012345678 2026-12-01",
    "/aktifkan {REF} ٢٣٠١٢٣٤٥٦٧٨ 2026-12-01",
    "/aktifkan {REF} 23012345678 31-02-2026",
    "/aktifkan {REF}",
    "/start {LINK}",
    "/start {LINK}{LINK}",
    "{REF}",
]
FORGED = [
    "",
    ":",
    "0:",
    "-1:save",
    "99999999999999999999:save",
    "0:act:resolve:²",
    "0:act:withdraw:PR-222222",
    "0:act:inperson:PR-222222",
    "0:lang:xx",
    "0:menu:nope",
    "x" * 64,
    "1:" + "a" * 200,
    "0:resume:restart",
    "0:edit:nik",
    "0:page:next",
    "0:act:resolve:{REF}",
    "0:act:withdraw:{REF}",
    "0:act:wwithdraw:{REF}",
    "0:act:inperson:{REF}",
    "0:act:correct:{REF}",
    "0:act:wcorrect:{REF}",
    "0:act:reinvite:{REF}",
    "0:act:resolve:1",
]


#: Known bugs other changes of issue 6 fix, kept out of the streams until they are merged: each
#: names its issue item. An update one of them matches is not fed (and is counted in the run's
#: figures). The integrator deletes an entry once its fix is in; an empty dict excludes nothing.
KNOWN_BUGS: dict[str, str] = {}  # items 6 and 13 of issue 6 are fixed: nothing kept out


def known_bug(update: dict[str, Any], session: Session) -> str | None:
    """The KNOWN_BUGS entry this update would trigger, if any."""
    message = update.get("message") or {}
    text = message.get("text") or ""
    data = (update.get("callback_query") or {}).get("data") or ""
    value = data.partition(":")[2]
    with_context = session.flow in ("worker", "in_person", "correction")
    if "restart-with-context" in KNOWN_BUGS and value == "resume:restart" and with_context:
        return "restart-with-context"
    if "admin-unicode-digits" in KNOWN_BUGS:
        unicode_digit = any(c.isdigit() and not c.isascii() for c in text + value)
        if unicode_digit and (text.startswith("/aktifkan") or value.startswith("act:resolve:")):
            return "admin-unicode-digits"
    return None


@dataclass(frozen=True)
class Act:
    kind: str
    user: int  # an index into USERS
    pick: int  # chooses a button, a pool entry, a variant
    text: str = "x"


#: How often each kind is drawn: mostly the expected answer, so flows go deep.
KINDS = (
    ["expected"] * 24
    + ["text", "text", "command", "command", "press", "stale", "forged", "forged"]
    + ["media", "edited", "clock", "link", "redeliver"]
)

hostile_text = st.one_of(
    st.text(min_size=1, max_size=40),
    st.sampled_from(INJECTION),
    # Long texts up to Telegram's 4096: a drawn snippet repeated (cheap for hypothesis to draw).
    st.builds(lambda s, n: (s * 4096)[:n], st.text(min_size=1, max_size=8), st.integers(1, 4096)),
    st.builds(lambda a, b: a + b, st.sampled_from(NAMES + NIPS), st.sampled_from(INJECTION)),
    st.from_regex(r"[0-9 .\-]{1,24}", fullmatch=True),
)


def acts() -> st.SearchStrategy[Act]:
    return st.builds(
        Act,
        kind=st.sampled_from(KINDS),
        # Mostly the first sponsor (a long flow needs many answers in a row), then the worker.
        user=st.sampled_from([0] * 5 + [1] * 2 + [2] * 4 + [3] * 2),
        pick=st.integers(0, 2**16),
        text=hostile_text,
    )


#: The first sponsor answering every step as expected (signs up, saves a sponsorship), then the
#: worker opening the link and verifying: half the streams start so, and go on from the worker's
#: review with hostile and expected acts alike, so the deep states are reached in every run.
DEEP_PREFIX = [Act("expected", 0, 1)] * 40 + [Act("link", 2, 1), Act("expected", 2, 1)]


def streams(min_size: int = 20, max_size: int = 150) -> st.SearchStrategy[list[Act]]:
    return st.builds(
        lambda deep, rest: (DEEP_PREFIX if deep else []) + rest,
        st.booleans(),
        st.lists(acts(), min_size=min_size, max_size=max_size),
    )


@dataclass
class Driver:
    """Resolves acts against the world and feeds the resulting updates."""

    world: World
    steps: set[str] = field(default_factory=set)
    skipped: dict[str, int] = field(default_factory=dict)
    last_update: dict[str, Any] | None = None
    next_forged_id: int = 900_000_000
    nik_of_link: dict[str, tuple[str, date]] = field(default_factory=dict)
    typed_nik: dict[int, tuple[str, date]] = field(default_factory=dict)

    def user(self, index: int) -> FakeUser:
        user_id = USERS[index % len(USERS)]
        return self.world.emulator.user(
            user_id,
            first_name=f"U{user_id}",
            language_code="id" if user_id % 2 else "en",
            phone_number=f"+62812{user_id:08d}",
        )

    async def run(self, stream: Iterable[Act]) -> None:
        for act in stream:
            update = await self.resolve(act)
            if update is None:
                continue
            bug = known_bug(update, await self.session(self.user(act.user).id))
            if bug is not None:
                self.skipped[bug] = self.skipped.get(bug, 0) + 1
                continue
            self.last_update = update
            await self.world.feed(update)
            await self.note_step(self.user(act.user).id)

    async def note_step(self, user_id: int) -> None:
        session = await self.session(user_id)
        where = f"{session.flow}.{session.step}" if session.active else "idle"
        if session.interrupt:
            where += f"+{session.interrupt}"
        self.steps.add(where)

    async def session(self, user_id: int) -> Session:
        return Session.from_json(await self.world.built.service.sessions.load(user_id))

    # --- resolving acts -----------------------------------------------------------------------

    async def resolve(self, act: Act) -> dict[str, Any] | None:
        user = self.user(act.user)
        kind = act.kind
        if kind == "expected":
            return await self.expected(user, act.pick)
        if kind == "text":
            return await user.send_text(_sendable(self.fill(act.text, act.pick)))
        if kind == "command":
            name = COMMANDS[act.pick % len(COMMANDS)] if act.pick % 7 else act.text[:20]
            argument = act.text if act.pick % 3 == 0 else ""
            return await user.send_text(_sendable(f"/{name} {argument}".strip())[:4096])
        if kind == "press":
            return await self.press(user, act.pick, progress=False)
        if kind == "stale":
            return await self.press_stale(user, act.pick)
        if kind == "forged":
            return await self.forged(user, act)
        if kind == "media":
            return await self.media(user, act.pick)
        if kind == "edited":
            return self.edited(user, act.text)
        if kind == "clock":
            # Mostly within a session; sometimes past the 6-hour "welcome back", rarely past
            # an invitation's 14 days.
            hours = (1, 1, 2, 3, 7, 7, 25, 24 * 15)[act.pick % 8]
            self.world.clock.advance(hours=hours)
            return None
        if kind == "link":
            return await self.open_link(user, act.pick, act.text)
        if kind == "redeliver":
            return copy.deepcopy(self.last_update) if self.last_update else None
        raise AssertionError(f"unknown act {kind}")

    async def expected(self, user: FakeUser, pick: int) -> dict[str, Any] | None:
        session = await self.session(user.id)
        if session.interrupt is not None or session.pending is not None:
            return await self.press(user, pick, progress=True)
        if session.flow is not None and session.step is not None and session.flow in FLOWS:
            flow = FLOWS[session.flow]
            if session.step == engine.SUMMARY or session.step not in flow.steps:
                return await self.press(user, pick, progress=True)
            step = flow.steps[session.step]
            if step.kind is AnswerKind.CONTACT:
                if pick % 5 == 0:
                    return await user.send_text(PHONES[pick % len(PHONES)])
                return await user.share_contact()
            if step.kind is AnswerKind.TEXT:
                answer = self.answer_for(user, session, pick)
                if answer is None or (step.optional and pick % 3 == 0):
                    return await self.press(user, pick, progress=True)
                return await user.send_text(answer)
            if step.kind is AnswerKind.LIST and pick % 4 == 0:
                return await user.send_text(("kesehatan", "garut", "kota", "sosial")[pick % 4])
            return await self.press(user, pick, progress=True)
        # Between flows: what this person would do next.
        if user.id == ADMIN_ID:
            return await self.admin_move(user, pick)
        if user.id == WORKER and self.links() and pick % 3:
            return await self.open_link(user, pick, "")
        options = ["/start", "/pekerja", "/pekerja", "/status", "press", "/data_saya", "/koreksi"]
        choice = options[pick % len(options)]
        if choice == "press" and user.inline_buttons():
            return await self.press(user, pick, progress=True)
        return await user.send_text(choice if choice != "press" else "/start")

    def answer_for(self, user: FakeUser, session: Session, pick: int) -> str | None:
        step = session.step
        if step == "nip":
            # Sometimes another sponsor's NIP: the "already registered" path.
            return NIPS[(pick if pick % 11 == 0 else user.id) % len(NIPS)]
        if step in ("full_name", "worker_name"):
            return NAMES[pick % len(NAMES)]
        if step == "nik":
            nik, born = NIKS[(pick if pick % 9 == 0 else pick % 3 + user.id) % len(NIKS)]
            self.typed_nik[user.id] = (nik, born)
            return nik
        if step == "worker_phone":
            return PHONES[pick % len(PHONES)]
        if step == "verify":
            answers = session.answers
            if pick % 4 == 0 and answers.get("birth_date"):
                return date.fromisoformat(answers["birth_date"]).strftime("%d-%m-%Y")
            return str(answers.get("nik_last4") or "0000")
        return FREE_TEXT[pick % len(FREE_TEXT)]

    async def admin_move(self, admin: FakeUser, pick: int) -> dict[str, Any]:
        references = self.references()
        if references and pick % 3 == 0:
            reference = references[pick % len(references)]
            return await admin.send_text(f"/aktifkan {reference} 23012345678 2026-12-01")
        if pick % 3 == 1 and admin.inline_buttons():
            return await self.press(admin, pick, progress=True)
        return await admin.send_text("/antrian")

    async def press(self, user: FakeUser, pick: int, *, progress: bool) -> dict[str, Any]:
        buttons = [
            (label, data)
            for row in user.inline_buttons()
            for label, data in row
            if not data.startswith(("http://", "https://", "tg://"))
        ]
        if not buttons:
            if user.reply_keyboard():
                return await user.share_contact()
            return await user.send_text("/start")
        if progress and pick % 8:
            forward = [b for b in buttons if not _value(b[1]).startswith(_BACKWARDS)]
            saves = [b for b in forward if _value(b[1]) == engine.SAVE]
            buttons = saves or forward or buttons
            # Mostly the first forward button ("yes", the first option); the worker's decision
            # (agree, decline, something is wrong) is spread evenly.
            if pick % 4 and user.id != WORKER:
                buttons = buttons[:1]
        label, _ = buttons[pick % len(buttons)]
        return await user.press(label)

    async def press_stale(self, user: FakeUser, pick: int) -> dict[str, Any]:
        older = [m for m in user.messages if m.inline_keyboard][:-1]
        if not older:
            return await self.press(user, pick, progress=False)
        message = older[pick % len(older)]
        labels = [
            label
            for row in message.buttons
            for label, data in row
            if not data.startswith(("http", "tg:"))
        ]
        return await user.press(labels[pick % len(labels)], message_id=message.message_id)

    async def forged(self, user: FakeUser, act: Act) -> dict[str, Any]:
        if not user.inline_buttons() and not [m for m in user.messages if m.inline_keyboard]:
            return await user.send_text("/start")
        variant = act.pick % 5
        if variant in (0, 4):
            data = self.fill(FORGED[act.pick // 5 % len(FORGED)], act.pick)
        elif variant == 1:
            data = act.text[:300]
        elif variant == 2:  # another user's button, with its prompt number
            others = [
                data
                for other in USERS
                if other != user.id
                for row in self.user(USERS.index(other)).inline_buttons()
                for _, data in row
            ]
            data = others[act.pick % len(others)] if others else f"{act.pick}:save"
        else:  # this prompt's number with a value no button carries
            session = await self.session(user.id)
            data = f"{session.seq}:{act.text[:60]}"
        return await user.press_data(data)

    async def media(self, user: FakeUser, pick: int) -> dict[str, Any]:
        variant = pick % 7
        if variant == 0:
            return await user.send_photo(caption="foto KTP" if pick % 2 else None)
        if variant == 1:
            return await user.send_sticker()
        if variant == 2:
            return await user.send_voice()
        if variant == 3:
            return await user.send_document()
        if variant == 4:
            return await user.send_location()
        if variant == 5:
            return await user.share_contact("+6281299998888", own=False)
        return await user.share_contact()

    def edited(self, user: FakeUser, text: str) -> dict[str, Any] | None:
        mine = [m for m in user.history if not m.from_bot and m.text]
        if not mine:
            return None
        message = copy.deepcopy(mine[-1].raw)
        message["text"] = _sendable(text)
        message.pop("entities", None)
        message["edit_date"] = message["date"] + 1
        self.next_forged_id += 1
        return {"update_id": self.next_forged_id, "edited_message": message}

    async def open_link(self, user: FakeUser, pick: int, text: str) -> dict[str, Any]:
        links = self.links()
        if not links or pick % 6 == 0:
            token = INVITATION_PREFIX + re.sub(r"[^A-Za-z0-9_-]", "", text)[:40]
        else:
            token = links[pick % len(links)]
        return await user.send_command("start", token)

    def fill(self, text: str, pick: int) -> str:
        """Put a real reference and invitation parameter where the text asks for them."""
        references, links = self.references() or ["PR-222222"], self.links() or ["w_x"]
        return text.replace("{REF}", references[pick % len(references)]).replace(
            "{LINK}", links[pick % len(links)]
        )

    def chat_texts(self) -> list[str]:
        return [
            message.text or ""
            for user_id in USERS
            for message in self.world.emulator.user(user_id).history
            if message.from_bot
        ]

    def links(self) -> list[str]:
        return sorted({m for text in self.chat_texts() for m in LINK.findall(text)})

    def references(self) -> list[str]:
        return sorted({m for text in self.chat_texts() for m in REFERENCE.findall(text)})


#: Button values that do not move a flow forward (edit buttons lead back into the flow).
_BACKWARDS = (
    engine.BACK,
    engine.CANCEL,
    engine.HELP,
    engine.RETRY,
    engine.PREVIOUS_PAGE,
    engine.EDIT,
    "resume:restart",
    "menu:help",
    "menu:language",
)


def _value(data: str) -> str:
    return data.partition(":")[2]


def _sendable(text: str) -> str:
    """What a Telegram client can send: not empty, not only spaces, at most 4096 characters."""
    text = text[:4096]
    return text if text.strip() else "x"
