"""The printable copy of a salary-deduction statement (PDF) that the ASN hands to the treasurer.

Written with fpdf2's core Helvetica: a core font is neither fetched nor embedded, so the PDF
needs nothing from the network and stays small; its character set is Latin-1, so typographic
quotes and dashes become their ASCII forms and anything else outside Latin-1 becomes "?". The
statement is the very text the ASN agreed to (names, masked NIK and NIP, amount, month), followed
by the facts that tie it to the consent record: reference, version, time, and the sha256 of the
text as shown (the consent record's text_hash), so a treasurer can check a printout against
the deduction workbook.
"""

from __future__ import annotations

import html
import re

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
    from fpdf import FPDF  # here, not at start-up: only a consent needs it

    text = plain(statement_html).strip()
    title, _, body = text.partition("\n")
    pdf = FPDF(format="A4")
    pdf.set_margins(PAGE_MARGIN, PAGE_MARGIN)
    pdf.set_auto_page_break(auto=True, margin=PAGE_MARGIN)
    pdf.set_creator("peduli-pekerja")
    pdf.set_title(latin1(title))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 13)
    pdf.multi_cell(0, 7, latin1(title), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 6, latin1(body.strip()), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "", 9)
    for label, value in facts:
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(45, 5, latin1(label))
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 5, latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(18)
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 6, latin1(signatures), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
