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
- XLSX: every text cell is an inline string (never a formula, never a number), and text
  that starts with a dangerous character also gets a cell style with ``quotePrefix``, Excel's
  own "this is text" flag, so the stored value is the original text, unchanged.  The control
  characters XML 1.0 cannot carry (other than tab, LF and CR) become U+FFFD; everything else
  (CJK, right-to-left scripts, emoji, combining marks, CR) is written as is.  Text that
  looks like Excel's own escape ``_x0041_`` gets its underscore escaped (``_x005F_x0041_``)
  so that Excel shows it literally (openpyxl does not decode these escapes, Excel does).
  Text longer than Excel's 32,767 characters per cell is cut there, with a note saying so.

Workbooks are streamed as SpreadsheetML into the ZIP row by row (``write_xlsx``), so memory
does not grow with the number of rows; a sheet that would pass Excel's row limit continues
on another sheet ("Controls (2)").  openpyxl's write-only mode did the same job about ten
times slower (its pure-Python XML serialiser costs ~15 µs a cell: 90 s for the 7 million
cells of 10,000 systems' controls); openpyxl and pandas read the files back in the tests.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import BinaryIO
from xml.sax.saxutils import escape, quoteattr

DANGEROUS_FIRST = ("=", "+", "-", "@", "\t", "\r")
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_CHARS = 32_767  # characters in one cell
TRUNCATED = " … [cut at Excel's 32,767 characters; the CSV export and the registry hold all of it]"
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
            if len(batch) == 200:
                writer.writerows(batch)
                batch.clear()
        writer.writerows(batch)
        text.flush()
    finally:
        text.detach()  # leave the caller's file open
    return n


# The XML 1.0 characters a cell cannot hold (tab, LF and CR are fine).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NEEDS_WORK = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XSTRING = re.compile(r"_(x[0-9A-Fa-f]{4}_)")
_EPOCH = datetime(1899, 12, 30)
_DAY_SECONDS = 86400.0

# Cell styles (cellXfs) in styles.xml: 0 default, 1 bold header, 2 date, 3 date and time, 4 quote-prefixed text.
HEADER, DATE_STYLE, DATETIME_STYLE, QUOTED = 1, 2, 3, 4

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/docProps/app.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
    "{sheets}</Types>"
)
_SHEET_TYPE = ('<Override PartName="/xl/worksheets/sheet{n}.xml" '
               'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>')
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/>'
    '<Relationship Id="rId2" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" '
    'Target="docProps/app.xml"/>'
    "</Relationships>"
)
_APP = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
        "<Application>Readiness Registry</Application></Properties>")
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<bookViews><workbookView/></bookViews><sheets>{sheets}</sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>'
)
_REL = '<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/{kind}" Target="{target}"/>'
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy\\-mm\\-dd\\ hh:mm:ss"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'
    '</cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>'
)
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheetViews><sheetView workbookViewId="0">'
    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
    '</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>'
)
_SHEET_TAIL = "</sheetData></worksheet>"


def xml_text(text: str) -> str:
    """Text as an XLSX cell can hold it: U+FFFD for the characters XML 1.0 cannot carry."""
    return _NOT_XML.sub("\ufffd", text)


def _column_letters(n: int) -> list[str]:
    letters = []
    for i in range(1, n + 1):
        name = ""
        while i:
            i, rest = divmod(i - 1, 26)
            name = chr(65 + rest) + name
        letters.append(name)
    return letters


def _text_tail(text: str, style: int = 0) -> str:
    """Everything of a text cell after ``<c r="A1"``: an inline string, quote-prefixed when dangerous."""
    dangerous = text.startswith(DANGEROUS_FIRST)
    if len(text) > EXCEL_MAX_CHARS:  # Excel refuses longer cells ("repairs" the file)
        text = text[:EXCEL_MAX_CHARS - len(TRUNCATED)] + TRUNCATED
    if _NEEDS_WORK.search(text):  # most text needs neither escaping nor replacing
        text = escape(_NOT_XML.sub("\ufffd", text), {"\r": "&#13;"})
    if "_x" in text:  # Excel reads _xHHHH_ as an escaped character (ST_Xstring): escape its "_"
        text = _XSTRING.sub(r"_x005F_\1", text)
    s = f' s="{style or QUOTED}"' if style or dangerous else ""
    return f'{s} t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _typed_tail(value) -> str:
    """The same for a value that is not text: numbers as numbers, dates as date serials."""
    if isinstance(value, bool):
        return _text_tail("Yes" if value else "No")
    if isinstance(value, int) or isinstance(value, float) and math.isfinite(value):
        return f"><v>{value!r}</v></c>"
    if isinstance(value, datetime):
        serial = (value.replace(tzinfo=None) - _EPOCH).total_seconds() / _DAY_SECONDS
        return f' s="{DATETIME_STYLE}"><v>{serial!r}</v></c>'
    if isinstance(value, date):
        return f' s="{DATE_STYLE}"><v>{(value - _EPOCH.date()).days}</v></c>'
    return _text_tail(str(value))


