"""The list of organisation units: refusal of unlisted units, add / rename / merge (the systems and
the portfolio counts follow), the import's matching and flagging, and the migration that fills it."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import event, select, text

from registry.audit.models import AuditEvent
from registry.db import make_engine
from registry.errors import Conflict, PermissionDenied, ValidationFailed
from registry.imports.reader import read_table
from registry.imports.services import commit_import, plan_import
from registry.inventory import services
from registry.inventory.models import AISystem, OrgUnit
from registry.inventory.units import (
    NOT_LISTED,
    UNLISTED_FLAG,
    add_unit,
    ensure_units,
    merge_units,
    rename_unit,
    unit_names,
    unlisted_units,
)
from registry.migrate import upgrade
from registry.seed.synthetic import seed_synthetic
from registry.state.models import BlockerDimCount, SystemState
from tests.conftest import make_system, system_payload
from tests.unit.test_imports import HEADER, SIMPLE, _csv, _row
from tests.unit.test_portfolio_state import assert_no_drift


def _units(session, *names):
    ensure_units(session, names)
    session.commit()


def test_a_person_must_choose_a_listed_unit_and_may_keep_an_unlisted_one_unchanged(session, people):
    _units(session, "Claims & Insurance", "HR")
    owner = people["owner"]
    with pytest.raises(ValidationFailed) as refused:
        services.create_system(session, owner, system_payload(owner, business_unit="Claims & Insurence"))
    assert refused.value.status == 422 and refused.value.errors == {"business_unit": [NOT_LISTED]}
    session.rollback()
    system = services.create_system(session, owner, system_payload(owner, business_unit="HR"))
    session.commit()
    assert system.business_unit == "HR"

    legacy = make_system(session, owner, business_unit="Imported Team")  # the console, like an import, keeps text
    payload = services.system_payload(legacy)
    edited = services.update_system(session, owner, legacy.id, payload | {"name": "Renamed"},
                                    expected_version=legacy.version)
    assert (edited.name, edited.business_unit) == ("Renamed", "Imported Team")  # unchanged legacy unit: allowed
    session.commit()
    with pytest.raises(ValidationFailed) as changed:
        services.update_system(session, owner, legacy.id, payload | {"business_unit": "Another Team"},
                               expected_version=edited.version)
    assert changed.value.errors["business_unit"] == [NOT_LISTED]


def test_an_empty_list_refuses_nothing_until_an_admin_sets_it_up(session, people):
    system = services.create_system(session, people["owner"], system_payload(people["owner"], business_unit="Any"))
    assert system.business_unit == "Any" and unit_names(session) == []


def test_only_admins_keep_the_list_and_duplicates_are_refused_whatever_their_case(session, people):
    with pytest.raises(PermissionDenied):
        add_unit(session, people["compliance"], "Legal")
    add_unit(session, people["admin"], "  Legal   Affairs ")
    session.commit()
    assert unit_names(session) == ["Legal Affairs"]
    with pytest.raises(Conflict) as twice:
        add_unit(session, people["admin"], "legal affairs")
    assert "already on the list" in twice.value.errors["name"][0]
    session.rollback()
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "org_unit.create"))
    assert event.actor_id == people["admin"].id and "Legal Affairs" in event.summary


def test_merging_moves_every_system_and_the_portfolio_counts_follow(session, people):
    _units(session, "Claims", "Claimz", "HR")
    owner = people["owner"]
    typo = [make_system(session, owner, name=f"Typo {i}", business_unit="Claimz") for i in range(2)]
    right = make_system(session, owner, name="Right", business_unit="Claims")
    other = make_system(session, owner, name="Other", business_unit="HR")
    target = session.scalar(select(OrgUnit).where(OrgUnit.name == "Claims"))
    dims_before = Counter()
    for c in session.scalars(select(BlockerDimCount)):
        dims_before[c.business_unit] += c.systems
    assert dims_before["Claimz"] > 0

    moved = merge_units(session, people["admin"], "Claimz", target.id)
    session.commit()

    assert moved == 2
    assert unit_names(session) == ["Claims", "HR"]
    units = dict(session.execute(select(AISystem.name, AISystem.business_unit)).all())
    assert units == {"Typo 0": "Claims", "Typo 1": "Claims", "Right": "Claims", "Other": "HR"}
    states = dict(session.execute(select(SystemState.system_id, SystemState.business_unit)).all())
    assert {states[s.id] for s in (*typo, right)} == {"Claims"} and states[other.id] == "HR"
    dims_after = Counter()
    for c in session.scalars(select(BlockerDimCount)):
        dims_after[c.business_unit] += c.systems
    assert dims_after["Claimz"] == 0 and dims_after["Claims"] == dims_before["Claims"] + dims_before["Claimz"]
    assert_no_drift(session)  # the cached states and counts equal a full recomputation
    # the search finds them under the new name; each moved system's history says so
    assert all("claims" in s.search_text and "claimz" not in s.search_text for s in session.scalars(select(AISystem)))
    history = session.scalars(select(AuditEvent).where(AuditEvent.action == "system.update")).all()
    assert sorted(e.system_id for e in history) == sorted(s.id for s in typo)
    assert history[0].before == {"business_unit": "Claimz"} and history[0].after == {"business_unit": "Claims"}
    merge = session.scalar(select(AuditEvent).where(AuditEvent.action == "org_unit.merge"))
    assert merge.summary == "Merged the business unit Claimz into Claims (2 systems moved)"
    assert typo[0].version == 2  # an edit form opened before the merge is refused as stale


def test_renaming_a_unit_renames_it_on_its_systems(session, people):
    _units(session, "Customer Servce", "Sales")
    system = make_system(session, people["owner"], business_unit="Customer Servce")
    unit = session.scalar(select(OrgUnit).where(OrgUnit.name == "Customer Servce"))
    with pytest.raises(Conflict):
        rename_unit(session, people["admin"], unit.id, "sales")
    session.rollback()
    rename_unit(session, people["admin"], unit.id, "Customer Service")
    session.commit()
    assert unit_names(session) == ["Customer Service", "Sales"]
    assert session.get(AISystem, system.id).business_unit == "Customer Service"
    assert session.scalar(select(SystemState.business_unit).where(SystemState.system_id == system.id)) == "Customer Service"


def _import(session, rows):
    table = read_table(_csv([HEADER, *rows]), "units.csv")
    plan = plan_import(session, table, SIMPLE, layout="units")
    return plan, commit_import(session, None, plan)


def test_an_import_takes_the_listed_spelling_or_keeps_its_text_and_flags_the_record(app, session, people):
    _units(session, "Claims & Insurance")
    plan, counts = _import(session, [_row("1", "Matched", Team="  claims &   INSURANCE "),
                                     _row("2", "Unlisted", Team="Clams & Insurance")])
    session.commit()
    assert counts["created"] == 2
    matched, unlisted = plan.rows
    assert matched.values["business_unit"] == "Claims & Insurance" and UNLISTED_FLAG not in matched.missing
    assert unlisted.values["business_unit"] == "Clams & Insurance" and UNLISTED_FLAG in unlisted.missing
    assert any(p[0] == "warning" and p[1] == "Team" and "not on the list of business units" in p[2]
               for p in unlisted.problems)
    assert "Business unit from the list (the source's is not listed)" in plan.problems_csv()
    systems = {s.name: s for s in session.scalars(select(AISystem))}
    assert systems["Matched"].business_unit == "Claims & Insurance"
    assert UNLISTED_FLAG not in systems["Matched"].missing_fields
    assert set(systems["Unlisted"].missing_fields) - set(systems["Matched"].missing_fields) == {UNLISTED_FLAG}
    assert unlisted_units(session) == [("Clams & Insurance", 1)]

    # merged into the listed unit by an admin: moved, no longer flagged
    target = session.scalar(select(OrgUnit).where(OrgUnit.name == "Claims & Insurance"))
    merge_units(session, people["admin"], "Clams & Insurance", target.id)
    session.commit()
    fixed = session.get(AISystem, systems["Unlisted"].id)
    session.refresh(fixed)
    assert fixed.business_unit == "Claims & Insurance" and UNLISTED_FLAG not in fixed.missing_fields
    assert unlisted_units(session) == []


def test_adding_an_imported_unit_to_the_list_clears_its_flag(app, session, people):
    _units(session, "Claims")
    _import(session, [_row("1", "Pricing bot", Team="Pricing")])
    session.commit()
    add_unit(session, people["admin"], "Pricing")
    session.commit()
    system = session.scalar(select(AISystem).where(AISystem.name == "Pricing bot"))
    session.refresh(system)
    assert system.business_unit == "Pricing" and UNLISTED_FLAG not in system.missing_fields


def test_the_import_reads_the_list_once_whatever_the_number_of_rows(app, session, people):
    _units(session, "Claims")
    statements = []

    def count(conn, cursor, statement, *args):
        if "org_units" in statement:
            statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        table = read_table(_csv([HEADER, *[_row(str(i), f"S{i}", Team="claims") for i in range(40)]]), "many.csv")
        plan_import(session, table, SIMPLE, layout="many")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1


def test_0016_lists_the_units_live_systems_use(tmp_path):
    url = f"sqlite:///{tmp_path / 'units.sqlite3'}"
    upgrade(url, "0015")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, email, name, role, password_hash, is_active, session_epoch, created_at) "
                          "VALUES (1, 'o@example.test', 'O', 'owner', 'x', 1, 0, '2026-01-01 00:00:00')"))
        for system_id, unit, deleted in ((1, "HR", None), (2, "HR", None), (3, "hr", None), (4, "", None),
                                         (5, "Gone", "2026-02-01 00:00:00")):
            conn.execute(text(
                "INSERT INTO ai_systems (id, name, purpose, business_process, business_unit, accountable_owner_id, "
                "sourcing, kind, stage, affects, decisions_influenced, autonomy, risk_answers, computed_tier, "
                "tier_reasons, tier, search_text, re_review_reasons, created_at, updated_at, deleted_at, version) "
                "VALUES (:id, 'S', 'P', 'B', :unit, 1, 'in_house', 'predictive_model', 'pilot', '[]', '', "
                "'human_in_the_loop', '{}', 'low', '[]', 'low', 's', '[]', '2026-01-01 00:00:00', "
                "'2026-01-01 00:00:00', :deleted, 1)"), {"id": system_id, "unit": unit, "deleted": deleted})
    upgrade(url, "0016")
    with engine.connect() as conn:
        names = conn.scalars(text("SELECT name FROM org_units ORDER BY name")).all()
    engine.dispose()
    assert names == ["HR", "hr"]  # spelled as they were; the admin merges the duplicate


def test_the_seeders_list_the_units_they_use(session):
    seed_synthetic(session, 30)
    session.commit()
    used = set(session.scalars(select(AISystem.business_unit)))
    assert used and used <= set(unit_names(session)) and unlisted_units(session) == []


def test_the_demo_lists_its_units(session, demo_portfolio):
    used = set(session.scalars(select(AISystem.business_unit)))
    assert len(used) >= 6 and set(unit_names(session)) == used
