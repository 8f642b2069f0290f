"""Package-level promises of emulator."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from emulator import BotApiEmulator


def test_emulator_does_not_import_aiogram() -> None:
    """The emulator must stay transport-neutral (and cheap to import: aiogram costs ~7 s)."""
    code = "import sys, emulator; sys.exit('aiogram' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_readme_lists_exactly_the_methods_the_emulator_implements() -> None:
    """emulator/README.md's method table is the emulator's handler table, no more, no less."""
    readme = Path(__file__).resolve().parents[2] / "emulator" / "README.md"
    table = readme.read_text(encoding="utf-8").split("## Bot API methods it implements")[1]
    table = table.split("\n## ")[0]
    listed = {
        name
        for line in table.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`(\w+)`", line.split("|")[1])
    }
    assert listed == set(BotApiEmulator()._handlers)
