"""scale: indexes for 100,000 systems (filled in by the scale work of issue 17)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29 21:50:02
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
