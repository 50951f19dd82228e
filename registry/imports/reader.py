"""Read an uploaded inventory (CSV, XLSX, XLS) into clean text cells, or say clearly why not.

Real inventories are messy: UTF-8 with or without a byte-order mark or Windows-1252, commas,
semicolons or tabs, quoted cells with line breaks, blank or repeated header names, empty rows,
stray whitespace and newlines in headers and values.  pandas reads the file (every cell as text:
nothing is guessed as a number or a date here; the mapping converts per field); this module
guards the limits first (file size, rows, cell length, and the uncompressed size of an XLSX, a
zip that could otherwise expand to gigabytes) and normalises what pandas returns.

Every failure is an ``ImportFileError`` with a message for the person who uploaded the file.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a file is read: a web process does not load pandas until an import runs
    import pandas as pd

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
MAX_CELL = 32_767  # Excel's own cell limit
MAX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_COLUMNS = 500
EXTENSIONS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls"}


class ImportFileError(ValueError):
    """The file cannot be read at all (the message says why, for the person who uploaded it)."""


@dataclass
class Table:
    """The file as text: ``rows[i]`` is the cells of file row ``numbers[i]`` (the row number a
    spreadsheet shows: the header is row 1), by header."""

    file_name: str
    headers: list[str]
    rows: list[dict[str, str]]
    numbers: list[int]
    notes: list[str] = field(default_factory=list)  # what was adjusted (renamed headers, skipped empty rows)


def kind_of(file_name: str) -> str:
    suffix = ("." + file_name.rsplit(".", 1)[-1].lower()) if "." in file_name else ""
    kind = EXTENSIONS.get(suffix)
    if kind is None:
        raise ImportFileError(f"{file_name}: upload a CSV or Excel file (.csv, .xlsx or .xls).")
    return kind


def read_table(data: bytes, file_name: str, sheet: str | None = None) -> Table:
    """The file as a table; ``sheet``: an Excel sheet's name (default: the first sheet)."""
    kind = kind_of(file_name)
    if len(data) > MAX_BYTES:
        raise ImportFileError(f"{file_name} is {len(data) / 1024 / 1024:.1f} MB; the limit is "
                              f"{MAX_BYTES // 1024 // 1024} MB. Split the file.")
    if not data.strip():
        raise ImportFileError(f"{file_name} is empty.")
    notes: list[str] = []
    frame = _read_csv(data, file_name) if kind == "csv" else _read_excel(data, file_name, kind, sheet, notes)
    table = _clean(frame, file_name)
    table.notes[:0] = notes
    return table


def _sheet_note(names: list[str], chosen: str) -> str | None:
    others = [n for n in names if n != chosen]
    if not others:
        return None
    return f"Read the sheet “{chosen}”; the workbook also has {', '.join(f'“{n}”' for n in others[:10])}."


def _no_sheet(file_name: str, sheet: str, names: list[str]) -> ImportFileError:
    return ImportFileError(f"{file_name} has no sheet “{sheet}”; its sheets: {', '.join(names)}.")


def _decode(data: bytes, file_name: str) -> str:
    try:
        if data.startswith(b"\xef\xbb\xbf"):
            return data[3:].decode("utf-8", errors="strict")
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
    except UnicodeDecodeError as err:
        raise ImportFileError(f"{file_name}: the file says it is Unicode but byte {err.start} is not "
                              "(a damaged file?). Save it again as UTF-8 CSV.") from err
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as err:
        raise ImportFileError(f"{file_name}: the text encoding is neither UTF-8 nor Windows-1252 "
                              f"(byte {err.start}). Save it as UTF-8 CSV.") from err


def _delimiter(text: str) -> str:
    sample = text[:65536]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        first = sample.split("\n", 1)[0]
        return max(",;\t|", key=first.count) if any(d in first for d in ",;\t|") else ","


