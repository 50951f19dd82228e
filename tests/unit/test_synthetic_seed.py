"""The bulk synthetic seeder (issue 17, scale): COPY on PostgreSQL, foreign-key triggers skipped for its own
rows, so every key it wrote is checked here; its audit events verify; awkward text survives COPY."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sqlalchemy import func, select, text

from registry.audit.services import verify_chain
from registry.db import Base, utcnow
from registry.inventory.models import AISystem, OrgUnit
from registry.seed.synthetic import bulk_rows, seed_synthetic
from registry.state.cache import compute_state
from registry.state.models import SystemState

SEEDED = ("users", "ai_systems", "system_data_categories", "system_people", "baseline_metrics", "readiness_answers",
          "control_assessments", "decisions", "stage_changes", "audit_events", "system_states", "system_blockers")


def test_every_key_the_seeder_wrote_resolves(session):
    seed_synthetic(session, 150, seed=5)
    session.commit()
    checked = 0
    for name in SEEDED:
        table = Base.metadata.tables[name]
        for fk in table.foreign_keys:
            referred = fk.column.table.alias("referred")  # an alias: some keys refer to their own table
            child, parent = fk.parent, referred.c[fk.column.name]
            orphans = session.scalar(
                select(func.count()).select_from(table.outerjoin(referred, child == parent))
                .where(child.is_not(None), parent.is_(None)))
            assert orphans == 0, f"{name}.{child.name} -> {fk.column.table.name}: {orphans} orphans"
            checked += 1
    assert checked >= 15
    assert session.scalar(select(func.count(AISystem.id))) == 150
    if session.get_bind().dialect.name == "postgresql":  # the seeder never turns the database's checks off
        assert session.scalar(text("SHOW session_replication_role")) == "origin"


def test_the_seeded_chain_verifies_and_the_states_are_what_the_rules_say(session):
    seed_synthetic(session, 80, seed=9)
    session.commit()
    report = verify_chain(session)
    assert report.ok and report.checked == 80
    today = utcnow().date()
    for state in session.scalars(select(SystemState).order_by(SystemState.system_id).limit(20)):
        fresh, _groups = compute_state(session, state.system_id, today=today)
        assert (state.recommendation, state.blockers, state.required_controls) == (
            fresh["recommendation"], fresh["blockers"], fresh["required_controls"])


def test_bulk_rows_keeps_awkward_text(session):
    names = ["Tab\there", "Line\nbreak", "Back\\slash \\N", "Carriage\rreturn", "Ünïcode — ✓", r"\t literal"]
    bulk_rows(session, OrgUnit.__table__, [{"name": n, "created_at": utcnow()} for n in names])
    session.commit()
    stored = set(session.scalars(select(OrgUnit.name).where(OrgUnit.name.in_(names))))
    assert stored == set(names)


def _bench_scale():
    spec = importlib.util.spec_from_file_location("bench_scale", Path(__file__).parents[2] / "scripts" / "bench_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_scale_benchmark_refuses_databases_it_must_not_drop():
    refusal = _bench_scale().refusal
    pg = "postgresql+psycopg://postgres@127.0.0.1:5432/"
    assert "PostgreSQL only" in refusal("sqlite:///x.sqlite3", True)
    assert "DATABASE_URL" in refusal(None, False)
    assert "--force" in refusal(pg + "test", False) and refusal(pg + "test", True) is None
    assert "refusing" in refusal(pg + "postgres", True)  # never the maintenance database, even with --force
    assert refusal(pg + "bench100k", False) is None
