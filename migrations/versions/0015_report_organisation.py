"""the organisation named on an issued audit PDF

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 10:00:00

- ``decision_reports.organisation_name``: the ``ORGANISATION_NAME`` printed on the PDF's cover
  and footer when it was issued.  PDFs issued before this revision name none ("").  Changing
  the setting later changes new PDFs only; an issued one is still served, verified and
  reproducible as issued.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("decision_reports", sa.Column("organisation_name", sa.String(200), nullable=False,
                                                server_default=""))


def downgrade() -> None:
    op.execute("ALTER TABLE decision_reports DROP COLUMN organisation_name")  # SQLite 3.35+ and PostgreSQL
