"""A small PDF writer for the printable statement: A4 pages of text in the core fonts Helvetica and
Helvetica-Bold, nothing else.

The core fonts are never embedded (every PDF reader has them), so the file needs nothing from the
network and stays small. Text is WinAnsiEncoding (one byte a character); its printable Latin-1
characters keep their codes, anything else (other scripts, control characters) becomes "?". Lines
are wrapped by the fonts' glyph widths (Adobe's AFM metrics, below) and justified as a word
processor does; a line that does not fit on the page begins the next one, under the same margins.

The layout follows what fpdf2 did for the statement before (its multi_cell and cell): a cell's
text is 1 mm inside it, its baseline 0.5 of the line height + 0.3 of the font size below the
line's top; that is why the measurements below are in millimetres, like the caller's.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Literal

MM = 72 / 25.4  # points per millimetre
PAGE_WIDTH_MM, PAGE_HEIGHT_MM = 210.0, 297.0  # A4
CELL_MARGIN_MM = 1.0  # the text inside a cell, from its left and right edges

Align = Literal["L", "C", "J"]

# Glyph widths in 1/1000 of the font size, from Adobe's AFM files of the 14 core fonts, for the
# codes 32-126 and 160-255 (WinAnsiEncoding, the same characters as Latin-1 there).
_HELVETICA = (
    "278 278 355 556 556 889 667 191 333 333 389 584 278 333 278 278 556 556 556 556 556 556 556 "
    "556 556 556 278 278 584 584 584 556 1015 667 667 722 722 667 611 778 722 278 500 667 556 833 "
    "722 778 667 778 722 667 611 722 667 944 667 667 611 278 278 278 469 556 333 556 556 500 556 "
    "556 278 556 556 222 222 500 222 833 556 556 556 556 333 500 278 556 500 722 500 500 500 334 "
    "260 334 584 278 333 556 556 556 556 260 556 333 737 370 556 584 333 737 333 400 584 333 333 "
    "333 556 537 278 333 333 365 556 834 834 834 611 667 667 667 667 667 667 1000 722 667 667 667 "
    "667 278 278 278 278 722 722 778 778 778 778 778 584 778 722 722 722 722 667 667 611 556 556 "
    "556 556 556 556 889 500 556 556 556 556 278 278 278 278 556 556 556 556 556 556 556 584 611 "
    "556 556 556 556 500 556 500"
)
_HELVETICA_BOLD = (
    "278 333 474 556 556 889 722 238 333 333 389 584 278 333 278 278 556 556 556 556 556 556 556 "
    "556 556 556 333 333 584 584 584 611 975 722 722 722 722 667 611 778 722 278 556 722 611 833 "
    "722 778 667 778 722 667 611 722 667 944 667 667 611 333 278 333 584 556 333 556 611 556 611 "
    "556 333 611 611 278 278 556 278 889 611 611 611 611 389 556 333 611 556 778 556 556 500 389 "
    "280 389 584 278 333 556 556 556 556 280 556 333 737 370 556 584 333 737 333 400 584 333 333 "
    "333 611 556 278 333 333 365 556 834 834 834 611 722 722 722 722 722 722 1000 722 667 667 667 "
    "667 278 278 278 278 722 722 778 778 778 778 778 584 778 722 722 722 722 667 667 611 556 556 "
    "556 556 556 556 889 556 556 556 556 556 278 278 278 278 611 611 611 611 611 611 611 584 611 "
    "611 611 611 611 556 611 556"
)
PRINTABLE = "".join(map(chr, [*range(32, 127), *range(160, 256)]))


def _widths(table: str) -> dict[str, int]:
    return dict(zip(PRINTABLE, map(int, table.split()), strict=True))


@dataclass(frozen=True)
class Font:
    resource: str  # its name in the page's resources
    base: str  # the core font
    widths: dict[str, int]

    def width(self, text: str, size: float) -> float:
        """The text's width in points at `size` points (text of printable characters)."""
        return sum(map(self.widths.__getitem__, text)) * size / 1000


HELVETICA = Font("F1", "Helvetica", _widths(_HELVETICA))
HELVETICA_BOLD = Font("F2", "Helvetica-Bold", _widths(_HELVETICA_BOLD))
FONTS = (HELVETICA, HELVETICA_BOLD)

_UNPRINTABLE = {code: "?" for code in [*range(32), *range(127, 160)]}
_ESCAPES = str.maketrans({"\\": "\\\\", "(": "\\(", ")": "\\)"})


def printable(text: str) -> str:
    """The text as the fonts can show it: a character outside Latin-1, or a control character,
    becomes "?" (line breaks are kept)."""
    lines = text.encode("latin-1", "replace").decode("latin-1").split("\n")
    return "\n".join(line.translate(_UNPRINTABLE) for line in lines)


def pdf_string(text: str) -> str:
    """A literal string of PDF syntax: parentheses and backslashes escaped."""
    return "(" + text.translate(_ESCAPES) + ")"


@dataclass(frozen=True)
class Line:
    text: str
    width: float  # points
    spaces: int
    last: bool  # the end of a paragraph (not justified)


