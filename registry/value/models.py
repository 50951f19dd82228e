"""The value case of a system, and the record of a pilot stopped (the system is retired, kept)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.auth.models import User
from registry.db import Base, enum_column, utcnow
from registry.enums import Stage, StopReason


class ValueCase(Base):
    """What the system is worth and what it costs, per year, in ``currency``.  A missing figure is
    None (not recorded), never 0: a zero run cost is an answer, a blank one is not."""

    __tablename__ = "value_cases"

    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    expected_annual_value: Mapped[float | None] = mapped_column(Float)
    value_basis: Mapped[str] = mapped_column(Text, default="", server_default="")
    one_off_cost: Mapped[float | None] = mapped_column(Float)
    annual_run_cost: Mapped[float | None] = mapped_column(Float)  # compute, licences
    annual_maintenance_cost: Mapped[float | None] = mapped_column(Float)  # people, retraining, monitoring
    maintenance_team: Mapped[str] = mapped_column(String(300), default="", server_default="")
    run_funded_by: Mapped[str] = mapped_column(String(300), default="", server_default="")
    latency: Mapped[str] = mapped_column(String(300), default="", server_default="")
    volume: Mapped[str] = mapped_column(String(300), default="", server_default="")
    availability: Mapped[str] = mapped_column(String(300), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    updated_by: Mapped[User | None] = relationship(lazy="joined")

    # A save based on a stale copy fails at the UPDATE (StaleDataError → Conflict), as for answers.
    __mapper_args__ = {"version_id_col": version}


class PilotStop(Base):
    """A pilot stopped: why, what was learnt, by whom; the system was retired then (its record kept)."""

    __tablename__ = "pilot_stops"

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"), index=True)
    reason: Mapped[StopReason] = mapped_column(enum_column(StopReason))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    lessons: Mapped[str] = mapped_column(Text)
    stage_before: Mapped[Stage] = mapped_column(enum_column(Stage))
    stopped_at: Mapped[datetime] = mapped_column(default=utcnow)
    stopped_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    stopped_by: Mapped[User | None] = relationship(lazy="joined")
