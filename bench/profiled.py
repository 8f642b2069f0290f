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
import pstats
import runpy
import signal
import sys
import threading
from typing import Any

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()
_original_run = threading.Thread.run


def _profiled_run(self: threading.Thread) -> None:
    profile = cProfile.Profile()
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
    main_profile = cProfile.Profile()

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
