"""Our small PDF writer (bot.exports.pdf) and the statement drawn with it: lines wrapped by the core
fonts' real glyph widths, page breaks under the margins, a cross-reference table a reader can
trust, strings escaped, and text outside Latin-1 shown as "?"."""

from __future__ import annotations

import re
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.exports.pdf import (
    HELVETICA,
    HELVETICA_BOLD,
    MM,
    PAGE_HEIGHT_MM,
    Document,
    pdf_string,
    printable,
    wrap,
)
from bot.exports.statement_pdf import statement_pdf

FACTS = [
    ("Kode referensi", "PR-56UM28"),
    ("Versi pernyataan", "2026-12-1"),
    ("Disetujui", "lewat Telegram, 21 November 2026 pukul 10:00 WIB"),
    ("Sidik teks (sha256)", "957bd94bd1f3067f466668cee84fd907b2156e260b12a46527ca6356367ed059"),
]
SIGNATURES = "ASN yang membuat pernyataan,      Mengetahui, bendahara,\n\n\n(....)   (....)"
TEXT_WIDTH = (210 - 2 * 20 - 2) * MM  # A4 less the margins and the cells' inner margins, points


class Parsed:
    """A PDF read the way a reader does: the trailer's startxref, the xref table, each object
    at its offset, each stream by its /Length."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        start = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data).group(1))  # type: ignore[union-attr]
        assert data[start:].startswith(b"xref\n0 ")
        header, _, rest = data[start + 5 :].partition(b"\n")
        count = int(header.split()[1])
        entries = [rest[20 * n : 20 * (n + 1)] for n in range(count)]
        assert entries[0] == b"0000000000 65535 f \n"
        assert all(len(e) == 20 and e.endswith(b" 00000 n \n") for e in entries[1:])
        self.offsets = {n: int(entries[n][:10]) for n in range(1, count)}
        self.trailer = rest[20 * count :]

    def object(self, number: int) -> bytes:
        at = self.offsets[number]
        head = b"%d 0 obj\n" % number
        assert self.data[at : at + len(head)] == head, f"object {number} is not at its offset"
        return self.data[at + len(head) : self.data.index(b"\nendobj\n", at)]

    def stream(self, number: int) -> str:
        body = self.object(number)
        length = int(re.search(rb"/Length (\d+)", body).group(1))  # type: ignore[union-attr]
        assert b"/Filter /FlateDecode" in body
        raw = body[body.index(b"stream\n") + 7 :]
        assert raw[length:] == b"\nendstream"
        return zlib.decompress(raw[:length]).decode("latin-1")

    def pages(self) -> list[str]:
        """Each page's content stream, in order."""
        catalog = self.object(int(re.search(rb"/Root (\d+) 0 R", self.trailer).group(1)))  # type: ignore[union-attr]
        pages = self.object(int(re.search(rb"/Pages (\d+) 0 R", catalog).group(1)))  # type: ignore[union-attr]
        kids = [int(k) for k in re.findall(rb"(\d+) 0 R", pages.split(b"/Kids")[1])]
        assert int(re.search(rb"/Count (\d+)", pages).group(1)) == len(kids)  # type: ignore[union-attr]
        contents = []
        for kid in kids:
            page = self.object(kid)
            assert b"/Type /Page " in page
            contents.append(self.stream(int(re.search(rb"/Contents (\d+) 0 R", page).group(1))))  # type: ignore[union-attr]
        return contents

    def info(self) -> bytes:
        return self.object(int(re.search(rb"/Info (\d+) 0 R", self.trailer).group(1)))  # type: ignore[union-attr]


SHOWN = re.compile(r"([\d.]+) (-?[\d.]+) Td (?:(-?[\d.]+) Tw )?\(((?:\\.|[^\\)])*)\) Tj")


def shown(content: str) -> list[tuple[float, float, float, str]]:
    """(x, baseline, word spacing, text) of each line a page shows."""
    return [
        (float(x), float(y), float(tw or 0), re.sub(r"\\(.)", r"\1", text))
        for x, y, tw, text in SHOWN.findall(content)
    ]


def test_the_glyph_widths_are_adobes() -> None:
    """A few of the AFM widths, both fonts (the table is in 1/1000 of the font size)."""
    assert HELVETICA.widths[" "] == 278 and HELVETICA.widths["W"] == 944
    assert HELVETICA.widths["i"] == 222 and HELVETICA.widths["é"] == 556
    assert HELVETICA_BOLD.widths["i"] == 278 and HELVETICA_BOLD.widths["W"] == 944
    assert HELVETICA_BOLD.widths["ß"] == 611 and HELVETICA.widths["ÿ"] == 500
    assert len(HELVETICA.widths) == len(HELVETICA_BOLD.widths) == 95 + 96  # 32-126, 160-255


def test_lines_are_wrapped_by_the_glyphs_widths_not_by_counting_characters() -> None:
    narrow = wrap("i " * 200, HELVETICA, 11, TEXT_WIDTH)
    wide = wrap("W " * 200, HELVETICA, 11, TEXT_WIDTH)
    # n letters and n - 1 spaces: (222 n + 278 (n - 1)) / 1000 * 11 <= 476.22 points for "i",
    # (944 n + 278 (n - 1)) / 1000 * 11 for "W"
    assert len(narrow[0].text.split()) == 87 and len(wide[0].text.split()) == 35
    assert narrow[0].width <= TEXT_WIDTH and wide[0].width <= TEXT_WIDTH
    # a word longer than a line is cut where the next letter would not fit: 222 n / 1000 * 11
    first, second = wrap("i" * 300, HELVETICA, 11, TEXT_WIDTH)
    assert len(first.text) == 195 and len(second.text) == 105


