"""Importing real inventories: reading messy files, mapping, planning, committing, re-importing."""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import yaml
from openpyxl import Workbook
from sqlalchemy import func, select

from registry.audit.checkpoints import newest_checkpoint
from registry.audit.models import AuditEvent
from registry.cli import main
from registry.controls.applicability import required_controls
from registry.decisions.services import assess_system, record_decision
from registry.enums import Autonomy, Kind, Sourcing, Stage, Tier, Verdict
from registry.errors import ValidationFailed
from registry.imports import reader
from registry.imports.mapping import convert_row, parse_date, recognise, split_list, suggest
from registry.imports.reader import ImportFileError, read_table
from registry.imports.services import (
    ImportRefused,
    UnknownLayout,
    commit_import,
    plan_import,
    resolve_mapping,
    save_mapping,
)
from registry.inventory.models import AISystem

FEDERAL = Path(os.environ.get(
    "FEDERAL_AI_INVENTORY_CSV",
    Path(__file__).resolve().parents[3] / "shared" / "reference" / "2025_individually_reported_AI_use_cases.csv",
))
SIMPLE = {"columns": {"name": "System", "purpose": "What it does", "business_unit": "Team", "external_id": "Ref",
                      "contact": "Owner", "stage": "Status", "kind": "Type", "data_categories": "Data",
                      "operational_date": "Live since", "declared": "High risk?"},
          "values": {"stage": {"Live": "production", "Trial": "pilot"}, "declared": {"Y": True, "N": False}},
          "key": ["Ref"], "fallback_key": ["System"], "declared_regime": "eu_ai_act", "source_label": "Risk register"}


def _csv(rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


HEADER = ["Ref", "System", "What it does", "Team", "Owner", "Status", "Type", "Data", "Live since", "High risk?"]


def _row(ref, name, **kw):
    base = {"What it does": "Ranks claims", "Team": "Claims", "Owner": "owner@example.test", "Status": "Live",
            "Type": "Predictive model", "Data": "personal; financial", "Live since": "03/2024", "High risk?": "N"}
    base.update(kw)
    return [ref, name] + [base[h] for h in HEADER[2:]]


# --- Reading --------------------------------------------------------------------------------------------


def test_reads_windows_1252_semicolons_multiline_cells_and_odd_headers():
    data = ("Name ;\"Pur\npose\";Name\r\n\"Café\r\nbot\";\"Answers; and more\";x\r\n;;\r\n  spaced  ; v ;\r\n"
            .encode("cp1252"))
    table = read_table(data, "inventory.csv")
    assert table.headers == ["Name", "Pur pose", "Name (2)"]
    assert table.rows[0] == {"Name": "Café\nbot", "Pur pose": "Answers; and more", "Name (2)": "x"}
    assert table.rows[1]["Name"] == "spaced" and table.numbers == [2, 4]
    assert any("appears more than once" in n for n in table.notes) and any("empty row" in n for n in table.notes)


def test_reads_utf8_with_bom_tabs_and_ragged_rows():
    data = b"\xef\xbb\xbfid\tname\n1\tA\textra\n"
    table = read_table(data, "x.tsv")
    assert table.headers == ["id", "name", "Column 3"] and table.rows[0]["Column 3"] == "extra"


def test_reads_xlsx():
    book = Workbook()
    sheet = book.active
    sheet.append(["Name", "Stage"])
    sheet.append(["Triage", "Pilot"])
    sheet.append([None, None])
    sheet.append(["Scorer", 2024])
    out = io.BytesIO()
    book.save(out)
    table = read_table(out.getvalue(), "book.xlsx")
    assert [r["Name"] for r in table.rows] == ["Triage", "Scorer"] and table.rows[1]["Stage"] == "2024"


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"", "a.csv", "is empty"),
    (b"a,b\n", "a.csv", "no rows"),
    (b"x", "a.pdf", "upload a CSV or Excel file"),
    (b"PK\x03\x04 not really", "a.xlsx", "not an Excel workbook"),
    (b"plain text", "a.xls", "not an Excel 97-2003 workbook"),
    (b"a,b\n\x00\x01,2\n", "a.csv", "NUL bytes"),
])
def test_unreadable_files_get_a_clear_message(data, name, message):
    with pytest.raises(ImportFileError, match=message):
        read_table(data, name)


