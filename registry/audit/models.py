"""One audit event: a hashed record, indexed columns for lookups, and the chain hash.

``record`` is the exact text the hash covers, in three lines: the previous event's hash;
the indexed columns (``seq|actor_id|action|entity_type|entity_id|system_id``); and the
canonical JSON of what people read (time, actor, summary, before/after, address).  Pages
read that JSON, so whatever the history shows is covered by the chain, and verification
checks that the indexed columns say the same as the record's second line.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(60), index=True)
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    system_id: Mapped[int | None] = mapped_column(index=True)
    record: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(String(64))

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
