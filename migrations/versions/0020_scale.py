"""scale: indexes for 100,000 systems (issue 17)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29 21:50:02

PostgreSQL only (SQLite: nothing to do): the inventory's search matches ``ai_systems.search_text``
(name, purpose, unit and vendor, lower-cased) with ``LIKE '%…%'``, which no B-tree serves; a
trigram GIN index (``pg_trgm``, a trusted extension from PostgreSQL 13) lets the planner find the
matching rows instead of reading every system.  The extension is left in place on downgrade
(other objects may use it); the index goes.

Partial indexes over the live systems for the pages that read all of them: a covering index
(id with the columns the list sorts and counts on, the dashboard groups by and the review queue
shows) so that a count, a deep sorted page or the dashboard's grouped pass reads a few MB of index
instead of the whole table; the unverified control assessments, the submitted answers and the decided systems by expiry
(review queue); the downward tier
overrides waiting for a second officer and the declared determinations (review queue); each
system's entries into a stage with their dates (the dashboard's long-pilot figure).

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
INDEXES = {
    "ix_ai_systems_search_trgm": "ON ai_systems USING gin (search_text gin_trgm_ops)",
    "ix_ai_systems_live_cover": "ON ai_systems (id) INCLUDE (name, business_unit, tier, stage, kind, "
                                "accountable_owner_id, updated_at) WHERE deleted_at IS NULL",
    "ix_ai_systems_override_open": "ON ai_systems (tier_override_at) WHERE tier_override IS NOT NULL "
                                   "AND tier_override_confirmed_at IS NULL AND deleted_at IS NULL",
    "ix_ai_systems_declared": "ON ai_systems (name) WHERE declared_high_impact IS NOT NULL AND deleted_at IS NULL",
    "ix_control_assessments_unverified": "ON control_assessments (system_id) INCLUDE (status, updated_at) "
                                         "WHERE verified_at IS NULL",
    "ix_stage_changes_stage_entered": "ON stage_changes (stage, system_id, entered_at)",
    "ix_readiness_answers_submitted": "ON readiness_answers (system_id) INCLUDE (submitted_at) "
                                      "WHERE status = 'submitted'",
    "ix_system_states_decided": "ON system_states (decision_expires_on) INCLUDE (decision_id, decision_verdict) "
                                "WHERE decision_id IS NOT NULL",
}
POSTGRESQL_ONLY_INDEXES = tuple(INDEXES)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} {definition}")
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
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