words = st.text(
    alphabet=st.characters(codec="latin-1", exclude_characters=" \n"), min_size=1, max_size=90
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(words, st.sampled_from([" ", " ", " ", "\n", "  "])), max_size=60),
    st.sampled_from([HELVETICA, HELVETICA_BOLD]),
    st.sampled_from([9, 11, 13]),
)
def test_a_line_never_exceeds_the_text_width_and_no_word_is_lost(
    pieces: list[tuple[str, str]], font: object, size: int
) -> None:
    assert font is HELVETICA or font is HELVETICA_BOLD
    text = "".join(word + gap for word, gap in pieces)
    lines = wrap(text, font, size, TEXT_WIDTH)
    for line in lines:
        assert font.width(line.text, size) <= TEXT_WIDTH + 1e-9
        assert abs(font.width(line.text, size) - line.width) < 1e-6
        assert line.spaces == line.text.count(" ")
    assert "".join(line.text for line in lines).replace(" ", "") == printable(text).replace(
        " ", ""
    ).replace("\n", "")
    assert sum(line.last for line in lines) == text.count("\n") + 1  # one end per paragraph


def test_a_justified_line_fills_the_width_and_a_paragraphs_last_line_does_not() -> None:
    document = Document()
    document.text("kata " * 60 + "akhir", HELVETICA, 11, 6)
    (page,) = Parsed(document.output()).pages()
    (x, _, tw, first), *_, (_, _, last_tw, last) = shown(page)
    assert x == round(21 * MM, 2)  # 1 mm inside the margin
    assert abs(HELVETICA.width(first, 11) + tw * first.count(" ") - TEXT_WIDTH) < 0.01
    assert last.endswith("akhir") and last_tw == 0


def test_the_title_is_centered() -> None:
    document = Document()
    document.text("JUDUL", HELVETICA_BOLD, 13, 7, align="C")
    (page,) = Parsed(document.output()).pages()
    ((x, _, _, text),) = shown(page)
    middle = x + HELVETICA_BOLD.width("JUDUL", 13) / 2
    assert text == "JUDUL" and abs(middle - 105 * MM) < 0.01


def test_a_long_statement_breaks_onto_new_pages_within_the_margins() -> None:
    body = "\n".join(f"Paragraf {n}: " + "kalimat yang panjang sekali " * 12 for n in range(40))
    data = statement_pdf("<b>SURAT PERNYATAAN</b>\n\n" + body, FACTS, SIGNATURES)
    pages = Parsed(data).pages()
    assert len(pages) >= 4
    seen: list[str] = []
    for content in pages:
        lines = shown(content)
        assert lines
        for _, baseline, _, text in lines:
            assert 20 * MM < baseline < (PAGE_HEIGHT_MM - 20) * MM  # inside the top and bottom
            seen.append(text)
        # the first line of every page begins at the top margin: 20 mm + half a line + 0.3 em
        top = max(baseline for _, baseline, _, _ in lines)
        assert top > (PAGE_HEIGHT_MM - 20 - 5) * MM
    assert seen[0] == "SURAT PERNYATAAN"
    assert sum(text.startswith("Paragraf ") for text in seen) == 40  # none lost at a break
    assert "957bd94bd1f3067f466668cee84fd907b2156e260b12a46527ca6356367ed059" in seen
    assert seen[-1] == "(....)   (....)"


def test_the_xref_table_points_at_every_object_and_the_fonts_are_not_embedded() -> None:
    data = statement_pdf("<b>JUDUL</b>\nIsi.", FACTS, SIGNATURES)
    assert data.startswith(b"%PDF-1.4\n")
    parsed = Parsed(data)
    assert len(parsed.offsets) == 7  # catalog, pages, two fonts, info, a page and its content
    for number in parsed.offsets:
        parsed.object(number)  # asserts "N 0 obj" at the recorded offset
    fonts = [parsed.object(n) for n in parsed.offsets if b"/Type /Font" in parsed.object(n)]
    assert {re.search(rb"/BaseFont /([\w-]+)", f).group(1) for f in fonts} == {  # type: ignore[union-attr]
        b"Helvetica",
        b"Helvetica-Bold",
    }
    assert all(b"/Encoding /WinAnsiEncoding" in f for f in fonts)
    assert b"/FontFile" not in data and b"/FontDescriptor" not in data
    assert parsed.info() == b"<< /Title (JUDUL) /Creator (peduli-pekerja) >>"


def test_text_outside_latin1_becomes_a_question_mark() -> None:
    data = statement_pdf("<b>Pernyataan “resmi” — 王</b>\nNama: Ñoño Ğül 😀", FACTS, SIGNATURES)
    texts = [text for page in Parsed(data).pages() for _, _, _, text in shown(page)]
    assert texts[0] == 'Pernyataan "resmi" - ?'  # typographic quotes and dashes in ASCII
    assert texts[1] == "Nama: Ñoño ?ül ?"
    assert Parsed(data).info() == b'<< /Title (Pernyataan "resmi" - ?) /Creator (peduli-pekerja) >>'
    assert printable("a\tb\x85c\nd 王") == "a?b?c\nd ?"  # control characters too; the line kept


def test_parentheses_and_backslashes_are_escaped_in_pdf_strings() -> None:
    assert pdf_string(r"(a) \ b") == r"(\(a\) \\ b)"
    data = statement_pdf(r"<b>A (b) \c</b>" + "\n" + r"x) \( y", [("(k)", r"v\)")], "")
    parsed = Parsed(data)
    (page,) = parsed.pages()
    assert r"(A \(b\) \\c) Tj" in page and r"(x\) \\\( y) Tj" in page
    assert [text for _, _, _, text in shown(page)] == [r"A (b) \c", r"x) \( y", "(k)", r"v\)"]
    assert parsed.info().startswith(rb"<< /Title (A \(b\) \\c)")
