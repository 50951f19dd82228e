"""portfolio: per-system state cache, blocker groups, stage history

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 21:40:00

``system_states`` and ``system_blockers`` start empty: the dashboard computes every missing
state on its first view (``registry.portfolio.state.refresh_due_states``), or run
``registry portfolio rebuild``.  ``stage_changes`` is backfilled with one row per existing
system: it entered its current stage when it was registered (earlier stage history was not
recorded before this revision).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import registry.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIER = sa.Enum("low", "medium", "high", "unacceptable", name="tier", native_enum=False, length=32)
STAGE = sa.Enum("idea", "pilot", "production", "retired", name="stage", native_enum=False, length=32)
KIND = sa.Enum("predictive_model", "generative_assistant", "agent", "optimiser", "perception", "other", name="kind",
               native_enum=False, length=32)


def upgrade() -> None:
    op.create_table(
        "system_states",
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("recommendation", sa.Enum("go", "conditional_go", "no_go", name="verdict", native_enum=False,
                                            length=32), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("decision_verdict", sa.Enum("go", "conditional_go", "no_go", name="verdict", native_enum=False,
                                              length=32), nullable=True),
        sa.Column("decided_at", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_expires_on", sa.Date(), nullable=True),
        sa.Column("stale_evidence", sa.Boolean(), nullable=False),
        sa.Column("re_review_required", sa.Boolean(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("furthest_stage", sa.Enum("idea", "pilot", "production", "retired", name="stage", native_enum=False,
                                            length=32), nullable=True),
        sa.Column("business_unit", sa.String(length=120), nullable=False),
        sa.Column("tier", TIER, nullable=True),
        sa.Column("stage", STAGE, nullable=True),
        sa.Column("kind", KIND, nullable=True),
        sa.Column("computed_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("blockers", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["system_id"], ["ai_systems.id"], name=op.f("fk_system_states_system_id_ai_systems"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("system_id", name=op.f("pk_system_states")),
    )
    op.create_index("ix_system_states_valid_until", "system_states", ["valid_until"])
    op.create_index("ix_system_states_recommendation", "system_states", ["recommendation"])
    op.create_index("ix_system_states_decision_verdict", "system_states", ["decision_verdict"])
    op.create_table(
        "blocker_dim_counts",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("business_unit", sa.String(length=120), nullable=False),
        sa.Column("tier", TIER, nullable=False),
        sa.Column("stage", STAGE, nullable=False),
        sa.Column("kind", KIND, nullable=False),
        sa.Column("systems", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "business_unit", "tier", "stage", "kind", name=op.f("pk_blocker_dim_counts")),
    )
    op.create_table(
        "blocker_counts",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("systems", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_blocker_counts")),
    )
    op.create_table(
        "system_blockers",
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("blocking", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["system_id"], ["ai_systems.id"], name=op.f("fk_system_blockers_system_id_ai_systems"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("system_id", "key", name=op.f("pk_system_blockers")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_system_blockers_key", "system_blockers", ["blocking", "key", "system_id"])
    stage = sa.Enum("idea", "pilot", "production", "retired", name="stage", native_enum=False, length=32)
    op.create_table(
        "stage_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("from_stage", stage, nullable=True),
        sa.Column("stage", stage, nullable=False),
        sa.Column("entered_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("left_at", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("days_in_stage", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["system_id"], ["ai_systems.id"], name=op.f("fk_stage_changes_system_id_ai_systems"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_changes")),
    )
    op.create_index("ix_stage_changes_system", "stage_changes", ["system_id", "entered_at"])
    op.create_index("ix_stage_changes_stage", "stage_changes", ["stage", "system_id"])
    op.create_index("ix_stage_changes_stay", "stage_changes", ["stage", "days_in_stage"])
    op.execute("INSERT INTO stage_changes (system_id, from_stage, stage, entered_at) "
               "SELECT id, NULL, stage, created_at FROM ai_systems")


def downgrade() -> None:
    op.drop_index("ix_stage_changes_stay", table_name="stage_changes")
    op.drop_index("ix_stage_changes_stage", table_name="stage_changes")
    op.drop_index("ix_stage_changes_system", table_name="stage_changes")
    op.drop_table("stage_changes")
    op.drop_table("blocker_counts")
    op.drop_table("blocker_dim_counts")
    op.drop_index("ix_system_blockers_key", table_name="system_blockers")
    op.drop_table("system_blockers")
    op.drop_index("ix_system_states_decision_verdict", table_name="system_states")
    op.drop_index("ix_system_states_recommendation", table_name="system_states")
    op.drop_index("ix_system_states_valid_until", table_name="system_states")
    op.drop_table("system_states")