def _read_csv(data: bytes, file_name: str) -> pd.DataFrame:
    import pandas as pd
    text = _decode(data, file_name)
    if "\x00" in text:
        raise ImportFileError(f"{file_name} is not a text file (it contains NUL bytes).")
    sep = _delimiter(text)
    try:  # ragged rows (more cells than headers) are common: read as wide as the widest row
        width = max((len(r) for r in csv.reader(io.StringIO(text), delimiter=sep)), default=0)
        if width > MAX_COLUMNS:
            raise ImportFileError(f"{file_name} has {width} columns; the limit is {MAX_COLUMNS}.")
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, header=None,
                           names=range(max(width, 1)), skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as err:
        raise ImportFileError(f"{file_name}: not a readable CSV file ({_first_line(err)}).") from err


def _read_excel(data: bytes, file_name: str, kind: str, sheet: str | None, notes: list[str]) -> pd.DataFrame:
    if kind == "xlsx":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                expanded = sum(info.file_size for info in archive.infolist())
        except zipfile.BadZipFile as err:
            raise ImportFileError(f"{file_name} is not an Excel workbook (.xlsx files are zip archives).") from err
        if expanded > MAX_UNCOMPRESSED:
            raise ImportFileError(f"{file_name} expands to {expanded // 1024 // 1024} MB when opened; the limit is "
                                  f"{MAX_UNCOMPRESSED // 1024 // 1024} MB.")
        return _stream_xlsx(data, file_name, sheet, notes)
    if not data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(f"{file_name} is not an Excel 97-2003 workbook (.xls).")
    import pandas as pd
    try:  # the .xls format itself bounds a sheet at 65,536 x 256 cells
        book = pd.ExcelFile(io.BytesIO(data), engine="calamine")
        names = [str(n) for n in book.sheet_names]
        if sheet is not None and sheet not in names:
            raise _no_sheet(file_name, sheet, names)
        chosen = sheet if sheet is not None else names[0]
        frame = book.parse(chosen, dtype=str, keep_default_na=False, header=None)
    except ImportFileError:
        raise
    except Exception as err:  # noqa: BLE001 - the Excel readers raise many types for a damaged file
        raise ImportFileError(f"{file_name}: the workbook cannot be read ({_first_line(err)}).") from err
    note = _sheet_note(names, chosen)
    if note:
        notes.append(note)
    return frame


def _stream_xlsx(data: bytes, file_name: str, sheet_name: str | None, notes: list[str]) -> pd.DataFrame:
    """A sheet (the first unless named), streamed row by row within the limits: a tiny file can declare
    a cell at XFD1048576, and a reader that builds the whole grid would try to allocate hundreds of GB."""
    import openpyxl
    import pandas as pd
    from openpyxl.utils.cell import range_boundaries
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as err:  # noqa: BLE001 - openpyxl raises many types for a damaged file
        raise ImportFileError(f"{file_name}: the workbook cannot be read ({_first_line(err)}).") from err
    try:
        names = list(book.sheetnames)
        if sheet_name is not None and sheet_name not in names:
            raise _no_sheet(file_name, sheet_name, names)
        sheet = book[sheet_name] if sheet_name is not None else book.worksheets[0]
        note = _sheet_note(names, sheet.title)
        if note:
            notes.append(note)
        try:
            _min_col, _min_row, max_col, max_row = range_boundaries(sheet.calculate_dimension())
        except (ValueError, TypeError):  # no <dimension>: the stream below keeps to the limits
            max_col = max_row = None
        if (max_col or 0) > MAX_COLUMNS or (max_row or 0) > 4 * MAX_ROWS:
            raise ImportFileError(f"{file_name}: its first sheet spans {max_row:,} rows and {max_col:,} columns; the "
                                  f"limits are {MAX_ROWS:,} rows and {MAX_COLUMNS} columns.")
        rows, filled = [], 0
        for row in sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS + 1):
            if len(row) > MAX_COLUMNS and row[MAX_COLUMNS] not in (None, ""):
                raise ImportFileError(f"{file_name} has more than {MAX_COLUMNS} columns.")
            cells = ["" if v is None else (v.isoformat() if hasattr(v, "isoformat") else str(v)) for v in row]
            while cells and cells[-1] == "":
                cells.pop()
            if any(cells):
                filled += 1
                if filled > MAX_ROWS + 1:
                    raise ImportFileError(f"{file_name} has more than {MAX_ROWS:,} rows; split the file.")
            rows.append(cells)
            if len(rows) > 4 * MAX_ROWS:  # blank rows without end
                break
    except ImportFileError:
        raise
    except Exception as err:  # noqa: BLE001 - a damaged sheet fails while streaming
        raise ImportFileError(f"{file_name}: the workbook cannot be read ({_first_line(err)}).") from err
    finally:
        book.close()
    width = max((len(r) for r in rows), default=0)
    return pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=str)


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


