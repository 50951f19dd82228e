"""A recorded go / no-go decision and the frozen snapshot it was based on.  Never updated."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.auth.models import User
from registry.db import Base, enum_column, utcnow
from registry.enums import Verdict


class Decision(Base):
    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_system_decided", "system_id", "decided_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id"))
    verdict: Mapped[Verdict] = mapped_column(enum_column(Verdict))
    recommended: Mapped[Verdict] = mapped_column(enum_column(Verdict))
    rationale: Mapped[str] = mapped_column(Text)
    conditions: Mapped[list[str]] = mapped_column(default=list)
    expires_on: Mapped[date]
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    # Everything the decision was based on, as JSON, and the SHA-256 of its canonical form.
    snapshot: Mapped[dict[str, Any]] = mapped_column()
    snapshot_sha256: Mapped[str] = mapped_column(String(64))

    decided_by: Mapped[User] = relationship(foreign_keys=[decided_by_id], lazy="joined")

    def expired(self, today: date) -> bool:
        return self.expires_on < today


class ImmutableRecord(RuntimeError):
    """Raised when code tries to change or delete a recorded decision."""


@event.listens_for(Decision, "before_update")
def _no_update(_mapper, _connection, target: Decision) -> None:
    raise ImmutableRecord(f"Decision #{target.id} is recorded and cannot be changed; record a new one.")


@event.listens_for(Decision, "before_delete")
def _no_delete(_mapper, _connection, target: Decision) -> None:
    raise ImmutableRecord(f"Decision #{target.id} is recorded and cannot be deleted.")
