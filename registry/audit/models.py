"""One audit event: indexed columns for lookups, a canonical JSON payload, and the chain hash.

The hash covers ``prev_hash``, the indexed columns and the payload (see
``registry.audit.services.chain_text``).  What people read (summary, actor, time,
before/after) comes from the payload, so whatever the history page shows is covered by
the chain.
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
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    @cached_property
    def data(self) -> dict[str, Any]:
        return json.loads(self.payload)

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
