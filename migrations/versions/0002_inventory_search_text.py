"""inventory search text and narrow indexes for the list page

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:11:37
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ai_systems", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
    bind = op.get_bind()
    systems = sa.table("ai_systems", sa.column("id"), sa.column("name"), sa.column("purpose"),
                       sa.column("business_unit"), sa.column("vendor_name"), sa.column("search_text"))
    rows = bind.execute(sa.select(systems.c.id, systems.c.name, systems.c.purpose, systems.c.business_unit,
                                  systems.c.vendor_name)).all()
    for row in rows:  # lower-cased in Python, as the application does
        text = "\n".join(p for p in (row.name, row.purpose, row.business_unit, row.vendor_name or "") if p).lower()
        bind.execute(systems.update().where(systems.c.id == row.id).values(search_text=text))
    with op.batch_alter_table("ai_systems", schema=None) as batch_op:
        batch_op.alter_column("search_text", server_default=None)
        batch_op.drop_index("ix_ai_systems_business_unit")
        batch_op.drop_index("ix_ai_systems_accountable_owner_id")
        batch_op.create_index("ix_ai_systems_live", ["deleted_at"])
        batch_op.create_index("ix_ai_systems_unit_live", ["business_unit", "deleted_at"])
        batch_op.create_index("ix_ai_systems_owner_live", ["accountable_owner_id", "deleted_at"])
    op.create_index("ix_ai_systems_name_lower", "ai_systems", [sa.text("lower(name)")])


def downgrade() -> None:
    op.drop_index("ix_ai_systems_name_lower", "ai_systems")
    with op.batch_alter_table("ai_systems", schema=None) as batch_op:
        batch_op.drop_index("ix_ai_systems_owner_live")
        batch_op.drop_index("ix_ai_systems_unit_live")
        batch_op.drop_index("ix_ai_systems_live")
        batch_op.create_index("ix_ai_systems_accountable_owner_id", ["accountable_owner_id"])
        batch_op.create_index("ix_ai_systems_business_unit", ["business_unit"])
        batch_op.drop_column("search_text")
