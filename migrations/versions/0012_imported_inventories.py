"""imported inventories: where a record came from, what the source carried, owner optional

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 13:40:00

- ``ai_systems.external_key`` (unique) and ``external_id``, ``import_source``, ``import_row``,
  ``imported_at``: an imported record, matched on its external key when the file comes again.
- ``organisation``, ``topic_area``, ``outputs``, ``operational_date``: what real inventories carry.
- ``contact``: a named contact that is not a registry user (often a team mailbox), kept for
  assignment; ``accountable_owner_id`` becomes nullable for exactly those records.
- ``missing_fields``: fields the source lacked, imported as missing and flagged.
- ``import_mappings``: column and value mappings saved by name.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COLUMNS = (
    ("external_key", sa.String(400), {"nullable": True}),
    ("external_id", sa.String(200), {"nullable": False, "server_default": ""}),
    ("import_source", sa.String(300), {"nullable": False, "server_default": ""}),
    ("import_row", sa.Integer(), {"nullable": True}),
    ("imported_at", sa.DateTime(timezone=True), {"nullable": True}),
    ("organisation", sa.String(200), {"nullable": False, "server_default": ""}),
    ("topic_area", sa.String(120), {"nullable": False, "server_default": ""}),
    ("outputs", sa.Text(), {"nullable": False, "server_default": ""}),
    ("operational_date", sa.Date(), {"nullable": True}),
    ("contact", sa.String(320), {"nullable": False, "server_default": ""}),
    ("missing_fields", sa.JSON(), {"nullable": False, "server_default": "[]"}),
)


def _alter(nullable: bool, name_len: int, unit_len: int) -> None:
    """The owner's nullability, and the widths of name and business unit (real inventories have
    names up to about 240 characters and bureau lists up to about 210); the business unit copied
    into the portfolio state tables follows."""
    text = {"existing_type": sa.String(), "existing_nullable": False}
    changes = {"ai_systems": (("accountable_owner_id", {"existing_type": sa.Integer(), "nullable": nullable}),
                              ("name", {**text, "type_": sa.String(name_len)}),
                              ("business_unit", {**text, "type_": sa.String(unit_len)})),
               "system_states": (("business_unit", {**text, "type_": sa.String(unit_len)}),),
               "blocker_dim_counts": (("business_unit", {**text, "type_": sa.String(unit_len)}),)}
    if op.get_bind().dialect.name == "sqlite":
        # A batch copy reflects ai_systems (directly, or through a foreign key), and SQLAlchemy
        # cannot reflect its expression index on lower(name): drop it around the copies.
        op.drop_index("ix_ai_systems_name_lower", "ai_systems")
        for table, columns in changes.items():
            with op.batch_alter_table(table) as batch:
                for column, kw in columns:
                    batch.alter_column(column, **kw)
        op.create_index("ix_ai_systems_name_lower", "ai_systems", [sa.text("lower(name)")])
    else:
        for table, columns in changes.items():
            for column, kw in columns:
                op.alter_column(table, column, **kw)


def upgrade() -> None:
    for name, type_, kw in COLUMNS:
        op.add_column("ai_systems", sa.Column(name, type_, **kw))
    op.create_index("ix_ai_systems_external_key", "ai_systems", ["external_key"], unique=True)
    _alter(True, 300, 300)
    op.create_table(
        "import_mappings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Back to 0011 (for developers): imported systems without an owner cannot be kept."""
    op.drop_table("import_mappings")
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM system_states WHERE system_id IN "
                         "(SELECT id FROM ai_systems WHERE accountable_owner_id IS NULL)"))
    unowned = bind.execute(sa.text("SELECT count(*) FROM ai_systems WHERE accountable_owner_id IS NULL")).scalar()
    if unowned:
        raise RuntimeError(f"{unowned} imported systems have no accountable owner: assign or delete them first.")
    _alter(False, 200, 120)
    op.drop_index("ix_ai_systems_external_key", "ai_systems")
    for name, _type, _kw in reversed(COLUMNS):
        op.execute(f"ALTER TABLE ai_systems DROP COLUMN {name}")
