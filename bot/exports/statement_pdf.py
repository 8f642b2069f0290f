"""The printable copy of a salary-deduction statement (PDF) that the ASN hands to the treasurer.

Written in the core Helvetica by our own small writer (bot.exports.pdf): a core font is neither
fetched nor embedded, so the PDF needs nothing from the network and stays small, and drawing one
takes about 1 ms (fpdf2 took 25 ms and pulled fontTools, Pillow and numpy into the process, 57 MB
of memory). Its character set is Latin-1, so typographic
quotes and dashes become their ASCII forms and anything else outside Latin-1 becomes "?". The
statement is the very text the ASN agreed to (names, masked NIK and NIP, amount, month), followed
by the facts that tie it to the consent record: reference, version, time, and the sha256 of the
text as shown (the consent record's text_hash), so a treasurer can check a printout against
the deduction workbook.
"""

from __future__ import annotations

import html
import re

from bot.exports.pdf import HELVETICA, HELVETICA_BOLD, Document

_TAGS = re.compile(r"</?(b|i|u|s|code|pre)>")
_ASCII = str.maketrans(
    {"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "…": "...", "•": "-"}
)
PAGE_MARGIN = 20  # millimetres, A4


def plain(statement_html: str) -> str:
    """The statement's Telegram HTML as plain text."""
    return html.unescape(_TAGS.sub("", statement_html))


def latin1(text: str) -> str:
    return text.translate(_ASCII).encode("latin-1", "replace").decode("latin-1")


def statement_pdf(statement_html: str, facts: list[tuple[str, str]], signatures: str) -> bytes:
    """A4 PDF: the statement (its first line as the title), a table of facts (label, value),
    and a line for the signatures of the ASN and the treasurer."""
    text = plain(statement_html).strip()
    title, _, body = text.partition("\n")
    pdf = Document(margin=PAGE_MARGIN, title=latin1(title), creator="peduli-pekerja")
    pdf.text(latin1(title), HELVETICA_BOLD, 13, 7, align="C")
    pdf.space(4)
    pdf.text(latin1(body.strip()), HELVETICA, 11, 6)
    pdf.space(6)
    for label, value in facts:
        pdf.row(latin1(label), latin1(value), 9, 5, label_width=45)
    pdf.space(18)
    pdf.text(latin1(signatures), HELVETICA, 11, 6)
    return pdf.output()
