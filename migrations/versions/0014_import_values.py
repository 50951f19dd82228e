"""what the last import set

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 16:00:00

- ``ai_systems.import_values``: the values the last import set on an imported record, field by
  field.  A re-import compares the file with them, not with the record as it is now: a field
  edited in the registry since stays as edited unless the file itself changed.  Records imported
  before this revision have none, and are compared with their current values as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ai_systems", sa.Column("import_values", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE ai_systems DROP COLUMN import_values")  # SQLite 3.35+ and PostgreSQL
