"""XLSX and CSV writers for exported tables, safe against formula injection.

The rule, in one place (``neutralise``): a *text* cell whose first character is ``=``,
``+``, ``-``, ``@``, a tab or a carriage return could be read by a spreadsheet as a
formula (or a DDE call).  Such text is neutralised; numbers, dates and times are written as
typed values and never touched, so a count of -5 stays the number -5 while a name "-5"
stays text.  Text is never converted to a number.

- CSV: the text gets a leading single quote (``'=1+1``), the convention Excel and
  LibreOffice show as text.  Files are UTF-8 with a byte-order mark (so Excel reads any
  Unicode correctly), CRLF line ends and RFC 4180 quoting (a field is quoted when it holds a
  comma, a double quote or a line break; quotes are doubled).
- XLSX: every text cell is stored as a string (never as a formula), and text that starts
  with a dangerous character also gets the cell style's ``quotePrefix``, Excel's own "this
  is text" flag, so the stored value is the original text.  Line breaks are stored as LF
  (Excel's own line break; XML would read a bare CR back as LF anyway) and the control
  characters XML 1.0 cannot carry (other than tab and line breaks) become U+FFFD; everything
  else (CJK, right-to-left scripts, emoji, combining marks) is written as is.

Workbooks are written with openpyxl's write-only mode, row by row, so memory does not grow
with the number of rows; a sheet that would pass Excel's row limit continues on a second
sheet ("Controls (2)").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import BinaryIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

DANGEROUS_FIRST = ("=", "+", "-", "@", "\t", "\r")
EXCEL_MAX_ROWS = 1_048_576
CSV_BOM = "\ufeff"



@dataclass(frozen=True)
class Column:
    header: str
    width: int = 18


@dataclass
class Sheet:
    """One table: a title (the XLSX sheet name), its columns, and its rows as an iterator."""

    title: str
    columns: list[Column]
    rows: Iterable[tuple]


def is_dangerous(text: str) -> bool:
    return text.startswith(DANGEROUS_FIRST)


def neutralise(value):
    """The CSV form of one cell: dangerous text gets a leading ``'``; other values unchanged."""
    if isinstance(value, str) and is_dangerous(value):
        return "'" + value
    return value


def csv_text(value) -> str:
    """A typed value as CSV text: ISO dates, ``YYYY-MM-DD HH:MM:SS`` times, Yes/No, numbers as written."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float):
        return str(value)
    return neutralise(str(value))


def write_csv(sheet: Sheet, out: BinaryIO) -> int:
    """Write one sheet as CSV to a binary file; return the number of data rows."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        text.write(CSV_BOM)
        writer = csv.writer(text, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow([neutralise(c.header) for c in sheet.columns])
        n = 0
        batch = []
        for row in sheet.rows:
            batch.append([csv_text(v) for v in row])
            n += 1
            if len(batch) == 1000:
                writer.writerows(batch)
                batch.clear()
        writer.writerows(batch)
        text.flush()
    finally:
        text.detach()  # leave the caller's file open
    return n


def _xml_text(text: str) -> str:
    """Text as an XLSX cell can hold it: line breaks as LF (Excel's own; XML reads a bare CR as
    LF anyway) and U+FFFD for the control characters XML 1.0 cannot carry."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)


def _xlsx_value(value):
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, str):
        return _xml_text(value)
    return value


def _xlsx_cell(ws, value):
    """A plain value where openpyxl stores it faithfully; an explicit string cell where it would not.

    openpyxl turns text starting with ``=`` into a formula and ``#N/A``-like text into an
    error value; such text, and any dangerous text, becomes a string cell (dangerous text
    with quotePrefix).  Danger is judged on the original text, before line breaks are normalised.
    """
    if not isinstance(value, str):
        return _xlsx_value(value)
    text = _xml_text(value)
    dangerous = is_dangerous(value)
    if dangerous or text.startswith("=") or text in ERROR_CODES:
        cell = WriteOnlyCell(ws, value=text)
        cell.data_type = "s"
        if dangerous:
            cell.quotePrefix = True
        return cell
    return text


def write_xlsx(sheets: list[Sheet], out: BinaryIO) -> dict[str, int]:
    """Write the sheets as one workbook to a binary file; return data rows per sheet title."""
    wb = Workbook(write_only=True)
    counts: dict[str, int] = {}
    bold = Font(bold=True)
    for sheet in sheets:
        part, n, ws = 1, 0, None
        per_sheet = EXCEL_MAX_ROWS - 1
        for row in sheet.rows:
            if ws is None or n and n % per_sheet == 0:
                title = sheet.title if part == 1 else f"{sheet.title} ({part})"
                ws = _new_sheet(wb, title, sheet.columns, bold)
                part += 1
            ws.append([_xlsx_cell(ws, v) for v in row])
            n += 1
        if ws is None:
            _new_sheet(wb, sheet.title, sheet.columns, bold)
        counts[sheet.title] = n
    wb.save(out)
    return counts


def _new_sheet(wb, title: str, columns: list[Column], bold: Font):
    ws = wb.create_sheet(title[:31])
    for i, column in enumerate(columns):
        ws.column_dimensions[_letter(i)].width = column.width
    ws.freeze_panes = "A2"
    header = []
    for column in columns:
        cell = WriteOnlyCell(ws, value=_xlsx_value(column.header))
        cell.data_type = "s"
        cell.font = bold
        header.append(cell)
    ws.append(header)
    return ws


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)
