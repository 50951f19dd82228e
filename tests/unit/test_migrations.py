"""Alembic migrations produce exactly the schema the models describe (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.dialects import postgresql

from registry.audit.checkpoints import newest_checkpoint, verify_signatures, write_checkpoint
from registry.audit.services import build_record, canonical_json, digest, record_event, verify_chain
from registry.db import Base, make_engine, make_session_factory
from registry.inventory.models import AISystem
from registry.inventory.queries import search_condition
from registry.migrate import downgrade, upgrade
from tests.conftest import TEST_AUDIT_KEY

# SQLite cannot reflect expression indexes, so the comparison skips them; their
# existence is checked by name below instead.
EXPRESSION_INDEXES = {"ix_ai_systems_name_lower"}
# PostgreSQL operator-class indexes the migrations add and the models do not describe (0020).
POSTGRESQL_ONLY_INDEXES = {"ix_ai_systems_search_trgm", "ix_ai_systems_live_cover", "ix_ai_systems_override_open",
                           "ix_ai_systems_declared", "ix_control_assessments_unverified",
                           "ix_stage_changes_stage_entered", "ix_readiness_answers_submitted",
                           "ix_system_states_decided"}


def _is_expression_index(diff) -> bool:
    return diff[0] in {"add_index", "remove_index"} and diff[1].name in EXPRESSION_INDEXES | POSTGRESQL_ONLY_INDEXES


def test_models_and_migrations_agree(app):
    engine = app.extensions["registry.engine"]
    with engine.connect() as conn, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")
        warnings.filterwarnings("ignore", message="autogenerate skipping metadata-specified expression-based index")
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        names = {ix["name"] for ix in inspect(conn).get_indexes("ai_systems")}
    assert [d for d in diff if not _is_expression_index(d)] == [], f"models changed without a migration: {diff}"
    if engine.dialect.name == "postgresql":
        assert names >= EXPRESSION_INDEXES


def test_0007_restores_the_unacceptable_tier_an_earlier_override_lowered(tmp_path):
    """Before 0007 an override could lower a prohibited practice to LOW; the upgrade undoes that."""
    url = f"sqlite:///{tmp_path / 'legacy.sqlite3'}"
    upgrade(url, "0006")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, email, name, role, password_hash, is_active, session_epoch, created_at) "
                          "VALUES (1, 'o@example.test', 'O', 'owner', 'x', 1, 0, '2026-01-01 00:00:00')"))
        for system_id, computed, tier in ((1, "unacceptable", "low"), (2, "medium", "low")):
            conn.execute(text(
                "INSERT INTO ai_systems (id, name, purpose, business_process, business_unit, accountable_owner_id, "
                "sourcing, kind, stage, affects, decisions_influenced, autonomy, risk_answers, computed_tier, "
                "tier_reasons, tier, tier_override, search_text, re_review_reasons, created_at, updated_at, version) "
                "VALUES (:id, 'S', 'P', 'B', 'U', 1, 'in_house', 'predictive_model', 'pilot', '[]', '', "
                "'human_in_the_loop', '{}', :computed, '[]', :tier, 'low', 's', '[]', '2026-01-01 00:00:00', "
                "'2026-01-01 00:00:00', 1)"), {"id": system_id, "computed": computed, "tier": tier})
    upgrade(url, "0007")
    with engine.connect() as conn:
        tiers = dict(conn.execute(text("SELECT id, tier FROM ai_systems")).all())
        named = conn.execute(text("SELECT system_id, role, user_id FROM system_people ORDER BY system_id")).all()
    engine.dispose()
    assert tiers == {1: "unacceptable", 2: "low"}  # an override of a medium system stays
    assert [tuple(r) for r in named] == [(1, "accountable_owner", 1), (2, "accountable_owner", 1)]


def test_0008_needs_a_second_officer_for_earlier_downward_overrides_and_keeps_never_automate(tmp_path):
    """An unconfirmed downward override stops applying (a decided system is flagged for re-review,
    saying why); a human-workflow answer given under the old form keeps meaning "never automate"."""
    url = f"sqlite:///{tmp_path / 'legacy.sqlite3'}"
    test_0007_restores_the_unacceptable_tier_an_earlier_override_lowered(tmp_path)  # systems 1 and 2 at 0007
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO decisions (id, system_id, verdict, recommended, rationale, conditions, expires_on, "
            "decided_by_id, decided_at, snapshot, snapshot_sha256) VALUES (1, 2, 'go', 'go', 'r', '[]', "
            "'2027-01-01', 1, '2026-02-01 00:00:00', '{}', 'x')"))
        for answer_id, status in ((1, "accepted"), (2, "draft")):
            conn.execute(text(
                "INSERT INTO readiness_answers (id, system_id, question, status, content, updated_at, version) "
                "VALUES (:id, :id, 'human_workflow', :status, :content, '2026-01-01 00:00:00', 1)"),
                {"id": answer_id, "status": status, "content": '{"automate_at": null, "suggest_at": 60}'})
    upgrade(url, "0008")
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(text(
            "SELECT id, tier, tier_override_against, re_review_required_at, re_review_reasons FROM ai_systems"))}
        contents = dict(conn.execute(text("SELECT id, content FROM readiness_answers")).all())
    engine.dispose()
    assert rows[2].tier == "medium" and rows[2].tier_override_against == "medium"
    assert rows[2].re_review_required_at is not None and "never confirmed" in rows[2].re_review_reasons
    assert rows[1].tier == "unacceptable" and rows[1].re_review_required_at is None
    assert '"never_automate": true' in contents[1] and "never_automate" not in contents[2]  # drafts: not answered


def test_0010_keeps_earlier_events_drops_the_unhashed_time_and_signs_on_the_next_write(tmp_path):
    """Events written before the audit key stay as they are; the first write afterwards signs them
    (a checkpoint); downgrading puts the time column back from the hashed records."""
    url = f"sqlite:///{tmp_path / 'legacy.sqlite3'}"
    upgrade(url, "0009")
    engine = make_engine(url)
    prev = "0" * 64
    with engine.begin() as conn:
        for seq in (1, 2, 3):
            payload = canonical_json({"at": f"2026-0{seq}-01T09:00:00.000000+00:00", "actor": "system",
                                      "summary": f"old {seq}", "before": None, "after": None, "address": None})
            record = build_record(prev, seq, None, "old.event", "thing", str(seq), None, payload)
            prev = digest(record)
            conn.execute(text("INSERT INTO audit_events (seq, occurred_at, action, entity_type, entity_id, record, hash) "
                              "VALUES (:seq, '2030-01-01 00:00:00', 'old.event', 'thing', :eid, :record, :hash)"),
                         {"seq": seq, "eid": str(seq), "record": record, "hash": prev})
    upgrade(url)
    columns = {c["name"] for c in inspect(engine).get_columns("audit_events")}
    assert "occurred_at" not in columns and "mac" in columns
    write, _ = make_session_factory(engine, {"audit_key": TEST_AUDIT_KEY, "audit_checkpoint_minutes": 60})
    with write() as session:
        assert verify_chain(session).ok
        assert "events #1 to #3 carry no signature" in verify_signatures(session).problems[0]
        record_event(session, None, "new.event", "thing", 4, summary="new")
        session.commit()
        assert newest_checkpoint(session) is None  # the app never signs them on its own
        write_checkpoint(session, "adopted", adopt_unsigned=True)  # `registry audit checkpoint --adopt-unsigned`
        session.commit()
        assert verify_chain(session).ok and verify_signatures(session).ok
        assert (newest_checkpoint(session).reason, newest_checkpoint(session).seq) == ("adopted", 4)
    engine.dispose()
    downgrade(url, "0009")
    with engine.connect() as conn:
        times = conn.execute(text("SELECT seq, occurred_at FROM audit_events ORDER BY seq")).all()
    engine.dispose()
    assert [str(t)[:10] for _, t in times[:3]] == ["2026-01-01", "2026-02-01", "2026-03-01"]


def test_0011_moves_answers_to_the_new_questions_and_leaves_recomputation_to_the_app(tmp_path):
    """"Critical infrastructure operation" was a decision domain and is now a harm; "biometric
    identification" a biometric use.  Stored tiers stay as rules v1 left them (tier_rules 1, no EU
    class) until `registry db upgrade` recomputes them through the app; downgrading moves them back."""
    url = f"sqlite:///{tmp_path / 'legacy.sqlite3'}"
    upgrade(url, "0010")
    engine = make_engine(url)
    answers = '{"prohibited_practice": "none", "decision_domains": ["critical_infrastructure", "employment", ' \
              '"biometric_identification"], "legal_effect": false}'
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, email, name, role, password_hash, is_active, session_epoch, created_at) "
                          "VALUES (1, 'o@example.test', 'O', 'owner', 'x', 1, 0, '2026-01-01 00:00:00')"))
        conn.execute(text(
            "INSERT INTO ai_systems (id, name, purpose, business_process, business_unit, accountable_owner_id, "
            "sourcing, kind, stage, affects, decisions_influenced, autonomy, risk_answers, computed_tier, "
            "tier_reasons, tier, search_text, re_review_reasons, created_at, updated_at, version) "
            "VALUES (1, 'S', 'P', 'B', 'U', 1, 'in_house', 'predictive_model', 'pilot', '[\"public\"]', '', "
            "'human_in_the_loop', :answers, 'high', '[]', 'high', 's', '[]', '2026-01-01 00:00:00', "
            "'2026-01-01 00:00:00', 1)"), {"answers": answers})
    upgrade(url)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT risk_answers, tier_rules, eu_class, declared_high_impact FROM ai_systems")).one()
    moved = json.loads(row[0])
    assert moved["decision_domains"] == ["employment"]
    assert moved["safety_harms"] == ["critical_infrastructure"] and moved["biometric_uses"] == ["identification"]
    assert (row[1], row[2], row[3]) == (1, None, None)
    engine.dispose()
    downgrade(url, "0010")
    with engine.connect() as conn:
        back = json.loads(conn.execute(text("SELECT risk_answers FROM ai_systems")).scalar_one())
        columns = {c["name"] for c in inspect(conn).get_columns("ai_systems")}
    engine.dispose()
    assert set(back["decision_domains"]) == {"critical_infrastructure", "employment", "biometric_identification"}
    assert "safety_harms" not in back and "eu_class" not in columns and "tier_rules" not in columns


def _search_plan(conn) -> str:
    """PostgreSQL's plan for the inventory's search condition, as the list query writes it
    (sequential scans off: with a handful of rows the planner would rightly read the table)."""
    compiled = select(AISystem.id).where(search_condition("Claims")).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}"))


def test_0020_trigram_search_index_up_and_down(app, tmp_path):
    """PostgreSQL: the trigram index exists, the search uses it, and 0020 goes down and up again;
    SQLite: 0020 changes nothing, down or up."""
    url = app.config["DATABASE_URL"]
    if not url.startswith("postgresql"):
        url = f"sqlite:///{tmp_path / 'scale.sqlite3'}"
        upgrade(url)
        engine = make_engine(url)
        with engine.connect() as conn:
            before = sorted(conn.exec_driver_sql("SELECT name, sql FROM sqlite_master").all())
        downgrade(url, "0019")
        upgrade(url)
        with engine.connect() as conn:
            assert sorted(conn.exec_driver_sql("SELECT name, sql FROM sqlite_master").all()) == before
        engine.dispose()
        return
    engine = app.extensions["registry.engine"]

    def indexes() -> set[str]:
        with engine.connect() as conn:
            return set(conn.exec_driver_sql("SELECT indexname FROM pg_indexes").scalars())

    assert indexes() >= POSTGRESQL_ONLY_INDEXES
    with engine.begin() as conn:
        assert "ix_ai_systems_search_trgm" in _search_plan(conn)
    engine.dispose()
    downgrade(url, "0019")
    try:
        assert not indexes() & POSTGRESQL_ONLY_INDEXES
    finally:
        upgrade(url)
        engine.dispose()
    assert indexes() >= POSTGRESQL_ONLY_INDEXES
