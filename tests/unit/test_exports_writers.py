"""The export writers: formula injection, Unicode, CSV that Excel reads, the sheet row limit.

Decided and documented in ``registry.exports.writers``: numbers, dates and times stay typed
values; text whose first character is = + - @ tab or CR is neutralised (a leading ' in CSV;
a string cell with Excel's quotePrefix in XLSX, the text itself unchanged).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import openpyxl
import pandas as pd
import pytest

from registry.exports import writers
from registry.exports.writers import Column, Sheet, neutralise, write_csv, write_xlsx

COLUMNS = [Column("Text"), Column("Number")]

DANGEROUS = [
    "=1+1",
    "=HYPERLINK(\"http://evil.example\",\"click\")",
    "=cmd|' /C calc'!A0",
    "+44 20 7946 0000",
    "-5",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    "=",
    "-",
]
HARMLESS = ["a=b", "5", "1-2", " =1+1 is spaced", "#N/A", "'already quoted", "mail@example.test", "TRUE"]
UNICODE = [
    "人工智能系统 (CJK)",
    "نظام الذكاء الاصطناعي",  # Arabic, right to left
    "מערכת בינה מלאכותית",  # Hebrew
    "\u202eevil.exe\u202c",  # bidi override characters stay as they are
    "robot 🤖, 👩🏽‍💻 (ZWJ sequence), 🇪🇺",
    "Zoe\u0301 and e\u0300\u0323 (combining marks, not normalised)",
    "comma, \"quote\" and\nnewline\r\nCRLF",
    "Ｆｕｌｌｗｉｄｔｈ and ﬁ ligature",
]


def _xlsx(rows, columns=COLUMNS, title="Sheet") -> openpyxl.Workbook:
    out = io.BytesIO()
    write_xlsx([Sheet(title, columns, iter(rows))], out)
    out.seek(0)
    return openpyxl.load_workbook(out)


def _csv_bytes(rows, columns=COLUMNS) -> bytes:
    out = io.BytesIO()
    write_csv(Sheet("Sheet", columns, iter(rows)), out)
    return out.getvalue()


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("value", DANGEROUS)
def test_dangerous_text_is_neutralised_in_csv(value):
    assert neutralise(value) == "'" + value
    rows = _csv_rows(_csv_bytes([(value, 1)]))
    assert rows[1] == ["'" + value, "1"]


@pytest.mark.parametrize("value", DANGEROUS)
def test_dangerous_text_is_a_quote_prefixed_string_in_xlsx(value):
    cell = _xlsx([(value, 1)])["Sheet"]["A2"]
    assert cell.value == value  # stored unchanged ...
    assert cell.data_type == "s"  # ... as text, never a formula ...
    assert cell.quotePrefix is True  # ... and flagged as text for Excel when edited


def test_every_listed_leading_character_is_dangerous():
    for first in ("=", "+", "-", "@", "\t", "\r"):
        assert neutralise(first + "x") == "'" + first + "x"
    for first in ("a", "1", " ", "'", "#", "\n", "!"):
        assert neutralise(first + "x") == first + "x"


@pytest.mark.parametrize("value", HARMLESS)
def test_harmless_text_is_left_alone(value):
    assert _csv_rows(_csv_bytes([(value, 1)]))[1][0] == value
    cell = _xlsx([(value, 1)])["Sheet"]["A2"]
    assert (cell.value, cell.data_type, cell.quotePrefix) == (value, "s", False)


def test_numbers_stay_numbers_and_text_stays_text():
    rows = [("-5", -5), ("+5", 5), ("-1.5", -1.5), ("0", 0)]
    wb = _xlsx(rows)
    for i, (text, number) in enumerate(rows, start=2):
        assert wb["Sheet"].cell(i, 1).value == text and wb["Sheet"].cell(i, 1).data_type == "s"
        assert wb["Sheet"].cell(i, 2).value == number and wb["Sheet"].cell(i, 2).data_type == "n"
    parsed = _csv_rows(_csv_bytes(rows))[1:]
    assert parsed == [["'-5", "-5"], ["'+5", "5"], ["'-1.5", "-1.5"], ["0", "0"]]


def test_dates_times_booleans_and_blanks():
    row = ("x", date(2026, 3, 1), datetime(2026, 3, 1, 9, 30, 5), True, False, None)
    columns = [Column(h) for h in ("T", "D", "DT", "B1", "B2", "N")]
    sheet = _xlsx([row], columns)["Sheet"]
    assert sheet["B2"].is_date and sheet["B2"].value == datetime(2026, 3, 1)
    assert sheet["C2"].value == datetime(2026, 3, 1, 9, 30, 5)
    assert (sheet["D2"].value, sheet["E2"].value, sheet["F2"].value) == ("Yes", "No", None)
    assert _csv_rows(_csv_bytes([row], columns))[1] == ["x", "2026-03-01", "2026-03-01 09:30:05", "Yes", "No", ""]


def test_unicode_round_trips_through_xlsx_with_openpyxl_and_pandas():
    rows = [(value, i) for i, value in enumerate(UNICODE)]
    sheet = _xlsx(rows, title="Systèmes 日本")["Systèmes 日本"]
    assert [sheet.cell(i + 2, 1).value for i in range(len(UNICODE))] == UNICODE
    out = io.BytesIO()
    write_xlsx([Sheet("S", COLUMNS, iter(rows))], out)
    out.seek(0)
    frame = pd.read_excel(out, sheet_name="S", dtype={"Text": str}, engine="openpyxl")
    assert frame["Text"].tolist() == UNICODE
    assert frame["Number"].tolist() == list(range(len(UNICODE)))


def test_unicode_round_trips_through_csv_with_pandas():
    rows = [(value, i) for i, value in enumerate(UNICODE)]
    data = _csv_bytes(rows)
    frame = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert frame.columns.tolist() == ["Text", "Number"]
    assert frame["Text"].tolist() == UNICODE


def test_csv_is_what_excel_expects_bom_crlf_rfc4180_quoting():
    data = _csv_bytes([("plain", 1), ('say "hi", then\nleave', 2)], [Column("Name, full"), Column("N")])
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig") == (
        '"Name, full",N\r\n'
        "plain,1\r\n"
        '"say ""hi"", then\nleave",2\r\n'
    )
    assert data.count(b"\r\n") == 3 and data.replace(b"\r\n", b"").count(b"\n") == 1  # only inside the quoted field


def test_control_characters_xml_cannot_hold_become_replacement_characters_in_xlsx():
    value = "bell\x07 nul\x00 tab\t ok"
    cell = _xlsx([(value, 1)])["Sheet"]["A2"]
    assert cell.value == "bell\ufffd nul\ufffd tab\t ok"
    assert _csv_rows(_csv_bytes([(value, 1)]))[1][0] == value


def test_header_and_empty_sheet():
    wb = _xlsx([])
    assert [c.value for c in wb["Sheet"][1]] == ["Text", "Number"]
    assert wb["Sheet"].max_row == 1
    assert _csv_rows(_csv_bytes([])) == [["Text", "Number"]]


def test_a_sheet_past_the_row_limit_continues_on_a_second_sheet(monkeypatch):
    monkeypatch.setattr(writers, "EXCEL_MAX_ROWS", 4)  # a header and three rows per sheet
    out = io.BytesIO()
    counts = write_xlsx([Sheet("Controls", COLUMNS, iter([(f"r{i}", i) for i in range(7)]))], out)
    out.seek(0)
    wb = openpyxl.load_workbook(out)
    assert counts == {"Controls": 7}
    assert wb.sheetnames == ["Controls", "Controls (2)", "Controls (3)"]
    values = [row[0] for name in wb.sheetnames for row in wb[name].iter_rows(min_row=2, values_only=True)]
    assert values == [f"r{i}" for i in range(7)]
    assert all(wb[name]["A1"].value == "Text" for name in wb.sheetnames)


def test_the_workbook_is_a_well_formed_package_with_typed_cells():
    import zipfile
    from xml.etree import ElementTree

    out = io.BytesIO()
    rows = [("=1+1", -5, date(2026, 3, 1), "<b>&amp;</b>", "line\r\nbreak")]
    columns = [Column(h) for h in ("F", "N", "D", "X", "L")]
    write_xlsx([Sheet("One", columns, iter(rows)), Sheet("Two", COLUMNS, iter([]))], out)
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        assert {"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
                "xl/styles.xml", "xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"} <= names
        for name in names:
            ElementTree.fromstring(zf.read(name))  # every part is well-formed XML
        types = zf.read("[Content_Types].xml").decode()
        assert types.count("spreadsheetml.worksheet+xml") == 2
        sheet = zf.read("xl/worksheets/sheet1.xml").decode()
    assert '<c r="A2" s="4" t="inlineStr"><is><t xml:space="preserve">=1+1</t></is></c>' in sheet
    assert '<c r="B2"><v>-5</v></c>' in sheet and '<c r="C2" s="2"><v>46082</v></c>' in sheet
    assert "&lt;b&gt;&amp;amp;&lt;/b&gt;" in sheet and "line&#13;\nbreak" in sheet
    assert "<f>" not in sheet  # no formula anywhere
    out.seek(0)
    cells = openpyxl.load_workbook(out)["One"][2]
    assert [c.value for c in cells] == ["=1+1", -5, datetime(2026, 3, 1), "<b>&amp;</b>", "line\r\nbreak"]


def test_text_that_looks_like_an_excel_escape_is_escaped_for_excel():
    import zipfile

    out = io.BytesIO()
    write_xlsx([Sheet("S", COLUMNS, iter([("code _x0041_ and _x00e9_ and _xyz_", 1)]))], out)
    with zipfile.ZipFile(out) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml").decode()
    # Excel decodes _x005F_ to "_", so it shows the original text; other text is untouched
    assert "code _x005F_x0041_ and _x005F_x00e9_ and _xyz_" in sheet


def test_text_longer_than_an_excel_cell_is_cut_with_a_note_in_xlsx_only():
    long = "x" * 40_000
    cell = _xlsx([(long, 1)])["Sheet"]["A2"]
    assert len(cell.value) == writers.EXCEL_MAX_CHARS and cell.value.endswith(writers.TRUNCATED)
    assert _csv_rows(_csv_bytes([(long, 1)]))[1][0] == long
