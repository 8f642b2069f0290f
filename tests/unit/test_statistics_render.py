"""The chart is a real PNG; drawing libraries stay out of the bot's start and the CLI's import;
percentages are written the way each language writes them."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

from bot.statistics_render.chart import bar_chart_png
from bot.statistics_render.figures import percent

PROJECT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """The PNG's chunks (type, data), each CRC checked."""
    found, offset = [], len(PNG_SIGNATURE)
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        data = png[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + data) == crc, f"bad CRC in {kind!r}"
        found.append((kind, data))
        offset += 12 + length
    return found


def test_the_chart_is_a_valid_png_that_grows_with_the_agencies() -> None:
    series = {"aktif": [3, 0, 1], "menunggu pekerja": [1, 2, 0]}
    png = bar_chart_png(["Dinas Kesehatan", "Dinas Pendidikan", "BPBD"], series, "Pendaftaran")
    assert png.startswith(PNG_SIGNATURE)
    parts = chunks(png)
    assert parts[0][0] == b"IHDR" and parts[-1][0] == b"IEND"
    width, height = struct.unpack(">II", parts[0][1][:8])
    assert width == 900 and height >= 250
    many = bar_chart_png([f"Instansi {n}" for n in range(40)], {"aktif": [1] * 40}, "x")
    assert struct.unpack(">II", chunks(many)[0][1][:8])[1] > height


def test_matplotlib_is_not_loaded_by_the_cli_or_the_bot_start() -> None:
    """A fresh interpreter imports the command line, the composition root and the service
    (what `peduli run` loads before any update): no matplotlib, no XlsxWriter."""
    code = (
        "import sys, bot.cli, bot.cli.stats, bot.app, bot.service, bot.statistics_render.chat;"
        "print(sorted(m for m in ('matplotlib', 'xlsxwriter') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
    drawn = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bot.statistics_render.chart import bar_chart_png;"
            "bar_chart_png(['a'], {'b': [1]}, 'c');"
            "import matplotlib; print(matplotlib.get_backend())",
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert drawn.stdout.strip().lower() == "agg"  # and drawing does load it, headless


def test_percentages_per_language() -> None:
    assert percent(0.2234, "id") == "22,3 %"
    assert percent(0.2234, "en") == "22.3 %"
    assert percent(None, "id") == "—"
