"""people named on a system: one table for every separation-of-duties rule

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 06:40:00

``system_people`` holds who is named on each system and in which role: the accountable and
technical owner of the profile and the four owners of the ownership readiness answer.  It is
backfilled from ``ai_systems`` and the ownership answers' JSON.

``system_states.evidence_max_age_days`` records the setting a state was computed under, so a
changed EVIDENCE_MAX_AGE_DAYS makes every row out of date (existing rows have none: they are
recomputed on the next read).  Systems whose answers describe a prohibited practice get back
their UNACCEPTABLE tier if an earlier override lowered it (overrides of UNACCEPTABLE are refused
from now on).  ``ix_system_blockers_key`` goes: every reader of ``system_blockers`` reaches it by system (its
primary key) or scans it whole, and maintaining a second copy of half a million rows was a
seventh of the time it takes to seed 10,000 systems.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OWNERSHIP_ROLES = ("performance_owner", "review_queue_owner", "escalation_owner", "business_impact_owner")


def upgrade() -> None:
    op.create_table(
        "system_people",
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["system_id"], ["ai_systems.id"], name=op.f("fk_system_people_system_id_ai_systems"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_system_people_user_id_users")),
        sa.PrimaryKeyConstraint("system_id", "role", name=op.f("pk_system_people")),
    )
    op.create_index("ix_system_people_user", "system_people", ["user_id", "system_id"], unique=False)
    conn = op.get_bind()
    people = sa.table("system_people", sa.column("system_id", sa.Integer), sa.column("role", sa.String),
                      sa.column("user_id", sa.Integer))
    for role in ("accountable_owner", "technical_owner"):
        conn.execute(people.insert().from_select(
            ["system_id", "role", "user_id"],
            sa.select(sa.column("id"), sa.literal(role), sa.column(f"{role}_id"))
            .select_from(sa.table("ai_systems")).where(sa.column(f"{role}_id").is_not(None))))
    users = {row[0] for row in conn.execute(sa.text("SELECT id FROM users"))}
    rows = []
    for system_id, content in conn.execute(sa.text(
            "SELECT system_id, content FROM readiness_answers WHERE question = 'ownership'")):
        if isinstance(content, str):
            content = json.loads(content)
        for role in OWNERSHIP_ROLES:
            user_id = (content or {}).get(role)
            if isinstance(user_id, int) and user_id in users:
                rows.append({"system_id": system_id, "role": role, "user_id": user_id})
    if rows:
        conn.execute(people.insert(), rows)
    op.drop_index("ix_system_blockers_key", table_name="system_blockers")
    # A prohibited practice is never overridden: an override recorded before that rule no longer
    # lowers the effective tier (the override row stays visible on the system page).
    conn.execute(sa.text("UPDATE ai_systems SET tier = 'unacceptable' "
                         "WHERE computed_tier = 'unacceptable' AND tier <> 'unacceptable'"))
    with op.batch_alter_table("system_states") as batch:
        batch.add_column(sa.Column("evidence_max_age_days", sa.Integer(), nullable=True))
    op.create_index("ix_system_states_max_age", "system_states", ["evidence_max_age_days"])


def downgrade() -> None:
    op.drop_index("ix_system_states_max_age", table_name="system_states")
    with op.batch_alter_table("system_states") as batch:
        batch.drop_column("evidence_max_age_days")
    op.create_index("ix_system_blockers_key", "system_blockers", ["blocking", "key", "system_id"])
    op.drop_index("ix_system_people_user", table_name="system_people")
    op.drop_table("system_people")
