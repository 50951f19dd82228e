"""A system's answer to one of the five readiness questions, with its review lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.auth.models import User
from registry.db import Base, enum_column, utcnow
from registry.enums import AnswerStatus, Question


class ReadinessAnswer(Base):
    __tablename__ = "readiness_answers"
    __table_args__ = (
        UniqueConstraint("system_id", "question"),
        # the review queue: submitted answers oldest first; systems with every answer accepted
        Index("ix_readiness_answers_status", "status", "submitted_at"),
        Index("ix_readiness_answers_status_system", "status", "system_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"))
    question: Mapped[Question] = mapped_column(enum_column(Question))
    status: Mapped[AnswerStatus] = mapped_column(enum_column(AnswerStatus), default=AnswerStatus.DRAFT)
    # The structured answer; its shape per question is in registry/readiness/schemas.py.
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attestation: Mapped[str | None] = mapped_column(Text)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None]
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]
    review_comment: Mapped[str | None] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id], lazy="joined")
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id], lazy="joined")

    __mapper_args__ = {"version_id_col": version}
