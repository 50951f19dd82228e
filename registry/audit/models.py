"""One audit event: a hashed record, indexed columns for lookups, the chain hash and its signature;
and the signed checkpoints of the chain.

``record`` is the exact text the hash covers, in three lines: the previous event's hash;
the indexed columns (``seq|actor_id|action|entity_type|entity_id|system_id``); and the
canonical JSON of what people read (time, actor, summary, before/after, address).  Pages
read that JSON, so whatever the history shows is covered by the chain, and verification
checks that the indexed columns say the same as the record's second line.  The time an event
happened is the record's ``at`` (``AuditEvent.when``): there is no unhashed time column.

``mac`` signs the chain hash with the audit key (``registry.audit.keys``); events written
before the key existed have none, and are covered by the first checkpoint signed after them.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(60), index=True)
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    system_id: Mapped[int | None] = mapped_column(index=True)
    record: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str | None] = mapped_column(String(64))

    @property
    def prev_hash(self) -> str:
        return self.record[:64]

    @cached_property
    def data(self) -> dict[str, Any]:
        return json.loads(self.record.split("\n", 2)[2])

    @property
    def actor_label(self) -> str:
        return self.data.get("actor", "")

    @property
    def summary(self) -> str:
        return self.data.get("summary", "")

    @property
    def before(self) -> dict | None:
        return self.data.get("before")

    @property
    def after(self) -> dict | None:
        return self.data.get("after")

    @property
    def address(self) -> str | None:
        return self.data.get("address")

    @property
    def when(self) -> datetime:
        """The time as recorded in the hashed payload (the column is only an index)."""
        return datetime.fromisoformat(self.data["at"])


class AuditCheckpoint(Base):
    """A signed statement that the chain held ``events`` events, the newest #``seq`` with hash
    ``head_hash``, at ``created_at``.  Checkpoints are numbered and each signs its predecessor's
    signature, so that a deleted or edited checkpoint is seen as well.  ``signed_text`` is what the
    signature covers; ``registry audit checkpoint`` prints the same fields for keeping elsewhere."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(64))
    events: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(20))
    key_id: Mapped[str] = mapped_column(String(16))
    previous: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(64))

    def signed_text(self) -> str:
        return checkpoint_text(self.number, self.seq, self.head_hash, self.events, self.created_at, self.reason,
                               self.key_id, self.previous)

    def document(self) -> dict[str, Any]:
        """The checkpoint as printed for keeping outside the database (``registry audit checkpoint``)."""
        return {"readiness_registry_audit_checkpoint": 1, "number": self.number, "seq": self.seq,
                "hash": self.head_hash, "events": self.events, "at": iso_time(self.created_at),
                "reason": self.reason, "key_id": self.key_id, "previous": self.previous,
                "signature": self.signature}


def iso_time(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def checkpoint_text(number: int, seq: int, head_hash: str, events: int, at: datetime, reason: str, key_id: str,
                    previous: str) -> str:
    return "|".join(("checkpoint", str(number), str(seq), head_hash, str(events), iso_time(at), reason, key_id,
                     previous))