def wrap(text: str, font: Font, size: float, max_width: float) -> list[Line]:
    """The text's lines, none wider than `max_width` points: a paragraph (a line of the text) is
    broken at the last space that fits, a word longer than a line at the last character that
    fits. The space where a line is broken is not shown."""
    lines: list[Line] = []
    widths, scale = font.widths, size / 1000
    limit = max_width / scale + 1e-6  # compared in glyph units
    for paragraph in printable(text).split("\n"):
        start, used, spaces = 0, 0.0, 0
        space_at, space_used, space_count = -1, 0.0, 0  # the last space of the line
        index = 0
        while index < len(paragraph):
            char = paragraph[index]
            advance = widths[char]
            if used + advance > limit:
                if char == " ":  # the space itself would overflow: drop it, break there
                    lines.append(Line(paragraph[start:index], used * scale, spaces, False))
                    index += 1
                elif space_at >= 0:  # back to the last space
                    line = paragraph[start:space_at]
                    lines.append(Line(line, space_used * scale, space_count, False))
                    index = space_at + 1
                elif index > start:  # a word longer than the line
                    lines.append(Line(paragraph[start:index], used * scale, spaces, False))
                else:  # not even one character fits: show it anyway
                    lines.append(Line(char, advance * scale, 0, False))
                    index += 1
                start, used, spaces, space_at = index, 0.0, 0, -1
                continue
            if char == " ":
                space_at, space_used, space_count = index, used, spaces
                spaces += 1
            used += advance
            index += 1
        lines.append(Line(paragraph[start:], used * scale, spaces, True))
    return lines


@dataclass
class Document:
    """Text laid out from the top of an A4 page down, the margins (millimetres) on every side;
    a line that would cross the bottom margin goes to the next page."""

    margin: float = 20.0
    title: str = ""
    creator: str = ""
    y: float = field(init=False)  # the top of the next line, millimetres from the page's top
    _pages: list[list[str]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.y = self.margin
        self._pages.append([])

    @property
    def text_width(self) -> float:
        """Millimetres between the margins."""
        return PAGE_WIDTH_MM - 2 * self.margin

    def space(self, height: float) -> None:
        """Move down `height` millimetres (never a page of its own)."""
        self.y += height

    def _room(self, height: float) -> None:
        if self.y + height > PAGE_HEIGHT_MM - self.margin:
            self._pages.append([])
            self.y = self.margin

    def _show(
        self, font: Font, size: float, x: float, y_top: float, height: float, line: Line, tw: float
    ) -> None:
        baseline = PAGE_HEIGHT_MM - y_top - 0.5 * height - 0.3 * size / MM
        shown = f"{pdf_string(line.text)} Tj"
        if tw:
            shown = f"{tw:.3f} Tw {shown} 0 Tw"
        self._pages[-1].append(
            f"BT /{font.resource} {size:.2f} Tf {x * MM:.2f} {baseline * MM:.2f} Td {shown} ET"
        )

    def text(
        self,
        text: str,
        font: Font,
        size: float,
        line_height: float,
        *,
        align: Align = "J",
        indent: float = 0.0,
    ) -> None:
        """A block of text `indent` millimetres from the left margin to the right margin, one
        line every `line_height` millimetres; justified lines fill the width but the last of a
        paragraph."""
        left = self.margin + indent
        width = PAGE_WIDTH_MM - self.margin - left - 2 * CELL_MARGIN_MM
        max_width = width * MM
        for line in wrap(text, font, size, max_width):
            self._room(line_height)
            x, tw = left + CELL_MARGIN_MM, 0.0
            if align == "C":
                x += (width - line.width / MM) / 2
            elif align == "J" and not line.last and line.spaces:
                tw = (max_width - line.width) / line.spaces
            if line.text:  # an empty line only takes its height
                self._show(font, size, x, self.y, line_height, line, tw)
            self.y += line_height

    def row(
        self,
        label: str,
        value: str,
        size: float,
        line_height: float,
        label_width: float,
        *,
        label_font: Font = HELVETICA_BOLD,
        value_font: Font = HELVETICA,
    ) -> None:
        """A table row: the label on one line in its column, the value wrapped beside it."""
        self._room(line_height)
        shown = Line(printable(label).replace("\n", " "), 0.0, 0, True)
        self._show(label_font, size, self.margin + CELL_MARGIN_MM, self.y, line_height, shown, 0)
        self.text(value, value_font, size, line_height, indent=label_width)

    def output(self) -> bytes:
        """The PDF file: catalog, pages, fonts, info, one compressed content stream a page,
        and the cross-reference table of the objects' byte offsets."""
        objects: list[bytes] = []

        def add(body: str | bytes) -> int:
            objects.append(body.encode("latin-1") if isinstance(body, str) else body)
            return len(objects)  # its object number

        fonts = " ".join(f"/{f.resource} {n + 3} 0 R" for n, f in enumerate(FONTS))
        pages_number = 2
        first_page = 3 + len(FONTS) + 1  # after the catalog, pages, fonts and info
        kids = " ".join(f"{first_page + 2 * n} 0 R" for n in range(len(self._pages)))
        add(f"<< /Type /Catalog /Pages {pages_number} 0 R >>")
        add(
            f"<< /Type /Pages /Kids [{kids}] /Count {len(self._pages)} "
            f"/MediaBox [0 0 {PAGE_WIDTH_MM * MM:.2f} {PAGE_HEIGHT_MM * MM:.2f}] >>"
        )
        for font in FONTS:
            add(
                f"<< /Type /Font /Subtype /Type1 /BaseFont /{font.base} "
                "/Encoding /WinAnsiEncoding >>"
            )
        info = add(
            f"<< /Title {pdf_string(printable(self.title))} "
            f"/Creator {pdf_string(printable(self.creator))} >>"
        )
        for content in self._pages:
            stream = zlib.compress("\n".join(content).encode("latin-1"))
            add(
                f"<< /Type /Page /Parent {pages_number} 0 R /Resources << /Font << {fonts} >> "
                f"/ProcSet [/PDF /Text] >> /Contents {len(objects) + 2} 0 R >>"
            )
            add(
                f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode()
                + stream
                + b"\nendstream"
            )
        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(objects, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n%b\nendobj\n" % (number, body)
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (len(objects) + 1, info)
        out += b"startxref\n%d\n%%%%EOF\n" % xref
        return bytes(out)
