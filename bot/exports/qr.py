"""The invitation's QR code as a PNG image: segno encodes it, we write the pixels.

Two costs of segno's defaults are avoided, without changing what a phone scans:

- The data mask. The standard has the encoder try all 8 masks and keep the one with the lowest
  penalty (patterns that look like finder patterns, large blocks of one colour): 3.5 of segno's
  4.5 ms. Any mask decodes (the format information tells the reader which one); on our links
  (t.me deep links with a 32-character token, version 5-M) the masks' penalties differ by a few
  per cent, and mask 3 has the lowest on average (1,000 random links: 1,658 against 1,583 for the
  best mask of each link and up to 1,764 for the worst fixed one), so it is always used.
- The PNG writer. segno's is generic (colours, palettes, any bit depth), packs every pixel row
  in Python and deflates at level 9: 3.3 ms for 450 x 450 pixels. A QR code is black and white,
  and its rows repeat `scale` times: each module row is packed once, with bytes arithmetic, and
  deflated at level 6 (0.2 ms instead of 1 ms, a dozen bytes more). Same pixels, 1-bit
  greyscale like segno's: 0.4 ms.

Drawn so, an invitation's QR code takes 1.4 ms of CPU instead of 7.5 ms (min of 15 runs).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

QR_MASK = 3
"""The data mask of every invitation QR code (see above); tests/unit/test_qr.py decodes codes
drawn with it."""
QR_ERROR = "m"  # error correction M: 15 % of the code may be damaged or hidden
QR_SCALE = 10  # pixels a module: large enough to scan from another phone's screen
QR_BORDER = 4  # modules of quiet zone, as the standard asks


def qr_matrix(link: str) -> tuple[bytearray, ...]:
    """The QR code's modules, row by row (1 dark, 0 light), without the quiet zone."""
    import segno  # here, not at start-up: only an invitation needs it

    code = segno.make(link, error=QR_ERROR, mask=QR_MASK, micro=False)
    return tuple(code.matrix)


def png(matrix: Sequence[Sequence[int]], scale: int = QR_SCALE, border: int = QR_BORDER) -> bytes:
    """A 1-bit greyscale PNG of the modules (dark black, light white), `scale` pixels a module
    and `border` modules of white around them."""
    side = (len(matrix) + 2 * border) * scale
    padding = -side % 8  # a scanline is whole bytes
    dark, light = b"0" * scale, b"1" * scale  # greyscale bits: 0 black, 1 white
    quiet = light * border
    rows = []
    white = b"\0" + b"\xff" * ((side + padding) // 8)  # filter type 0, then the pixels
    rows.extend([white] * (border * scale))
    for modules in matrix:
        bits = quiet + b"".join(dark if module else light for module in modules) + quiet
        line = b"\0" + int(bits + b"1" * padding, 2).to_bytes((side + padding) // 8, "big")
        rows.extend([line] * scale)
    rows.extend([white] * (border * scale))
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(b"".join(rows), 6)),
            _chunk(b"IEND", b""),
        )
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def qr_png(link: str) -> bytes:
    """The link's QR code as a PNG image, 10 pixels a module with a quiet zone of 4."""
    return png(qr_matrix(link))
