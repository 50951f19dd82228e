"""Alembic migrations produce exactly the schema the models describe (on SQLite and PostgreSQL)."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from registry.db import Base, make_engine
from registry.migrate import upgrade

# SQLite cannot reflect expression indexes, so the comparison skips them; their
# existence is checked by name below instead.
EXPRESSION_INDEXES = {"ix_ai_systems_name_lower"}


def _is_expression_index(diff) -> bool:
    return diff[0] in {"add_index", "remove_index"} and diff[1].name in EXPRESSION_INDEXES


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
