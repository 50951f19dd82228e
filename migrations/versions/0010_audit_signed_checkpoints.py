"""a signed audit chain: event signatures, checkpoints, no unhashed time

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 11:30:00

- ``audit_events.mac``: each new event's chain hash signed with the audit key (``AUDIT_KEY``,
  kept outside the database).  Events written before have none; the first write after this
  migration writes a signed checkpoint that covers them (``registry.audit.checkpoints``), and
  ``registry audit verify`` says so until then.
- ``audit_checkpoints``: numbered, signed statements of the chain's head; append-only like the
  trail (triggers refuse UPDATE and DELETE, and TRUNCATE on PostgreSQL).
- ``audit_events.occurred_at`` is dropped: it was not covered by the hash, and the time the
  history shows is the hashed record's ``at``.  (Downgrading puts it back from the records.)
"""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

MESSAGE = "the audit trail is append-only: audit_checkpoints rows cannot be changed or deleted"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.add_column("audit_events", sa.Column("mac", sa.String(64), nullable=True))
    op.execute("ALTER TABLE audit_events DROP COLUMN occurred_at")
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("previous", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_checkpoints"),
        sa.UniqueConstraint("number", name="uq_audit_checkpoints_number"),
    )
    if postgres:
        op.execute(f"CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger AS $$ BEGIN "
                   f"RAISE EXCEPTION '{MESSAGE}'; END; $$ LANGUAGE plpgsql")
        for verb in ("update", "delete"):
            op.execute(f"CREATE TRIGGER audit_checkpoints_no_{verb} BEFORE {verb.upper()} ON audit_checkpoints "
                       "FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only()")
        op.execute("CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_append_only()")
    else:
        for verb in ("update", "delete"):
            op.execute(f"CREATE TRIGGER audit_checkpoints_no_{verb} BEFORE {verb.upper()} ON audit_checkpoints "
                       f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")


def downgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.drop_table("audit_checkpoints")  # its triggers go with it
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS audit_checkpoints_append_only()")
    op.add_column("audit_events", sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True))
    # The time comes back from each hashed record; the append-only triggers are lifted for it.
    _lift_update_trigger(bind, postgres)
    events = sa.table("audit_events", sa.column("id"), sa.column("record"), sa.column("occurred_at"))
    rows = bind.execute(sa.select(events.c.id, events.c.record)).all()
    for row_id, record in rows:
        at = datetime.fromisoformat(json.loads(record.split("\n", 2)[2])["at"])
        bind.execute(events.update().where(events.c.id == row_id).values(occurred_at=at))
    _restore_update_trigger(postgres)
    op.drop_column("audit_events", "mac")
    with op.batch_alter_table("audit_events") as batch:  # NOT NULL again, as 0001 made it
        batch.alter_column("occurred_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    if not postgres:  # SQLite rebuilt the table, and its triggers went with the old one
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{verb}")
            op.execute(f"CREATE TRIGGER audit_events_no_{verb} BEFORE {verb.upper()} ON audit_events BEGIN SELECT "
                       "RAISE(ABORT, 'the audit trail is append-only: audit_events rows cannot be changed or deleted'); "
                       "END")


def _lift_update_trigger(bind, postgres: bool) -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_update" + (" ON audit_events" if postgres else ""))


def _restore_update_trigger(postgres: bool) -> None:
    if postgres:
        op.execute("CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
                   "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()")
    else:
        op.execute("CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT "
                   "RAISE(ABORT, 'the audit trail is append-only: audit_events rows cannot be changed or deleted'); END")
