"""Package-level promises of emulator."""

from __future__ import annotations

import subprocess
import sys


def test_emulator_does_not_import_aiogram() -> None:
    """The emulator must stay transport-neutral (and cheap to import: aiogram costs ~7 s)."""
    code = "import sys, emulator; sys.exit('aiogram' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
