"""A recorded go / no-go decision and the frozen snapshot it was based on.  Never updated."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, event, func, select
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
    # The system's accountable owner when the decision was taken: the one who acknowledges it
    # (None for decisions recorded before migration 0008: the system's owner then).
    accountable_owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    # Everything the decision was based on, as JSON, and the SHA-256 of its canonical form.
    snapshot: Mapped[dict[str, Any]] = mapped_column()
    snapshot_sha256: Mapped[str] = mapped_column(String(64))

    decided_by: Mapped[User] = relationship(foreign_keys=[decided_by_id], lazy="joined")

    def owner_to_acknowledge(self, current_owner_id: int) -> int:
        return self.accountable_owner_id or current_owner_id

    def expired(self, today: date) -> bool:
        return self.expires_on < today


class DecisionAcknowledgement(Base):
    """The accountable owner's acknowledgement of a decision and its conditions: dated, once,
    never changed.  Kept apart because a decision (and its frozen PDF) is never updated."""

    __tablename__ = "decision_acknowledgements"
    __table_args__ = (Index("ix_decision_acknowledgements_system", "system_id"),)

    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"), primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


def current_decisions(system_ids=None):
    """Subquery (system_id, decision_id): every decided system's *current* decision.

    The one definition: the latest by ``decided_at``, ties broken by the higher id (a decision
    supersedes the one current when it is recorded).  ``system_ids`` (a list or a select of ids)
    narrows the systems before ranking."""
    ranked = select(Decision.system_id, Decision.id.label("decision_id"), func.row_number().over(
        partition_by=Decision.system_id, order_by=(Decision.decided_at.desc(), Decision.id.desc())).label("rank"))
    if system_ids is not None:
        ranked = ranked.where(Decision.system_id.in_(system_ids))
    ranked = ranked.subquery()
    return select(ranked.c.system_id, ranked.c.decision_id).where(ranked.c.rank == 1).subquery()


class ImmutableRecord(RuntimeError):
    """Raised when code tries to change or delete a recorded decision."""


@event.listens_for(Decision, "before_update")
def _no_update(_mapper, _connection, target: Decision) -> None:
    raise ImmutableRecord(f"Decision #{target.id} is recorded and cannot be changed; record a new one.")


@event.listens_for(Decision, "before_delete")
def _no_delete(_mapper, _connection, target: Decision) -> None:
    raise ImmutableRecord(f"Decision #{target.id} is recorded and cannot be deleted.")
