"""The two-process benchmark's check (bench/integrity.py) fed with faked chat logs: a clean
conversation passes, and a lost update, an update handled twice (a press answered twice, a
reply sent twice, a reply sent again in the next turn) and a reply out of its turn are each
found. The runner's multi-process plumbing (alternating POSTs) is checked on its own."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from bench.fake_api import Event, FakeBotApi
from bench.integrity import Findings, check_conversation, windows
from bench.load import LoadGenerator, PhaseResult, Step, Turn, echo_conversation

STEPS = (
    Step("start", "text", "/start", expect="Pilih bahasa"),
    Step("language", "press", "🇮🇩 Bahasa Indonesia", expect="Ketik NIP"),
    Step("nip", "text", "198503152010011001", expect="NIP ini menunjukkan"),
    Step("nip_confirm", "press", "✅ Ya, benar", expect="Ketik nama lengkap"),
)


def event(text: str, method: str = "sendMessage", message_id: int = 1) -> Event:
    return Event(method, 0.0, message_id, text)


def clean_log() -> tuple[list[Turn], list[Event]]:
    """Four updates, each answered in its turn (a press also retires its buttons)."""
    events = [
        event("Halo! Pilih bahasa:"),
        event("Halo! Pilih bahasa:", "editMessageReplyMarkup"),
        event("Ketik NIP Anda"),
        event("NIP ini menunjukkan: lahir 15 Maret 1985"),
        event("NIP ini menunjukkan", "editMessageReplyMarkup"),
        event("Ketik nama lengkap Anda"),
    ]
    turns = [
        Turn("start", 0.01, update_id=1, mark=0),
        Turn("language", 0.01, update_id=2, mark=1),
        Turn("nip", 0.01, update_id=3, mark=3),
        Turn("nip_confirm", 0.01, update_id=4, mark=4),
    ]
    return turns, events


def check(
    turns: list[Turn],
    events: list[Event],
    answers: dict[str, int] | None = None,
    *,
    completed: bool = True,
) -> Findings:
    answers = {"2": 1, "4": 1} if answers is None else answers
    return check_conversation(7, STEPS, turns, events, answers, completed=completed)


def test_a_clean_conversation_passes() -> None:
    turns, events = clean_log()
    found = check(turns, events)
    assert found.clean, found.summary()
    assert found.summary() == {
        "conversations": 1,
        "updates": 4,
        "lost": 0,
        "duplicated": 0,
        "out_of_order": 0,
        "clean": True,
        "examples": [],
    }
    assert [len(w) for w in windows(events, turns)] == [1, 2, 1, 2]


def test_an_update_without_a_reply_is_lost() -> None:
    turns, events = clean_log()
    # The nip update got nothing: its turn's window is empty (the next turn starts where it
    # started).
    turns[2] = Turn("nip", 0.01, update_id=3, mark=4)
    found = check(turns, events)
    assert any("update 3 (nip): no reply" in line for line in found.lost)


def test_a_conversation_that_stopped_is_lost() -> None:
    turns, events = clean_log()
    found = check(turns[:3], events[:4], completed=False)
    assert found.lost == ["user 7: stopped after 3 of 4 updates"]


def test_a_press_answered_twice_is_handled_twice() -> None:
    turns, events = clean_log()
    found = check(turns, events, {"2": 1, "4": 2})
    assert found.duplicated == ["user 7 update 4 (nip_confirm): its button press answered 2 times"]
    assert not found.lost and not found.out_of_order


def test_a_reply_sent_twice_in_its_turn_is_handled_twice() -> None:
    turns, events = clean_log()
    events.insert(3, event("Ketik NIP Anda"))  # the language press's reply, twice
    turns[2:] = [Turn("nip", 0.01, update_id=3, mark=4), Turn("nip_confirm", 0.0, 4, mark=5)]
    found = check(turns, events)
    assert len(found.duplicated) == 1 and "update 2 (language)" in found.duplicated[0]


def test_a_reply_sent_again_in_the_next_turn_is_handled_twice() -> None:
    turns, events = clean_log()
    # The other process handled the language press again after the NIP was posted.
    events.insert(4, event("Ketik NIP Anda"))
    turns[3] = Turn("nip_confirm", 0.01, update_id=4, mark=5)
    found = check(turns, events)
    assert len(found.duplicated) == 1 and "update 3 (nip)" in found.duplicated[0]


def test_a_reply_outside_its_turn_is_out_of_order() -> None:
    turns, events = clean_log()
    # The NIP's reply arrived only after the next update was posted (a stale conversation
    # answered the NIP update with the language question again).
    events[3] = event("Ketik NIP Anda", message_id=3)
    found = check(turns, events)
    assert any("update 3 (nip)" in line for line in found.out_of_order)
    assert any("update 3 (nip)" in line for line in found.duplicated)


def test_findings_add_up_over_conversations() -> None:
    total = Findings()
    turns, events = clean_log()
    total.merge(check(turns, events))
    total.merge(check(turns, events, {"2": 3, "4": 1}))
    summary = total.summary()
    assert (summary["conversations"], summary["updates"], summary["duplicated"]) == (2, 8, 1)
    assert summary["clean"] is False


def test_the_generator_alternates_its_posts_over_the_processes() -> None:
    seen: list[str] = []

    async def play() -> None:
        from aiohttp import web

        async def webhook(request: web.Request) -> web.Response:
            seen.append(request.match_info["n"])
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/{n}", webhook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        api = FakeBotApi()
        urls = [f"http://127.0.0.1:{port}/a", f"http://127.0.0.1:{port}/b"]
        async with LoadGenerator(api, urls, "s") as generator:
            log = api.chat(1)
            for update_id in range(4):
                update: dict[str, Any] = {"update_id": update_id}
                await generator._post(update, log)
        await runner.cleanup()

    asyncio.run(play())
    assert seen == ["a", "b", "a", "b"]


def test_paced_users_start_apart_and_only_the_window_when_all_play_is_measured() -> None:
    """A pool that starts together stays in step (each user takes every n-th slot), so all of
    them reach the same step within one round of slots: the paced phase starts its users
    `stagger` apart and measures the turns posted while all of them play."""
    players, stagger = 3, 0.02  # a conversation alone takes 22 slots: 220 ms at 100/s

    async def play() -> PhaseResult:
        from aiohttp import web

        api = FakeBotApi()

        async def echo(request: web.Request) -> web.Response:
            message = (await request.json())["message"]
            api.result("sendMessage", {"chat_id": message["chat"]["id"], "text": message["text"]})
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/hook", echo)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
        try:
            async with LoadGenerator(api, url, "s") as generator:
                return await generator.run(
                    echo_conversation,
                    0,
                    2 * players + 1,
                    players,
                    user_base=500,
                    rate=100.0,
                    stagger=stagger,
                )
        finally:
            await runner.cleanup()

    phase = asyncio.run(play())
    assert phase.completed == 2 * players + 1
    first_posts = sorted(o.turns[0].started for o in phase.outcomes)[:players]
    gaps = [later - earlier for earlier, later in itertools.pairwise(first_posts)]
    assert min(gaps) >= stagger * 0.9, gaps  # one after another, not together
    assert phase.window is not None
    start, end = phase.window
    assert first_posts[0] + (players - 1) * stagger * 0.9 <= start <= first_posts[-1] < end
    measured = phase.measured_turns()
    every = [t for o in phase.outcomes for t in o.turns]
    assert 0 < len(measured) < len(every)
    assert all(start <= t.started < end for t in measured)
    assert sorted(phase.latencies()) == sorted(t.latency for t in measured)
