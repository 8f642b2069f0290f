"""Named points where a test can make the process die, to prove what a crash leaves behind.

Inert in production: `reached(point)` does nothing unless the environment variable
PEDULI_FAULT_POINT names that very point; then the process ends at once with os._exit (no
cleanup, no rollback, no flush: what SIGKILL or a power cut does). Only tests set the variable
(tests/integration/test_turn_crashes.py). The points:

- "turn.before_commit": inside the turn's transaction, everything written, COMMIT not yet sent;
- "turn.after_commit": the turn committed, its answer not yet sent (nor, with Redis sessions,
  the session written to Redis).
"""

from __future__ import annotations

import os
from typing import Final

FAULT_ENV: Final = "PEDULI_FAULT_POINT"
EXIT_STATUS: Final = 86
POINTS: Final = ("turn.before_commit", "turn.after_commit")


def reached(point: str) -> None:
    assert point in POINTS, point
    if os.environ.get(FAULT_ENV) == point:
        os._exit(EXIT_STATUS)