def test_limits(monkeypatch):
    monkeypatch.setattr(reader, "MAX_BYTES", 100)
    with pytest.raises(ImportFileError, match="the limit is"):
        read_table(b"a,b\n" + b"x,y\n" * 50, "big.csv")
    monkeypatch.setattr(reader, "MAX_BYTES", 10**8)
    monkeypatch.setattr(reader, "MAX_ROWS", 3)
    with pytest.raises(ImportFileError, match="more than 3 rows"):
        read_table(b"a\n" + b"x\n" * 10, "rows.csv")
    monkeypatch.setattr(reader, "MAX_CELL", 10)
    with pytest.raises(ImportFileError, match="row 2, column “a”: a cell of 11 characters"):
        read_table(b"a\n" + b"x" * 11 + b"\n", "cell.csv")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * 5_000_000)
    monkeypatch.setattr(reader, "MAX_UNCOMPRESSED", 1_000_000)
    with pytest.raises(ImportFileError, match="expands to"):
        read_table(bomb.getvalue(), "bomb.xlsx")


# --- Mapping --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-10-01 00:00:00", date(2024, 10, 1)), ("01/2024", date(2024, 1, 1)), ("10/1/2023", date(2023, 10, 1)),
    ("Jul-25", date(2025, 7, 1)), ("2025", date(2025, 1, 1)), ("01/01/2026 00:00:00", date(2026, 1, 1)),
    ("45292", date(2024, 1, 1)), ("soon", None),
])
def test_dates_in_the_formats_real_files_use(text, expected):
    assert parse_date(text) == expected


def test_list_like_cells():
    assert split_list("['b) Sex', 'c) Age']") == ["b) Sex", "c) Age"]
    assert split_list("personal; financial") == ["personal", "financial"]
    assert split_list("a, b") == ["a", "b"] and split_list("[]") == []


def test_a_suggested_mapping_by_header_similarity():
    mapping = suggest(["Use case name", "Agency", "Description", "Development stage", "Vendor", "Owner email", "Id"])
    assert mapping["columns"]["name"] == "Use case name" and mapping["columns"]["purpose"] == "Description"
    assert mapping["columns"]["stage"] == "Development stage" and mapping["columns"]["contact"] == "Owner email"
    assert mapping["key"] == ["Id"]


def test_values_are_converted_or_reported_per_column():
    converted = convert_row({"System": "A", "Status": "Retiring", "Type": "Agent that acts in other systems",
                             "Data": "personal, gossip", "Live since": "someday", "High risk?": "Y",
                             "Owner": "team mailbox"}, SIMPLE)
    assert converted.values["kind"] == "agent" and converted.values["declared"] is True
    problems = {(column, severity) for severity, column, _ in converted.problems}
    assert problems == {("Status", "error"), ("Data", "error"), ("Live since", "warning"), ("Owner", "warning")}
    assert "purpose" in converted.missing


# --- Planning and committing ----------------------------------------------------------------------------


def _table(*rows):
    return read_table(_csv([HEADER, *rows]), "register.csv")