class _SheetPart:
    """One worksheet XML part, streamed into the open ZIP.

    Text repeats a lot (a system's name on each of its controls, catalogue titles, labels),
    so short rendered text cells are memoised, bounded (≤ 20,000 × 300 characters): this is
    what keeps 7 million cells fast."""

    MEMO_LIMIT = 20_000  # entries
    MEMO_TEXT = 300  # characters: long text (blocker lists, rationales) rarely repeats

    def __init__(self, zf: zipfile.ZipFile, number: int, columns: list[Column]):
        # No ZIP64: Excel's reader is strict about it, and a sheet's XML (at most 1,048,576 rows)
        # stays far below the 2 GiB at which zipfile would need it.
        self.stream = zf.open(f"xl/worksheets/sheet{number}.xml", "w")
        self.refs = ['<c r="' + letter for letter in _column_letters(len(columns))]
        cols = "".join(f'<col min="{i}" max="{i}" width="{c.width}" customWidth="1"/>'
                       for i, c in enumerate(columns, start=1))
        header = "".join(ref + "1" + '"' + _text_tail(c.header, HEADER) for ref, c in zip(self.refs, columns,
                                                                                          strict=True))
        self.buffer = [_SHEET_HEAD.format(cols=cols), f'<row r="1">{header}</row>']
        self.row, self.buffered = 1, 0
        self.memo: dict[str, str] = {}

    def append(self, values: tuple) -> None:
        if len(values) != len(self.refs):
            raise ValueError(f"a row of {len(values)} values for {len(self.refs)} columns")
        self.row += 1
        r = str(self.row) + '"'
        memo = self.memo
        parts = ['<row r="', r, ">"]
        for ref, value in zip(self.refs, values):  # noqa: B905 - checked above, hot loop
            if value is None:
                continue
            cls = value.__class__
            if cls is int:
                tail = f"><v>{value}</v></c>"
            elif cls is str:
                tail = memo.get(value)
                if tail is None:
                    tail = _text_tail(value)
                    if len(value) <= self.MEMO_TEXT:
                        if len(memo) >= self.MEMO_LIMIT:
                            memo.clear()
                        memo[value] = tail
            else:
                tail = _typed_tail(value)
            parts += (ref, r, tail)
        parts.append("</row>")
        row = "".join(parts)
        self.buffer.append(row)
        self.buffered += len(row)
        if self.buffered >= 1_000_000:  # characters: about 1 MB per write into the ZIP
            self.flush()

    def flush(self) -> None:
        self.stream.write("".join(self.buffer).encode("utf-8"))
        self.buffer.clear()
        self.buffered = 0

    def close(self) -> None:
        self.buffer.append(_SHEET_TAIL)
        self.flush()
        self.stream.close()


def write_xlsx(sheets: list[Sheet], out: BinaryIO) -> dict[str, int]:
    """Write the sheets as one workbook to a binary file; return data rows per sheet title."""
    counts: dict[str, int] = {}
    titles: list[str] = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        per_sheet = EXCEL_MAX_ROWS - 1
        for sheet in sheets:
            n, part = 0, None
            for row in sheet.rows:
                if part is None or n % per_sheet == 0 and n:
                    if part is not None:
                        part.close()
                    titles.append(sheet.title if part is None else f"{sheet.title} ({n // per_sheet + 1})")
                    part = _SheetPart(zf, len(titles), sheet.columns)
                part.append(row)
                n += 1
            if part is None:
                titles.append(sheet.title)
                part = _SheetPart(zf, len(titles), sheet.columns)
            part.close()
            counts[sheet.title] = n
        names = "".join(f"<sheet name={quoteattr(xml_text(t[:31]))} sheetId=\"{i}\" r:id=\"rId{i}\"/>"
                        for i, t in enumerate(titles, start=1))
        rels = "".join(_REL.format(n=i, kind="worksheet", target=f"worksheets/sheet{i}.xml")
                       for i in range(1, len(titles) + 1))
        rels += _REL.format(n=len(titles) + 1, kind="styles", target="styles.xml")
        zf.writestr("xl/workbook.xml", _WORKBOOK.format(sheets=names))
        zf.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS.format(rels=rels))
        zf.writestr("xl/styles.xml", _STYLES)
        zf.writestr("docProps/app.xml", _APP)
        zf.writestr("_rels/.rels", _ROOT_RELS)
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES.format(
            sheets="".join(_SHEET_TYPE.format(n=i) for i in range(1, len(titles) + 1))))
    return counts
