"""jobs: heartbeats, stored results and retention (filled in by the jobs work of issue 17)

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29 21:50:01
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
