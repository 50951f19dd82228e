"""tier rules v2: the EU AI Act class and the OMB M-25-21 flag stored, new risk questions

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 12:20:00

- ``ai_systems.eu_class`` / ``eu_basis`` / ``omb_high_impact`` / ``omb_basis``: what the rules derive
  beside the tier (None for existing systems until they are recomputed: "not recorded").
- ``ai_systems.tier_rules``: the rules version that computed the stored tier; existing systems are
  at 1.  ``registry db upgrade`` then recomputes every system below the current version through the
  app (``registry.inventory.services.recompute_tiers``), which writes an audit event per system
  whose tier changed and flags decided ones for re-review; a migration cannot do that itself, as
  audit events are signed with a key the database never sees.
- ``ai_systems.declared_*``: a high-impact / high-risk determination made outside the registry, shown
  beside the computed one.
- ``controls.flags`` / ``waivable`` / ``related``: catalogues whose controls apply by flag (the OMB
  M-25-21 minimum practices, the EU AI Act high-risk obligations), may be waived, and name the NIST
  AI RMF subcategories that cover them; ``control_assessments.waiver_*``: a waiver's reason, who
  granted it and its expiry (status ``waived``).
- Answers move to the new questions: "critical infrastructure operation" was listed among
  decisions about people and is now a harm (``safety_harms``); "biometric identification" is now a
  biometric use (``biometric_uses``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

MOVED = {"critical_infrastructure": ("safety_harms", "critical_infrastructure"),
         "biometric_identification": ("biometric_uses", "identification")}


def upgrade() -> None:
    op.add_column("ai_systems", sa.Column("eu_class", sa.Enum(
        "prohibited", "high_risk_annex_i", "high_risk_annex_iii", "annex_iii_not_high", "limited", "minimal",
        name="euclass", native_enum=False, length=32), nullable=True))
    op.add_column("ai_systems", sa.Column("eu_basis", sa.String(80), nullable=False, server_default=""))
    op.add_column("ai_systems", sa.Column("omb_high_impact", sa.Boolean(), nullable=True))
    op.add_column("ai_systems", sa.Column("omb_basis", sa.Text(), nullable=False, server_default=""))
    op.add_column("ai_systems", sa.Column("tier_rules", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("ai_systems", sa.Column("declared_high_impact", sa.Boolean(), nullable=True))
    op.add_column("ai_systems", sa.Column("declared_regime", sa.Enum(
        "omb_m_25_21", "eu_ai_act", "other", name="declaredregime", native_enum=False, length=32),
        nullable=False, server_default="other"))
    op.add_column("ai_systems", sa.Column("declared_justification", sa.Text(), nullable=False, server_default=""))
    op.add_column("ai_systems", sa.Column("declared_source", sa.String(300), nullable=False, server_default=""))
    op.add_column("controls", sa.Column("flags", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("controls", sa.Column("waivable", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("controls", sa.Column("related", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("control_assessments", sa.Column("waiver_reason", sa.Text(), nullable=True))
    op.add_column("control_assessments", sa.Column("waiver_granted_by", sa.String(200), nullable=True))
    op.add_column("control_assessments", sa.Column("waiver_expires_on", sa.Date(), nullable=True))
    systems = sa.table("ai_systems", sa.column("id", sa.Integer), sa.column("risk_answers", sa.JSON))
    bind = op.get_bind()
    for system_id, answers in bind.execute(sa.select(systems.c.id, systems.c.risk_answers)).all():
        answers = dict(answers or {})
        domains = list(answers.get("decision_domains") or [])
        moved = [d for d in domains if d in MOVED]
        if not moved:
            continue
        answers["decision_domains"] = [d for d in domains if d not in MOVED]
        for old in moved:
            key, value = MOVED[old]
            answers[key] = sorted({*(answers.get(key) or []), value})
        bind.execute(systems.update().where(systems.c.id == system_id).values(risk_answers=answers))


def downgrade() -> None:
    """Back to the old questions (for developers): new answers nearest old ones or dropped; the
    organisations and children added to who a system affects are dropped."""
    systems = sa.table("ai_systems", sa.column("id", sa.Integer), sa.column("risk_answers", sa.JSON),
                       sa.column("affects", sa.JSON))
    bind = op.get_bind()
    back = {(key, value): old for old, (key, value) in MOVED.items()}
    nearest = {"other_insurance": "insurance", "travel_documents": "migration"}
    rows = bind.execute(sa.select(systems.c.id, systems.c.risk_answers, systems.c.affects)).all()
    for system_id, answers, affects in rows:
        answers = dict(answers or {})
        domains = [nearest.get(d, d) for d in answers.get("decision_domains") or []]
        for (key, value), old in back.items():
            if value in (answers.get(key) or []):
                domains.append(old)
        for key in ("decision_role", "safety_harms", "biometric_uses", "profiling", "acts_on_people"):
            answers.pop(key, None)
        answers["decision_domains"] = list(dict.fromkeys(domains))
        affects = [a for a in affects or [] if a not in ("children", "organisations")] or ["public"]
        bind.execute(systems.update().where(systems.c.id == system_id).values(risk_answers=answers, affects=affects))
    assessments = sa.table("control_assessments", sa.column("status", sa.String))
    bind.execute(assessments.update().where(assessments.c.status == "waived").values(status="not_started"))
    # Plain DROP COLUMN (SQLite 3.35+ and PostgreSQL): a batch copy of ai_systems would have to
    # reflect its expression index on lower(name), which SQLAlchemy cannot.
    for table, columns in (("control_assessments", ("waiver_expires_on", "waiver_granted_by", "waiver_reason")),
                           ("controls", ("related", "waivable", "flags")),
                           ("ai_systems", ("declared_source", "declared_justification", "declared_regime", "declared_high_impact",
                                           "tier_rules", "omb_basis", "omb_high_impact", "eu_basis", "eu_class"))):
        for column in columns:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