def test_create_then_reimport_changes_nothing_then_an_edit_updates(session, people):
    table = _table(_row("R1", "Claims triage"), _row("R2", "Fraud scorer", Owner="team@agency.example"))
    plan = plan_import(session, table, SIMPLE, layout="register")
    assert plan.counts["create"] == 2 and plan.valid
    result = commit_import(session, None, plan, actor_label="test")
    session.commit()
    assert result["created"] == 2
    owned, unowned = (session.scalar(select(AISystem).where(AISystem.name == n)) for n in ("Claims triage", "Fraud scorer"))
    assert owned.accountable_owner_id == people["owner"].id and owned.contact == ""
    assert unowned.accountable_owner_id is None and unowned.contact == "team@agency.example"
    assert "accountable_owner" in unowned.missing_fields and "accountable_owner" not in owned.missing_fields
    assert (owned.tier, owned.stage, owned.kind, owned.autonomy, owned.sourcing) == (
        Tier.NOT_ASSESSED, Stage.PRODUCTION, Kind.PREDICTIVE_MODEL, Autonomy.UNKNOWN, Sourcing.UNKNOWN)
    assert (owned.declared_high_impact, owned.declared_regime.value, owned.declared_source) == (
        False, "eu_ai_act", "Risk register")
    assert owned.operational_date == date(2024, 3, 1) and owned.external_key == "register:r1"
    assert [c.value for c in owned.data_categories] == ["personal", "financial"]
    # History starts with the import; the import itself is one event with its counts; a checkpoint closes it.
    first = session.scalars(select(AuditEvent).where(AuditEvent.system_id == owned.id).order_by(AuditEvent.seq)).first()
    assert first.summary == "Imported from register.csv row 2"
    summary = session.scalar(select(AuditEvent).where(AuditEvent.action == "import.commit"))
    assert summary.data["after"]["created"] == 2 and newest_checkpoint(session).reason == "import"

    again = plan_import(session, _table(_row("R1", "Claims triage"), _row("R2", "Fraud scorer",
                                                                         Owner="team@agency.example")),
                        SIMPLE, layout="register")
    assert (again.counts["create"], again.counts["update"], again.counts["unchanged"]) == (0, 0, 2)

    edited = plan_import(session, _table(_row("R1", "Claims triage v2", Team=""), _row("R2", "Fraud scorer")),
                         SIMPLE, layout="register")
    assert edited.counts["update"] == 2
    commit_import(session, None, edited)
    session.commit()
    session.expire_all()
    owned = session.get(AISystem, owned.id)
    assert owned.name == "Claims triage v2" and owned.business_unit == "Claims"  # a blank cell erases nothing
    assert session.scalar(select(func.count(AISystem.id))) == 2


def test_a_broken_row_imports_nothing_unless_only_valid(session, people):
    table = _table(_row("R1", "Good one"), _row("R2", "Bad one", Status="Sunsetting"), _row("R3", "Also good"))
    plan = plan_import(session, table, SIMPLE, layout="register")
    assert plan.counts["errors"] == 1
    with pytest.raises(ImportRefused, match=r"row 3, column “Status”: “Sunsetting” is not a lifecycle stage"):
        commit_import(session, None, plan)
    session.rollback()
    assert session.scalar(select(func.count(AISystem.id))) == 0
    report = list(csv.reader(io.StringIO(plan.problems_csv())))
    assert ["3", "Status", "error"] in [line[:3] for line in report]
    result = commit_import(session, None, plan, only_valid=True)
    session.commit()
    assert (result["created"], result["skipped"]) == (2, 1)
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "import.commit"))
    assert event.data["after"]["skipped_rows"] == [3]


def test_blank_and_repeated_keys_fall_back_stably(session, people):
    table = _table(_row("", "No ref"), _row("R9", "Twin"), _row("R9", "Twin two"))
    plan = plan_import(session, table, SIMPLE, layout="register")
    # The first row with a key keeps it (and the record it matches); a blank or later repeat falls back.
    assert [r.key for r in plan.rows] == ["register:no ref", "register:r9", "register:twin two"]
    assert [any("external key" in p[2] for p in r.problems) for r in plan.rows] == [True, False, True]


