"""The invitation's QR code (bot.exports.qr): drawn with one fixed data mask and our own PNG
writer, it still decodes to the very link, read by a real decoder (zxing-cpp) as a phone does,
also from a smaller, blurred picture of it."""

from __future__ import annotations

import io
import random
import string
from typing import Any

import pytest
import segno
import segno.encoder
import zxingcpp
from PIL import Image, ImageFilter

from bot.exports import qr
from bot.service import qr_png


def links(count: int) -> list[str]:
    """Invitation links as the bot makes them: its username, "w_" and token_urlsafe(24)."""
    rng = random.Random(13)
    alphabet = string.ascii_letters + string.digits + "-_"
    return [
        f"https://t.me/PeduliPekerja{n}Bot?start=w_" + "".join(rng.choices(alphabet, k=32))
        for n in range(count)
    ]


def decoded(image: Image.Image) -> list[tuple[str, str]]:
    return [(found.text, found.ec_level) for found in zxingcpp.read_barcodes(image)]


@pytest.mark.parametrize("link", links(40))
def test_the_qr_code_decodes_to_the_link(link: str) -> None:
    image = Image.open(io.BytesIO(qr.qr_png(link)))
    assert image.format == "PNG" and image.mode == "1" and image.size == (450, 450)
    assert decoded(image) == [(link, "M")]
    # a phone photographing another phone's screen: a third of the pixels, blurred
    small = image.convert("L").resize((150, 150), Image.Resampling.BILINEAR)
    assert decoded(small.filter(ImageFilter.GaussianBlur(1))) == [(link, "M")]


def test_our_png_has_the_pixels_segno_draws_for_the_same_code() -> None:
    for link in links(10):
        code = segno.make(link, error="m", mask=qr.QR_MASK, micro=False)
        buffer = io.BytesIO()
        code.save(buffer, kind="png", scale=10, border=4)
        theirs = Image.open(io.BytesIO(buffer.getvalue()))
        ours = Image.open(io.BytesIO(qr.qr_png(link)))
        assert ours.size == theirs.size and ours.mode == theirs.mode
        assert ours.tobytes() == theirs.tobytes()
        assert qr.qr_matrix(link) == tuple(code.matrix)


def test_no_mask_is_evaluated_the_code_has_the_fixed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """segno tries the 8 masks (3.5 ms) unless told which: we tell it."""
    evaluated: list[int] = []
    evaluate = segno.encoder.evaluate_mask

    def counting(*args: Any) -> int:
        evaluated.append(1)
        return int(evaluate(*args))

    monkeypatch.setattr(segno.encoder, "evaluate_mask", counting)
    segno.make("https://t.me/x?start=w_probe", error="m")
    assert len(evaluated) == 8  # the probe counts: segno's default evaluates every mask
    evaluated.clear()
    link = links(1)[0]
    assert qr_png.__wrapped__(link) == qr.qr_png(link)  # type: ignore[attr-defined]
    assert evaluated == []
    assert segno.make(link, error="m", mask=qr.QR_MASK).mask == qr.QR_MASK == 3


def test_a_module_row_is_packed_into_whole_bytes_of_the_right_pixels() -> None:
    """An odd size: 3 modules + 1 of border at 3 pixels = 15 pixels a row, one bit of padding."""
    image = Image.open(io.BytesIO(qr.png([[1, 0, 1], [0, 0, 0], [1, 1, 1]], scale=3, border=1)))
    assert image.size == (15, 15)
    pixels = image.load()
    assert pixels is not None
    rows = ["".join("#" if pixels[x, y] == 0 else "." for x in range(15)) for y in range(15)]
    assert rows[0:3] == ["." * 15] * 3
    assert rows[3:6] == ["...###...###..."] * 3
    assert rows[6:9] == ["." * 15] * 3
    assert rows[9:12] == ["...#########..."] * 3
    assert rows[12:15] == ["." * 15] * 3
