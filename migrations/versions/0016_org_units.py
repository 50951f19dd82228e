"""organisation units: the list a system's business unit is chosen from

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 14:00:00

- ``org_units``: the business units an admin manages (add, rename, merge duplicates); the system
  form offers them in a select and the services refuse a unit that is not on it
  (``registry.inventory.units``).  ``ai_systems.business_unit`` keeps the unit's name as before
  (the filters, the portfolio state cache and the exports read it).
- The list starts as the distinct non-blank business units of the live systems, spelled as they
  are: duplicates that differ in case or spelling are merged by an admin on /admin/units.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    units = op.create_table(
        "org_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_org_units"),
        sa.UniqueConstraint("name", name="uq_org_units_name"),
    )
    names = op.get_bind().scalars(sa.text(
        "SELECT DISTINCT business_unit FROM ai_systems WHERE deleted_at IS NULL AND TRIM(business_unit) <> '' "
        "ORDER BY business_unit")).all()
    now = datetime.now(UTC)
    if names:
        op.bulk_insert(units, [{"name": name, "created_at": now} for name in names])


def downgrade() -> None:
    op.drop_table("org_units")
