"""An incident of a system: what happened, how bad, to whom, where it stands, and what was learnt."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, enum_column, utcnow
from registry.enums import FailureMode, IncidentStatus, Severity


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_system_status", "system_id", "status", "severity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"))
    occurred_on: Mapped[date]
    severity: Mapped[Severity] = mapped_column(enum_column(Severity))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    affected: Mapped[str] = mapped_column(Text, default="", server_default="")  # people or organisations
    status: Mapped[IncidentStatus] = mapped_column(enum_column(IncidentStatus), default=IncidentStatus.OPEN)
    failure_mode: Mapped[FailureMode | None] = mapped_column(enum_column(FailureMode))  # None: not classified yet
    root_cause: Mapped[str] = mapped_column(Text, default="", server_default="")
    lessons: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