def test_an_imported_system_is_not_assessed_needs_no_controls_and_cannot_go(session, people):
    commit_import(session, None, plan_import(session, _table(_row("R1", "Claims triage")), SIMPLE, layout="register"))
    session.commit()
    system = session.scalar(select(AISystem))
    assert required_controls(session, system) == []
    state = assess_system(session, system)
    assert state.recommendation.verdict is Verdict.NO_GO
    assert [b.rule for b in state.recommendation.blockers][0] == "tier_not_assessed"
    with pytest.raises(ValidationFailed) as err:
        record_decision(session, people["compliance"], system.id,
                        {"verdict": "conditional_go", "conditions": "x", "rationale": "A long enough rationale to differ."})
    assert "not assessed" in err.value.errors["verdict"][0]


def test_saved_mappings_and_unknown_layouts(session, people):
    table = _table(_row("R1", "Claims triage"))
    with pytest.raises(UnknownLayout) as err:
        resolve_mapping(session, table, None)
    assert err.value.suggestion["columns"]["name"] == "System"
    with pytest.raises(ImportRefused, match="no column “Nope”"):
        save_mapping(session, people["compliance"], "bad", table.headers, {**SIMPLE, "columns": {"name": "Nope"}})
    save_mapping(session, people["compliance"], "Risk register", table.headers, SIMPLE)
    session.commit()
    assert resolve_mapping(session, table, None) == (SIMPLE, "Risk register")  # recognised by its headers
    assert resolve_mapping(session, table, "Risk register")[1] == "Risk register"


@pytest.mark.skipif(not FEDERAL.exists(), reason="federal inventory not found")
def test_the_whole_federal_inventory_imports_and_matches_the_file(session, people):
    table = read_table(FEDERAL.read_bytes(), FEDERAL.name)
    mapping, layout = resolve_mapping(session, table, None)
    assert layout == "us-federal-ai-inventory-2025" and recognise(table.headers).key == layout
    plan = plan_import(session, table, mapping, layout=layout)
    assert plan.valid and plan.counts["create"] == 3611
    commit_import(session, None, plan)
    session.commit()
    stages = Counter(v.value for v in session.scalars(select(AISystem.stage)))
    file_stages = Counter(r["development_stage"] or "" for r in table.rows)
    assert stages == {"idea": file_stages["Pre-deployment"], "pilot": file_stages["Pilot"],
                      "production": file_stages["Deployed"], "retired": file_stages["Retired"],
                      "unknown": file_stages[""]}
    declared = Counter(session.scalars(select(AISystem.declared_high_impact)))
    file_declared = Counter(r["is_high_impact"] for r in table.rows)
    assert declared[True] == file_declared["High-impact"]
    assert declared[False] == file_declared["Not High-impact"] + file_declared["Presumed High-Impact, but Not High-impact"]
    assert declared[None] == file_declared[""]
    again = plan_import(session, table, mapping, layout=layout)
    assert again.counts["unchanged"] == 3611


# --- The command line -----------------------------------------------------------------------------------


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(main, [str(a) for a in args])


