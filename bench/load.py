"""The conversation load generator: simulated users talking to a bot over its webhook.

Each simulated user plays a whole conversation, one update at a time: the next update is posted
only once the bot's reply to the previous one arrived at the fake Bot API (bench/fake_api.py, in
this process) and the webhook's HTTP request was answered, as Telegram and a person would. A turn
waits for what a person would wait for (a text, a button to press); its latency is measured from
the POST of the update to that moment.

Two ways to drive: saturated (N users at once, each as fast as the bot answers) and paced (a
fixed number of updates per second over a pool of users; a slot nobody can take because every
user is still waiting for the bot is dropped, so the achieved rate shows a bot that cannot keep
up). The ASN conversation is the whole sign-up and sponsorship of tests/e2e/harness.py
(`sign_up`, `register_worker`, then Simpan), with a valid NIP and NIK of its own per user.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

import aiohttp

from bench.fake_api import ChatLog, FakeBotApi

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: A turn the bot has not answered in this time fails its conversation (the run goes on).
TURN_TIMEOUT = 30.0
#: A reply that is not the expected one (the bot refused the input) fails the conversation
#: this long after the webhook request was answered.
WRONG_REPLY_GRACE = 3.0
#: Updates answered with a non-2xx status are posted again (Telegram redelivers), this often.
MAX_REDELIVERIES = 20
REFERENCE = re.compile(r"PR-[2-9A-HJKMNP-Z]{6}")

Action = Literal["text", "press", "contact"]


@dataclass(frozen=True, slots=True)
class Step:
    """One update of a conversation and what ends its turn.

    ``expect`` is a text the bot's reply contains; ``expect_button`` a label of an inline button
    on a message the reply sent or edited; ``expect_keyboard`` a reply keyboard button shown."""

    name: str
    action: Action
    value: str
    expect: str | None = None
    expect_button: str | None = None
    expect_keyboard: str | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    user_id: int
    steps: tuple[Step, ...]
    phone: str
    #: Whether the conversation ends with a stored sponsorship (the ASN one) or not (echo).
    sponsors: bool


# ------------------------------------------------------------------------ valid identities


def nip_for(index: int) -> str:
    """A valid PNS NIP, unique per index below 999 * 5000: birth date, service start 2010-01,
    male, serial 001-999 (see flows/validators/nip.py)."""
    born = date(1970, 1, 1) + timedelta(days=index // 999)
    return f"{born:%Y%m%d}2010011{index % 999 + 1:03d}"


def nik_for(index: int) -> str:
    """A valid NIK of Garut (32.05.01), unique per index below 9999 * 9000: a woman's birth
    date (day + 40) between 1965 and 1989, serial 0001-9999 (see flows/validators/nik.py)."""
    born = date(1965, 1, 1) + timedelta(days=index // 9999)
    return f"320501{born.day + 40:02d}{born:%m%y}{index % 9999 + 1:04d}"


def letters(index: int) -> str:
    """``index`` spelled in letters (names allow no digits): 0 -> "A", 27 -> "Bb"."""
    word = ""
    while True:
        index, digit = divmod(index, 26)
        word = chr(ord("a") + digit) + word
        if index == 0:
            return word.capitalize()


def asn_conversation(user_id: int, index: int) -> Conversation:
    """The journey of tests/e2e/test_journey.py: sign up as an ASN and sponsor a worker."""
    steps = (
        Step("start", "text", "/start", expect="Pilih bahasa"),
        Step("language", "press", "🇮🇩 Bahasa Indonesia", expect="Ketik NIP"),
        Step("nip", "text", nip_for(index), expect="NIP ini menunjukkan"),
        Step("nip_confirm", "press", "✅ Ya, benar", expect="Ketik nama lengkap"),
        Step("name", "text", f"Dra. Siti Aminah {letters(index)}", expect="Pilih instansi"),
        Step("agency_search", "text", "kesehatan", expect_button="Dinas Kesehatan"),
        Step("agency", "press", "Dinas Kesehatan", expect_keyboard="📱 Kirim nomor HP saya"),
        Step("contact", "contact", "📱 Kirim nomor HP saya", expect="Apa hubungan"),
        Step("relationship", "press", "Bekerja di rumah tangga saya", expect="Apa pekerjaan"),
        Step("job", "press", "Asisten rumah tangga", expect="Ketik nama lengkap pekerja"),
        Step("worker_name", "text", f"Ujang Suryana {letters(index)}", expect="Ketik NIK"),
        Step("nik", "text", nik_for(index), expect="Pesan Anda tadi sudah saya hapus"),
        Step("nik_confirm", "press", "✅ Ya, benar", expect="nomor HP"),
        Step("worker_phone", "press", "⏭️ Lewati", expect="Dalam bahasa apa"),
        Step("worker_language", "press", "🇮🇩 Bahasa Indonesia", expect="kecamatan"),
        Step("district_search", "text", "garut kota", expect_button="Garut Kota"),
        Step("district", "press", "Garut Kota", expect="desa/kelurahan"),
        Step("village", "press", "Kota Kulon", expect="program"),
        Step("programme", "press", "JKK + JKM — Rp16.800/bulan", expect="cara membayar"),
        Step("payment", "press", "Potong gaji lewat bendahara", expect="PERNYATAAN KESEDIAAN"),
        Step("consent", "press", "✅ Setuju", expect="Periksa data sebelum disimpan"),
        Step("save", "press", "💾 Simpan", expect="Tersimpan"),
    )
    return Conversation(user_id, steps, f"+62812{user_id % 10**7:07d}", sponsors=True)


ASN_STEPS = len(asn_conversation(1, 0).steps)


def echo_conversation(user_id: int, index: int) -> Conversation:
    """As many text updates as the ASN conversation, each answered by its echo."""
    steps = tuple(
        Step(f"echo{n}", "text", f"halo {index} {n}", expect=f"halo {index} {n}")
        for n in range(ASN_STEPS)
    )
    return Conversation(user_id, steps, f"+62812{user_id % 10**7:07d}", sponsors=False)


# ------------------------------------------------------------------------------- results


@dataclass(slots=True)
class Turn:
    step: str
    latency: float
    #: The update posted, and where its chat's log stood when it was posted (bench/integrity.py
    #: reads each update's replies from there on).
    update_id: int = 0
    mark: int = 0
    #: When it was posted (time.monotonic): a paced phase measures the turns of its window.
    started: float = 0.0


@dataclass(slots=True)
class Outcome:
    """One played conversation."""

    user_id: int
    completed: bool
    turns: list[Turn] = field(default_factory=list)
    reference: str | None = None
    invitation_link: str | None = None
    error: str | None = None


@dataclass(slots=True)
class PhaseResult:
    mode: str
    rate: float | None
    seconds: float
    outcomes: list[Outcome]
    redeliveries: int = 0
    #: A paced phase's steady window (time.monotonic): from the moment its last user started to
    #: the moment the first found no conversation left, when every user of the pool is playing.
    #: Its latencies and achieved rate are those of the turns posted within it.
    window: tuple[float, float] | None = None

    @property
    def updates(self) -> int:
        """Every update of the phase (the bot's CPU per update is over the whole phase)."""
        return sum(len(o.turns) for o in self.outcomes)

    def measured_turns(self) -> list[Turn]:
        turns = [t for o in self.outcomes for t in o.turns]
        if self.window is None:
            return turns
        start, end = self.window
        return [t for t in turns if start <= t.started < end]

    @property
    def measured_seconds(self) -> float:
        return self.seconds if self.window is None else self.window[1] - self.window[0]

    @property
    def completed(self) -> int:
        return sum(o.completed for o in self.outcomes)

    def latencies(self, step: str | None = None) -> list[float]:
        return sorted(t.latency for t in self.measured_turns() if step is None or t.step == step)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of sorted values (None when empty)."""
    if not values:
        return None
    rank = max(1, min(len(values), round(fraction * len(values) + 0.5)))
    return values[rank - 1]


# ------------------------------------------------------------------------------ pacing


class Pacer:
    """Hands out send slots at a fixed rate; slots in the past are dropped, never bunched."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next: float | None = None

    async def slot(self) -> None:
        now = time.monotonic()
        if self._next is None or self._next < now:
            self._next = now
        at = self._next
        self._next += self.interval
        if at > now:
            await asyncio.sleep(at - now)


# ----------------------------------------------------------------------------- players


class LoadGenerator:
    """Posts updates to ``webhook_url`` and watches the replies arrive at ``api``. Given
    several URLs (bot processes behind one address), the POSTs take them in turn, so one
    user's consecutive updates land on different processes."""

    def __init__(self, api: FakeBotApi, webhook_url: str | Sequence[str], secret: str) -> None:
        self.api = api
        self.webhook_urls = [webhook_url] if isinstance(webhook_url, str) else list(webhook_url)
        self.webhook_url = self.webhook_urls[0]
        self.posts = 0
        self.headers = {SECRET_HEADER: secret, "Content-Type": "application/json"}
        self._update_id = 0
        self._http: aiohttp.ClientSession | None = None
        self.redeliveries = 0

    async def __aenter__(self) -> LoadGenerator:
        # Telegram keeps up to 40 webhook connections open by default; so does this client.
        connector = aiohttp.TCPConnector(limit=40, force_close=False)
        self._http = aiohttp.ClientSession(connector=connector)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()

    def _next_update_id(self) -> int:
        self._update_id += 1
        return self._update_id

    def _user(self, conversation: Conversation) -> dict[str, Any]:
        return {
            "id": conversation.user_id,
            "is_bot": False,
            "first_name": "Siti",
            "language_code": "id",
        }

    def _chat(self, conversation: Conversation) -> dict[str, Any]:
        return {"id": conversation.user_id, "type": "private", "first_name": "Siti"}

    def update_for(self, conversation: Conversation, step: Step, log: ChatLog) -> dict[str, Any]:
        """The update Telegram would send for ``step``, reacting to what the bot showed."""
        update_id = self._next_update_id()
        now = int(time.time())
        if step.action == "press":
            shown = log.offering(step.value)
            if shown is None:
                raise LookupError(f"no button {step.value!r} offered at step {step.name}")
            message = {
                "message_id": shown.message_id,
                "from": self.api.bot_user(),
                "chat": self._chat(conversation),
                "date": now,
                "text": shown.text or ".",
            }
            callback = {
                "id": str(update_id),
                "from": self._user(conversation),
                "chat_instance": str(conversation.user_id),
                "message": message,
                "data": shown.buttons[step.value],
            }
            return {"update_id": update_id, "callback_query": callback}
        content: dict[str, Any]
        if step.action == "contact":
            if log.reply_keyboard is None or not log.reply_keyboard.get(step.value):
                raise LookupError(f"no contact button {step.value!r} at step {step.name}")
            content = {
                "contact": {
                    "phone_number": conversation.phone,
                    "first_name": "Siti",
                    "user_id": conversation.user_id,
                }
            }
        else:
            content = {"text": step.value}
            if step.value.startswith("/"):
                length = len(step.value.split()[0])
                content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        message = {
            "message_id": log.new_message_id(),
            "from": self._user(conversation),
            "chat": self._chat(conversation),
            "date": now,
            **content,
        }
        return {"update_id": update_id, "message": message}

    @staticmethod
    def _answered(step: Step, log: ChatLog, mark: int) -> bool:
        events = log.events[mark:]
        if step.expect is not None and not any(step.expect in e.text for e in events):
            return False
        if step.expect_button is not None:
            touched = {e.message_id for e in events}
            if not any(
                step.expect_button in m.buttons
                for message_id, m in log.messages.items()
                if message_id in touched
            ):
                return False
        if step.expect_keyboard is not None:
            keyboard = log.reply_keyboard
            if keyboard is None or step.expect_keyboard not in keyboard:
                return False
        return True

    async def _post(self, update: dict[str, Any], log: ChatLog) -> None:
        assert self._http is not None
        for _ in range(MAX_REDELIVERIES):
            url = self.webhook_urls[self.posts % len(self.webhook_urls)]
            self.posts += 1
            async with self._http.post(url, json=update, headers=self.headers) as r:
                await r.read()
                if r.status < 300:
                    log.wake()
                    return
            self.redeliveries += 1
            await asyncio.sleep(0.05)
        raise RuntimeError(f"update {update['update_id']} refused {MAX_REDELIVERIES} times")

    async def turn(self, conversation: Conversation, step: Step) -> float:
        """Post one update, wait for the bot's reply; the latency in seconds."""
        return (await self.turn_record(conversation, step)).latency

    async def turn_record(self, conversation: Conversation, step: Step) -> Turn:
        """Post one update, wait for the bot's reply; the turn as recorded."""
        log = self.api.chat(conversation.user_id)
        update = self.update_for(conversation, step, log)
        mark = len(log.events)
        started = time.monotonic()
        post = asyncio.ensure_future(self._post(update, log))
        deadline = started + TURN_TIMEOUT
        try:
            while not (post.done() and self._answered(step, log, mark)):
                if post.done() and post.exception() is not None:
                    post.result()
                if post.done() and len(log.events) > mark:
                    deadline = min(deadline, time.monotonic() + WRONG_REPLY_GRACE)
                left = deadline - time.monotonic()
                if left <= 0:
                    texts = [e.text[:60] for e in log.events[mark:]]
                    raise TimeoutError(f"no answer to step {step.name} in time; got {texts}")
                await log.changed(min(left, 1.0))
        finally:
            if not post.done():
                post.cancel()
        return Turn(step.name, time.monotonic() - started, update["update_id"], mark, started)

    async def play(self, conversation: Conversation, pacer: Pacer | None = None) -> Outcome:
        outcome = Outcome(conversation.user_id, completed=False)
        try:
            for step in conversation.steps:
                if pacer is not None:
                    await pacer.slot()
                outcome.turns.append(await self.turn_record(conversation, step))
        except Exception as error:  # a failed conversation is counted, the run goes on
            outcome.error = f"{type(error).__name__}: {error}"
            return outcome
        log = self.api.chat(conversation.user_id)
        if conversation.sponsors:
            texts = [m.text for m in log.messages.values()]
            found = [REFERENCE.search(text) for text in texts]
            references = [m.group(0) for m in found if m]
            outcome.reference = references[-1] if references else None
            links = [u for m in log.messages.values() for u in m.urls if "start=" in u]
            links += re.findall(r"https://t\.me/\S+start=\S+", "\n".join(texts))
            outcome.invitation_link = links[-1] if links else None
        outcome.completed = True
        return outcome

    async def run(
        self,
        make: Callable[[int, int], Conversation],
        first_index: int,
        count: int,
        concurrency: int,
        *,
        user_base: int,
        rate: float | None = None,
        stagger: float = 0.0,
    ) -> PhaseResult:
        """Play ``count`` conversations with ``concurrency`` users at once (paced at ``rate``
        updates/s when given).

        Paced, the users start one after another, ``stagger`` seconds apart, so that they are
        spread over the conversation as people arriving at random times are, not all pressing
        the same button in the same quarter second (a pool that starts together stays in step:
        each user gets every n-th slot, so all of them reach Simpan within one round of slots);
        the phase's window is the time when all of them are playing."""
        pacer = Pacer(rate) if rate else None
        indices = iter(range(first_index, first_index + count))
        outcomes: list[Outcome] = []
        redelivered = self.redeliveries
        players = max(1, min(concurrency, count))
        starts: list[float] = []
        ran_out: list[float] = []

        async def player(number: int) -> None:
            if pacer is not None and stagger:
                await asyncio.sleep(number * stagger)
            starts.append(time.monotonic())
            for index in indices:
                outcomes.append(await self.play(make(user_base + index, index), pacer))
            ran_out.append(time.monotonic())

        started = time.monotonic()
        await asyncio.gather(*(player(number) for number in range(players)))
        seconds = time.monotonic() - started
        mode = "paced" if rate else "saturated"
        window = None
        if pacer is not None and stagger and max(starts) < min(ran_out):
            window = (max(starts), min(ran_out))
        return PhaseResult(mode, rate, seconds, outcomes, self.redeliveries - redelivered, window)
