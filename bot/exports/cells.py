"""Cell values that a spreadsheet cannot run.

A cell beginning with = + - @ (or a tab or a carriage return, which some programs skip before
reading a formula) is taken as a formula by Excel and LibreOffice when a CSV file is opened, and
by anyone who re-saves an XLSX as CSV: a worker's name such as =HYPERLINK(...) would become a link,
or a command (CSV injection, OWASP). OWASP's remedy: begin such a cell with a single quote, which
the spreadsheet shows as text. Every writer passes every text cell through `neutralize`.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: str) -> str:
    """The value, with a leading single quote when it would begin a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value
