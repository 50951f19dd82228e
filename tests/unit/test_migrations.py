"""Alembic migrations produce exactly the schema the models describe (on SQLite and PostgreSQL)."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from registry.db import Base

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