def test_the_command_line_plans_imports_and_learns_a_layout(cli, session, people, tmp_path):
    session.commit()
    path = tmp_path / "register.csv"
    path.write_bytes(_csv([HEADER, _row("R1", "Claims triage"), _row("R2", "Bad one", Status="Sunsetting")]))
    result = cli("import", path)
    assert result.exit_code == 2 and "a layout the registry does not know yet" in result.output
    assert "columns:" in result.output and "name: System" in result.output  # the suggestion, as YAML
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(yaml.safe_dump(SIMPLE), encoding="utf-8")
    result = cli("import", path, "--mapping-file", mapping, "--dry-run", "--report", tmp_path / "problems.csv")
    assert result.exit_code == 0, result.output
    assert "2 rows: 1 to create, 0 to update, 0 unchanged, 1 with errors" in result.output
    assert "row 3, column “Status”" in result.output and "Dry run: nothing written." in result.output
    assert "Sunsetting" in (tmp_path / "problems.csv").read_text(encoding="utf-8")
    result = cli("import", path, "--mapping-file", mapping)
    assert result.exit_code == 2 and "name the mapping with --save-mapping" in result.output
    result = cli("import", path, "--mapping-file", mapping, "--save-mapping", "Risk register")
    assert result.exit_code == 2 and "nothing imported (first: row 3" in result.output
    assert session.scalar(select(func.count(AISystem.id))) == 0
    session.commit()
    assert "does not know yet" in cli("import", path).output  # a refused import saved no mapping either
    result = cli("import", path, "--mapping-file", mapping, "--save-mapping", "Risk register", "--only-valid")
    assert result.exit_code == 0, result.output
    assert "1 created" in result.output and "1 skipped" in result.output and "Saved the mapping" in result.output
    result = cli("import", path, "--only-valid")  # recognised now by the saved mapping's headers
    assert result.exit_code == 0, result.output
    assert "layout Risk register" in result.output and "0 created, 0 updated, 1 unchanged" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: [not, a, dict]\n", encoding="utf-8")
    result = cli("import", path, "--mapping-file", bad)
    assert result.exit_code == 2 and "expected shape" in result.output


def test_a_tiny_workbook_that_declares_a_huge_sheet_is_refused_not_allocated():
    book = Workbook()
    sheet = book.active
    sheet["A1"], sheet["B1"] = "Name", "Stage"
    sheet["A2"] = "Triage"
    sheet["XFD1048576"] = "far away"  # a 4 KB file that calamine would expand to the whole grid
    out = io.BytesIO()
    book.save(out)
    assert len(out.getvalue()) < 10_000
    with pytest.raises(ImportFileError, match="spans 1,048,576 rows and 16,384 columns"):
        read_table(out.getvalue(), "tiny.xlsx")


def test_rows_past_the_limit_are_refused_even_after_blank_lines(monkeypatch):
    monkeypatch.setattr(reader, "MAX_ROWS", 5)
    with pytest.raises(ImportFileError, match="more than 5 rows"):
        read_table(b"\n\n\na\n" + b"x\n" * 6, "blank-first.csv")


@pytest.mark.parametrize(("data", "message"), [
    (b"\xef\xbb\xbfName\n\xff\xfe\n", "says it is Unicode"),
    (b"\xff\xfeN\x00a\x00m", "says it is Unicode"),
])
def test_damaged_unicode_is_a_clear_message(data, message):
    with pytest.raises(ImportFileError, match=message):
        read_table(data, "damaged.csv")


def test_control_characters_and_excel_escapes_are_removed_and_none_is_a_name():
    table = read_table(b"Name,Note\nNone,bell\x07 and _x0000_ nul\n", "c.csv")
    assert table.rows[0] == {"Name": "None", "Note": "bell and  nul"}


def test_the_problems_report_neutralises_formulas_from_the_file(session, people):
    table = read_table(_csv([["=HYPERLINK(\"http://x\")", "System"], ["1", "A"]]), "evil.csv")
    mapping = {"columns": {"name": "System", "stage": "=HYPERLINK(\"http://x\")"}, "key": ["System"]}
    report = plan_import(session, table, mapping, layout="evil").problems_csv()
    assert "'=HYPERLINK" in report and ",=HYPERLINK" not in report


# --- Other real layouts: titles, sheets, date order, named contacts, another year's columns -----------


def test_a_title_line_above_the_header_is_skipped_and_said():
    data = _csv([["AI inventory — FY2026 (draft)"], [], HEADER, _row("R1", "Scorer")])
    table = read_table(data, "titled.csv")
    assert table.headers == HEADER and table.numbers == [4]
    assert any("Read row 3 as the header" in n and "the line above it (a title?) was skipped" in n for n in table.notes)


