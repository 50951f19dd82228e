"""confirmed tier overrides, verified-control counts, owner acknowledgements

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 09:10:00

- ``ai_systems.tier_override_against``: the tier the rules gave when the override was made (an
  override lapses when the rules later give a higher one), and who confirmed a downward
  override (a second compliance officer) and when.  Existing overrides are recorded as made
  against today's computed tier; a downward one was never confirmed, so the effective tier goes
  back to the computed tier until a second officer confirms it, and a decided system whose
  tier goes back is flagged "re-review required" with that reason.
- Human-workflow answers that were submitted or accepted with no automation threshold were
  given under the old form, which said "leave empty if no output is ever used without a person
  confirming it": they get the explicit ``never_automate`` that form meant.
- ``system_states.required_controls`` / ``verified_controls``: "N of M required controls
  verified" for lists and the portfolio.  Every state is marked out of date (recomputed on the
  next read), since the go / no-go rules now look at verification.
- ``decision_acknowledgements``: the accountable owner's dated acknowledgement of a decision
  and its conditions (decisions themselves are never updated); ``decisions.accountable_owner_id``
  records who that owner was when the decision was taken (none for earlier decisions: their
  system's accountable owner acknowledges them).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TIER = sa.Enum("low", "medium", "high", "unacceptable", name="tier", native_enum=False, length=32)


def _rank(column: str) -> str:
    return f"CASE {column} WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END"


def _add_user_reference(table: str, column: str) -> None:
    """A nullable column referencing users, added in place (no batch copy on SQLite: that would
    drop the expression index on ``ai_systems.name``; SQLite takes the REFERENCES clause inline)."""
    name = f"fk_{table}_{column}_users"
    if op.get_bind().dialect.name == "sqlite":
        op.get_bind().execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER "
                                      f"CONSTRAINT {name} REFERENCES users (id)"))
    else:
        op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
        op.create_foreign_key(op.f(name), table, "users", [column], ["id"])


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy on SQLite: that would drop the expression index on name).
    op.add_column("ai_systems", sa.Column("tier_override_against", TIER, nullable=True))
    conn = op.get_bind()
    _add_user_reference("ai_systems", "tier_override_confirmed_by_id")
    op.add_column("ai_systems", sa.Column("tier_override_confirmed_at", sa.DateTime(timezone=True), nullable=True))
    conn.execute(sa.text("UPDATE ai_systems SET tier_override_against = computed_tier WHERE tier_override IS NOT NULL"))
    reverted = (f"tier_override IS NOT NULL AND computed_tier <> 'unacceptable' "
                f"AND {_rank('tier_override')} < {_rank('computed_tier')}")
    now = datetime.now(UTC) if conn.dialect.name != "sqlite" else datetime.now(UTC).replace(tzinfo=None)
    reason = ("Migration 0008: a tier override below the computed tier was never confirmed by a second compliance "
              "officer; the computed tier applies until one confirms it")
    for system_id, reasons in conn.execute(sa.text(
            f"SELECT id, re_review_reasons FROM ai_systems WHERE {reverted} AND tier <> computed_tier "
            "AND id IN (SELECT system_id FROM decisions)")).all():
        reasons = json.loads(reasons) if isinstance(reasons, str) else list(reasons or [])
        conn.execute(sa.text("UPDATE ai_systems SET re_review_required_at = coalesce(re_review_required_at, :now), "
                             "re_review_reasons = :reasons WHERE id = :id")
                     .bindparams(sa.bindparam("now", type_=sa.DateTime(timezone=True)),
                                 sa.bindparam("reasons", type_=sa.JSON)),
                     {"now": now, "reasons": [*reasons, reason], "id": system_id})
    conn.execute(sa.text(f"UPDATE ai_systems SET tier = computed_tier WHERE {reverted}"))
    for answer_id, status, content in conn.execute(sa.text(
            "SELECT id, status, content FROM readiness_answers WHERE question = 'human_workflow' "
            "AND status IN ('submitted', 'accepted')")).all():
        content = json.loads(content) if isinstance(content, str) else dict(content or {})
        if content.get("automate_at") is None and "never_automate" not in content:
            content["never_automate"] = True
            conn.execute(sa.text("UPDATE readiness_answers SET content = :content WHERE id = :id")
                         .bindparams(sa.bindparam("content", type_=sa.JSON)), {"content": content, "id": answer_id})
    with op.batch_alter_table("system_states") as batch:
        batch.add_column(sa.Column("required_controls", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("verified_controls", sa.Integer(), nullable=False, server_default="0"))
    conn.execute(sa.text("UPDATE system_states SET evidence_max_age_days = NULL"))
    op.create_table(
        "decision_acknowledgements",
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"],
                                name=op.f("fk_decision_acknowledgements_decision_id_decisions")),
        sa.ForeignKeyConstraint(["system_id"], ["ai_systems.id"],
                                name=op.f("fk_decision_acknowledgements_system_id_ai_systems")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_decision_acknowledgements_user_id_users")),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_decision_acknowledgements")),
    )
    op.create_index("ix_decision_acknowledgements_system", "decision_acknowledgements", ["system_id"])
    _add_user_reference("decisions", "accountable_owner_id")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("fk_decisions_accountable_owner_id_users"), "decisions", type_="foreignkey")
    op.drop_column("decisions", "accountable_owner_id")
    op.drop_index("ix_decision_acknowledgements_system", table_name="decision_acknowledgements")
    op.drop_table("decision_acknowledgements")
    with op.batch_alter_table("system_states") as batch:
        batch.drop_column("verified_controls")
        batch.drop_column("required_controls")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("fk_ai_systems_tier_override_confirmed_by_id_users"), "ai_systems", type_="foreignkey")
    for column in ("tier_override_confirmed_at", "tier_override_confirmed_by_id", "tier_override_against"):
        op.drop_column("ai_systems", column)