SPACE = re.compile(r"\s+")


def clean_header(value: str) -> str:
    return SPACE.sub(" ", value.replace("\ufeff", "")).strip()


CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|_x00[01][0-9A-Fa-f]_")  # C0 controls, Excel's escapes


def clean_cell(value) -> str:
    text = value if value.__class__ is str else ("" if value is None else str(value))
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\u00a0" in text:
        text = text.replace("\u00a0", " ")
    if CONTROL.search(text):
        text = CONTROL.sub("", text)
    return text.strip()


HEADER_SEARCH = 10  # rows looked at for the header


def _header_row(values) -> int | None:
    """The header: the first non-empty row that fills at least half as many cells as the fullest of
    the first rows (a title line or two above a table fills one cell)."""
    filled = []
    for i, row in enumerate(values):
        n = sum(1 for v in row if clean_cell(v))
        if n:
            filled.append((i, n))
            if len(filled) >= HEADER_SEARCH:
                break
    if not filled:
        return None
    widest = max(n for _i, n in filled)
    return next(i for i, n in filled if n >= max(2, widest / 2) or n == widest)


def _clean(frame: pd.DataFrame, file_name: str) -> Table:
    if frame.empty:
        raise ImportFileError(f"{file_name} has no rows.")
    if frame.shape[1] > MAX_COLUMNS:
        raise ImportFileError(f"{file_name} has {frame.shape[1]} columns; the limit is {MAX_COLUMNS}.")
    values = frame.to_numpy(dtype=object)
    notes: list[str] = []
    header_at = _header_row(values)
    if header_at is None:
        raise ImportFileError(f"{file_name} has no header row.")
    above = sum(1 for row in values[:header_at] if any(clean_cell(v) for v in row))
    if above:
        lines = "the line above it (a title?) was" if above == 1 else f"the {above} lines above it (a title?) were"
        notes.append(f"Read row {header_at + 1} as the header; {lines} skipped.")
    headers, seen = [], {}
    for index, raw in enumerate(values[header_at]):
        name = clean_header(clean_cell(raw)) or f"Column {index + 1}"
        if not clean_cell(raw):
            notes.append(f"Column {index + 1} has no header; called it “{name}”.")
        if name.lower() in seen:
            count = seen[name.lower()]
            renamed = f"{name} ({count + 1})"
            while renamed.lower() in seen:
                count += 1
                renamed = f"{name} ({count + 1})"
            seen[name.lower()] = count + 1
            notes.append(f"Header “{name}” appears more than once; the repeat is called “{renamed}”.")
            name = renamed
        seen[name.lower()] = seen.get(name.lower(), 1)
        headers.append(name)
    rows, numbers, empty = [], [], 0
    for offset, raw in enumerate(values[header_at + 1:], start=header_at + 2):
        cells = [clean_cell(v) for v in raw]
        if not any(cells):
            empty += 1
            continue
        long = next((i for i, c in enumerate(cells) if len(c) > MAX_CELL), None)
        if long is not None:
            raise ImportFileError(f"{file_name}, row {offset}, column “{headers[long]}”: a cell of "
                                  f"{len(cells[long]):,} characters; the limit is {MAX_CELL:,}.")
        rows.append(dict(zip(headers, cells, strict=False)))
        numbers.append(offset)
    if len(rows) > MAX_ROWS:
        raise ImportFileError(f"{file_name} has more than {MAX_ROWS:,} rows; split the file.")
    if not rows:
        raise ImportFileError(f"{file_name} has a header but no rows.")
    if empty:
        notes.append(f"Skipped {empty} empty row{'s' if empty != 1 else ''}.")
    return Table(file_name, headers, rows, numbers, notes)
