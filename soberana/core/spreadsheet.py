"""Cells of CSV exports that a spreadsheet opens safely.

A text cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is read by
spreadsheet programs as a formula: a name chosen by anyone (an API key's, an organisation's) could run
``=HYPERLINK(…)`` or worse on the computer of whoever opens the export. Such cells get a leading
apostrophe, which shows the text as it is (OWASP's advice for CSV injection). Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """``value`` as a CSV cell: text that a spreadsheet would run as a formula is quoted with ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A CSV document whose every cell is :func:`safe_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return buffer.getvalue()