def test_an_excel_sheet_is_chosen_by_name_and_the_others_are_named():
    book = Workbook()
    book.active.title = "Read me"
    book.active.append(["This workbook lists our AI systems."])
    systems = book.create_sheet("Systems")
    systems.append(HEADER)
    systems.append(_row("R1", "Scorer"))
    out = io.BytesIO()
    book.save(out)
    table = read_table(out.getvalue(), "book.xlsx", "Systems")
    assert table.headers == HEADER and table.rows[0]["System"] == "Scorer"
    assert "Read the sheet “Systems”; the workbook also has “Read me”." in table.notes
    with pytest.raises(ImportFileError, match="has no sheet “Inventory”; its sheets: Read me, Systems"):
        read_table(out.getvalue(), "book.xlsx", "Inventory")


def test_slashed_dates_are_read_day_first_when_the_column_says_so():
    mapping = {**SIMPLE}
    european = read_table(_csv([HEADER, _row("R1", "A", **{"Live since": "25/03/2024"}),
                                _row("R2", "B", **{"Live since": "04/05/2024"})]), "eu.csv")
    plan = plan_import_only(european, mapping)
    assert [r.values["operational_date"] for r in plan.rows] == [date(2024, 3, 25), date(2024, 5, 4)]
    american = read_table(_csv([HEADER, _row("R1", "A", **{"Live since": "03/25/2024"}),
                                _row("R2", "B", **{"Live since": "04/05/2024"})]), "us.csv")
    plan = plan_import_only(american, mapping)
    assert [r.values["operational_date"] for r in plan.rows] == [date(2024, 3, 25), date(2024, 4, 5)]


def plan_import_only(table, mapping):
    from registry.imports.mapping import date_orders

    orders = date_orders(table.rows, mapping)
    return type("P", (), {"rows": [convert_row(r, mapping, orders) for r in table.rows]})


def test_a_named_contact_keeps_the_address():
    converted = convert_row({"System": "A", "Owner": "Jo Smith <Jo.Smith@agency.example>"}, SIMPLE)
    assert converted.values["contact"] == "Jo.Smith@agency.example" and not converted.problems
    converted = convert_row({"System": "A", "Owner": "AI Team (mailbox)"}, SIMPLE)
    assert converted.values["contact"] == "AI Team (mailbox)" and converted.problems[0][0] == "warning"


@pytest.mark.skipif(not FEDERAL.exists(), reason="federal inventory not found")
def test_another_years_federal_file_without_some_columns_is_still_recognised(session, people):
    table = read_table(FEDERAL.read_bytes(), FEDERAL.name)
    dropped = ["topic_area", "has_pii"]  # a later year's file: columns renamed or removed
    rows = [[h for h in table.headers if h not in dropped]]
    rows += [[r[h] for h in rows[0]] for r in table.rows[:50]]
    smaller = read_table(_csv(rows), "2026_inventory.csv")
    mapping, layout = resolve_mapping(session, smaller, None)
    assert layout == "us-federal-ai-inventory-2025"
    assert "topic_area" not in mapping["columns"] and "data_categories" not in mapping["columns"]
    assert "The file has no column “topic_area”: topic area is not imported." in smaller.notes
    plan = plan_import(session, smaller, mapping, layout=layout)
    assert plan.valid and plan.counts["create"] == 50
    unrelated = read_table(_csv([["agency", "id", "name"], ["X", "1", "y"]]), "other.csv")
    assert recognise(unrelated.headers) is None


