"""audit events: the hashed record is stored as hashed (previous hash, indexed columns, JSON payload)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 19:10:00

Verification then is a read and a hash per event, with no JSON encoding or string
building, which is what makes a million events verify within two seconds.  Existing events
are moved into the payload and the chain is re-linked in its existing order; run
``registry audit verify`` before upgrading if the old chain's integrity matters.
"""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _iso(value) -> str:
    from datetime import UTC, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _json(value):
    if value is None or isinstance(value, dict):
        return value
    return json.loads(value)


def _old_digest(row, prev_hash: str) -> str:
    """The hash of the 0001 format (registry.audit.services.event_digest before 0003)."""
    payload = {
        "seq": row.seq, "occurred_at": _iso(row.occurred_at), "actor_id": row.actor_id,
        "actor_label": row.actor_label, "action": row.action, "entity_type": row.entity_type,
        "entity_id": row.entity_id, "system_id": row.system_id, "summary": row.summary,
        "before": _json(row.before), "after": _json(row.after), "address": row.address, "prev_hash": prev_hash,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _check_old_chain(rows) -> None:
    prev = GENESIS
    for expected, row in enumerate(rows, start=1):
        if row.seq != expected or row.prev_hash != prev or _old_digest(row, prev) != row.hash:
            raise RuntimeError(
                f"The audit chain is broken at event #{row.seq}: the upgrade refuses to re-link it. "
                "Investigate with the previous release's `registry audit verify` first.")
        prev = row.hash


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("record", sa.Text(), nullable=False, server_default=""))
    bind = op.get_bind()
    events = sa.table(
        "audit_events", sa.column("id"), sa.column("seq"), sa.column("occurred_at"), sa.column("actor_id"),
        sa.column("actor_label"), sa.column("action"), sa.column("entity_type"), sa.column("entity_id"),
        sa.column("system_id"), sa.column("summary"), sa.column("before"), sa.column("after"),
        sa.column("address"), sa.column("record"), sa.column("prev_hash"), sa.column("hash"),
    )
    prev = GENESIS
    rows = bind.execute(sa.select(events).order_by(events.c.seq)).all()
    _check_old_chain(rows)  # never re-link a chain that was already broken: that would launder it
    for row in rows:
        payload = json.dumps(
            {"at": _iso(row.occurred_at), "actor": row.actor_label, "summary": row.summary or "",
             "before": _json(row.before), "after": _json(row.after), "address": row.address},
            sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        )
        parts = (row.seq, row.actor_id, row.action, row.entity_type, row.entity_id, row.system_id)
        record = prev + "\n" + "|".join("" if p is None else str(p) for p in parts) + "\n" + payload
        digest = hashlib.sha256(record.encode("utf-8")).hexdigest()
        bind.execute(events.update().where(events.c.id == row.id).values(record=record, hash=digest))
        prev = digest
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("record", server_default=None)
        for name in ("actor_label", "summary", "before", "after", "address", "prev_hash"):
            batch_op.drop_column(name)


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actor_label", sa.String(length=300), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("summary", sa.String(length=500), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("before", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("after", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("address", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=False, server_default=""))
    bind = op.get_bind()
    events = sa.table("audit_events", sa.column("id"), sa.column("record"), sa.column("actor_label"),
                      sa.column("summary"), sa.column("before", sa.JSON()), sa.column("after", sa.JSON()),
                      sa.column("address"), sa.column("prev_hash"))
    for row in bind.execute(sa.select(events.c.id, events.c.record)).all():
        prev, _index, payload = row.record.split("\n", 2)
        data = json.loads(payload)
        bind.execute(events.update().where(events.c.id == row.id).values(
            actor_label=data.get("actor", ""), summary=data.get("summary", ""), before=data.get("before"),
            after=data.get("after"), address=data.get("address"), prev_hash=prev))
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("record")
    # The old format hashed differently: run `registry audit verify` on the old code to re-check.
