"""Export the inventory, import the file back: the same records.

Into the registry that wrote it, every row matches its system by id and nothing changes; into
another registry (another audit key, here: another value in the file's "Registry" column) the
rows become new records with the same facts, and the same file imported there again changes
nothing.  The risk answers are not in an export (an export shows their outcome, the tier):
records created from an export have the tier "not assessed" until someone answers them.
"""

from __future__ import annotations

import csv
import io
from datetime import date

import openpyxl
import pytest
from sqlalchemy import select

from registry.audit.keys import registry_identity
from registry.exports.services import write_export
from registry.imports.reader import read_table
from registry.imports.services import commit_import, plan_import, resolve_mapping
from registry.inventory.models import AISystem
from registry.inventory.queries import InventoryFilters
from tests.conftest import make_system
from tests.unit.test_imports import HEADER, SIMPLE, _csv, _row

FACTS = ("name", "purpose", "business_process", "business_unit", "organisation", "external_id", "stage", "kind",
         "sourcing", "vendor_name", "topic_area", "outputs", "operational_date", "decisions_influenced",
         "declared_high_impact", "declared_regime", "declared_justification", "declared_source",
         "accountable_owner_id", "contact")


def _facts(system: AISystem) -> dict:
    out = {f: getattr(system, f) for f in FACTS}
    out["data"] = sorted(c.value for c in system.data_categories)
    out["missing"] = sorted(system.missing_fields or [])
    return out


@pytest.fixture
def inventory(session, people):
    owner = people["owner"]
    make_system(session, owner, name="Claims triage, v2 “quoted”", vendor_name=None)
    make_system(session, owner, name="Vendor chatbot", sourcing="vendor", vendor_name="Acme AI", kind="generative_assistant",
                stage="production", data_categories=[], business_process="Customer service\nand complaints",
                declared={"high_impact": True, "regime": "eu_ai_act", "justification": "Annex III 5(c)",
                          "source": "Legal review 2026-03"})
    table = read_table(_csv([HEADER, _row("R1", "Imported scorer", Owner="team@agency.example", **{"What it does": "",
                                                                                                     "Data": ""})]),
                       "register.csv")
    commit_import(session, None, plan_import(session, table, SIMPLE, layout="register"))
    session.commit()
    return {s.id: _facts(s) for s in session.scalars(select(AISystem))}


def _export(session, fmt: str) -> bytes:
    out = io.BytesIO()
    write_export(session, None, InventoryFilters(), fmt, out, today=date.today())
    return out.getvalue()


def _as_other_registry(data: bytes, fmt: str) -> bytes:
    """The same file as another registry would have written it (its Registry column differs)."""
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        at = rows[0].index("Registry")
        for row in rows[1:]:
            row[at] = "0123456789abcdef"
        out = io.StringIO()
        csv.writer(out).writerows(rows)
        return out.getvalue().encode()
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book["Systems"]
    at = [c.value for c in sheet[1]].index("Registry") + 1
    for r in range(2, sheet.max_row + 1):
        sheet.cell(r, at).value = "0123456789abcdef"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_imported_back_gives_the_same_records(session, inventory, fmt):
    data = _export(session, fmt)
    table = read_table(data, f"inventory.{fmt}")
    mapping, layout = resolve_mapping(session, table, None)
    assert layout == "readiness-registry-export"
    assert {r["Registry"] for r in table.rows} == {registry_identity(session)}
    plan = plan_import(session, table, mapping, layout=layout)
    assert plan.valid, [(r.row, r.problems) for r in plan.rows if r.problems]
    assert plan.counts["unchanged"] == len(inventory) and not plan.counts["create"] and not plan.counts["update"], [(r.row, r.changes) for r in plan.rows]
    assert {r.system_id for r in plan.rows} == set(inventory)

    # another registry: new records with the same facts
    other = read_table(_as_other_registry(data, fmt), f"inventory.{fmt}")
    plan = plan_import(session, other, mapping, layout=layout)
    assert plan.valid and plan.counts["create"] == len(inventory)
    commit_import(session, None, plan)
    session.commit()
    copies = {}
    for system in session.scalars(select(AISystem).where(AISystem.id.not_in(list(inventory)))):
        copies[int(system.external_key.rsplit("|", 1)[1])] = _facts(system)
    for system_id, facts in inventory.items():
        copy = copies[system_id]
        # a one-line field read from a file has its spacing collapsed (the line break a registry record may hold)
        facts = {**facts, "business_process": " ".join(facts["business_process"].split())}
        assert copy == facts, system_id
    assert sorted(copies) == sorted(inventory)
    again = plan_import(session, read_table(_as_other_registry(data, fmt), f"inventory.{fmt}"), mapping, layout=layout)
    assert again.counts["unchanged"] == len(inventory) and not again.counts["create"]


def test_an_edited_export_updates_its_systems(session, inventory):
    data = _export(session, "csv").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(data)))
    name_at, purpose_at = rows[0].index("Name"), rows[0].index("Purpose")
    edited_id = int(rows[1][0])
    rows[1][purpose_at] = "Ranks claims by urgency and fraud risk."
    rows[2][name_at] = ""  # a blank cell never erases
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    table = read_table(out.getvalue().encode(), "inventory.csv")
    mapping, layout = resolve_mapping(session, table, None)
    plan = plan_import(session, table, mapping, layout=layout)
    assert plan.counts["update"] == 1 and plan.counts["unchanged"] == len(inventory) - 1
    commit_import(session, None, plan)
    session.commit()
    assert session.get(AISystem, edited_id).purpose == "Ranks claims by urgency and fraud risk."
    assert session.scalar(select(AISystem.name).where(AISystem.id == int(rows[2][0]))) == inventory[int(rows[2][0])]["name"]
