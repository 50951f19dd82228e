"""scale: indexes for 100,000 systems (issue 17)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29 21:50:02

PostgreSQL only (SQLite: nothing to do): the inventory's search matches ``ai_systems.search_text``
(name, purpose, unit and vendor, lower-cased) with ``LIKE '%…%'``, which no B-tree serves; a
trigram GIN index (``pg_trgm``, a trusted extension from PostgreSQL 13) lets the planner find the
matching rows instead of reading every system.  The extension is left in place on downgrade
(other objects may use it); the index goes.

``system_states.blockers`` (every open item of a system, often 20 KB of JSON) is compressed with
LZ4 when the server has it (PostgreSQL 14+ built with lz4): about twice as fast to write as the
default pglz, which was a large share of seeding or rebuilding the state of 100,000 systems.
Existing values keep their compression until rewritten; downgrade returns to the default.
"""

from __future__ import annotations

from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

# Not described by the models (a PostgreSQL operator class): tests/unit/test_migrations.py names them.
POSTGRESQL_ONLY_INDEXES = ("ix_ai_systems_search_trgm",)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE INDEX IF NOT EXISTS ix_ai_systems_search_trgm ON ai_systems USING gin (search_text gin_trgm_ops)")
    if _has_lz4():
        op.execute("ALTER TABLE system_states ALTER COLUMN blockers SET COMPRESSION lz4")


def _has_lz4() -> bool:
    return bool(op.get_bind().exec_driver_sql(
        "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)").scalar())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    if _has_lz4():
        op.execute("ALTER TABLE system_states ALTER COLUMN blockers SET COMPRESSION default")
    op.execute("DROP INDEX IF EXISTS ix_ai_systems_search_trgm")
