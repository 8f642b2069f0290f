"""Run a module under cProfile in every thread: ``python -m bench.profiled OUT MODULE ARGS...``.

``python -m cProfile`` sees the main thread only, and the bot does its SQL in worker threads
(asyncio.to_thread): their time would be missing. Here each thread gets a profiler of its own
and all are merged into one pstats file ``OUT`` when the module exits (SIGINT included); the
main thread's (the event loop's) alone goes to ``OUT.loop``. SIGUSR1 clears what was profiled so
far (the generator sends it after the warm-up): start-up, imports and migrations are left out;
under cProfile they look far larger than they are.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import runpy
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()
_original_run = threading.Thread.run
#: BENCH_PROFILE_CLOCK=cpu: each thread's own CPU time (time.thread_time), not wall time, so a
#: thread waiting for the GIL, a socket or the database counts nothing; the default is wall time.
CLOCK_VARIABLE = "BENCH_PROFILE_CLOCK"


def _clock() -> Callable[[], float] | None:
    return time.thread_time if os.environ.get(CLOCK_VARIABLE) == "cpu" else None


def _profiler() -> cProfile.Profile:
    clock = _clock()
    return cProfile.Profile() if clock is None else cProfile.Profile(clock)


def _profiled_run(self: threading.Thread) -> None:
    profile = _profiler()
    with _lock:
        _profiles.append(profile)
    profile.enable()
    try:
        _original_run(self)
    finally:
        profile.disable()


def main(argv: list[str]) -> None:
    out, module, *args = argv
    threading.Thread.run = _profiled_run  # type: ignore[method-assign]
    sys.argv = [module, *args]
    main_profile = _profiler()

    def clear(signum: int, frame: Any) -> None:
        # From the main thread, holding the GIL: a worker thread's profiler is not running.
        main_profile.clear()
        with _lock:
            for profile in _profiles:
                profile.clear()

    signal.signal(signal.SIGUSR1, clear)
    main_profile.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        main_profile.disable()
        # The event loop's thread alone too: its time is CPU, not waits on a database.
        main_profile.dump_stats(f"{out}.loop")
        stats: Any = pstats.Stats(main_profile)
        with _lock:
            for profile in _profiles:
                stats.add(profile)
        stats.dump_stats(out)


if __name__ == "__main__":
    main(sys.argv[1:])