def test_a_reimport_keeps_registry_edits_the_file_did_not_touch_and_flags_decided_systems(session, people):
    from registry.inventory.services import system_payload as payload_of
    from registry.inventory.services import update_system

    commit_import(session, None, plan_import(session, _table(_row("R1", "Claims triage", Status="Trial")), SIMPLE,
                                             layout="register"))
    session.commit()
    system = session.scalar(select(AISystem))
    assert system.import_values["name"] == "Claims triage" and system.import_values["stage"] == "pilot"
    # the owner renames it in the registry (answering the tier questions on the way)
    payload = {**payload_of(system), "name": "Claims triage (EU)", "purpose": "Ranks claims",
               "business_process": "Claims", "sourcing": "in_house", "affects": ["customers"],
               "autonomy": "human_in_the_loop", "risk": {"prohibited_practice": "none", "decision_domains": []}}
    update_system(session, people["owner"], system.id, payload, expected_version=system.version)
    record_decision(session, people["compliance"], system.id, {"verdict": "no_go", "rationale": "Not ready yet."})
    session.commit()
    same = plan_import(session, _table(_row("R1", "Claims triage", Status="Trial")), SIMPLE, layout="register")
    assert same.counts["unchanged"] == 1  # the same file does not revert the registry's edit
    moved = plan_import(session, _table(_row("R1", "Claims triage", Status="Live")), SIMPLE, layout="register")
    assert moved.counts["update"] == 1 and set(moved.rows[0].changes) == {"stage"}
    commit_import(session, None, moved)
    session.commit()
    session.expire_all()
    system = session.get(AISystem, system.id)
    assert system.name == "Claims triage (EU)" and system.stage is Stage.PRODUCTION
    assert system.re_review_required_at is not None  # a decided system's stage changed by a file
    flagged = session.scalar(select(AuditEvent).where(AuditEvent.action == "system.re_review_required"))
    assert flagged is not None and "Lifecycle stage" in flagged.summary
    renamed = plan_import(session, _table(_row("R1", "Claims triage v3", Status="Live")), SIMPLE, layout="register")
    assert set(renamed.rows[0].changes) == {"name"}
    assert any("edited in the registry since the last import" in p[2] for p in renamed.rows[0].problems)


def test_a_reimport_updates_the_data_touched_and_names_a_contact_who_has_become_a_user(session, people):
    from registry.inventory.services import system_payload as payload_of
    from registry.inventory.services import update_system
    from tests.conftest import make_user

    commit_import(session, None, plan_import(session, _table(_row("R1", "Claims triage", Data="public"),
                                                             _row("R2", "Mailbox bot", Owner="new.owner@example.test")),
                                             SIMPLE, layout="register"))
    session.commit()
    triage = session.scalar(select(AISystem).where(AISystem.name == "Claims triage"))
    payload = {**payload_of(triage), "purpose": "Ranks claims", "business_process": "Claims", "sourcing": "in_house",
               "affects": ["internal_staff"], "autonomy": "human_in_the_loop",
               "risk": {"prohibited_practice": "none", "decision_domains": []}}
    update_system(session, people["owner"], triage.id, payload, expected_version=triage.version)
    session.commit()
    assert triage.tier is Tier.LOW
    make_user(session, "owner", email="new.owner@example.test")
    plan = plan_import(session, _table(_row("R1", "Claims triage", Data="personal; health"),
                                       _row("R2", "Mailbox bot", Owner="new.owner@example.test")),
                       SIMPLE, layout="register")
    assert [set(r.changes) for r in plan.rows] == [{"data_categories"}, {"accountable_owner_id"}]
    commit_import(session, None, plan)
    session.commit()
    session.expire_all()
    triage = session.get(AISystem, triage.id)
    assert sorted(c.value for c in triage.data_categories) == ["health", "personal"]
    assert triage.tier is not Tier.LOW  # reassessed with the data the file now declares
    bot = session.scalar(select(AISystem).where(AISystem.name == "Mailbox bot"))
    assert bot.accountable_owner.email == "new.owner@example.test" and bot.contact == ""
    assert "accountable_owner" not in bot.missing_fields
    again = plan_import(session, _table(_row("R1", "Claims triage", Data="personal; health"),
                                        _row("R2", "Mailbox bot", Owner="new.owner@example.test")),
                        SIMPLE, layout="register")
    assert again.counts["unchanged"] == 2
