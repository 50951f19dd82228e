"""Observations of a baseline metric over time, the metric's drift rule, and the drift alerts
the rule opens (``registry.monitoring.drift`` evaluates it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, enum_column, utcnow
from registry.enums import AlertStatus, BandKind, DriftReference, ObservationSource


class Observation(Base):
    """One measured value of a metric at a moment; (metric, observed_at) is unique, so sending the
    same observation twice (a monitoring job's retry) changes nothing."""

    __tablename__ = "observations"
    __table_args__ = (UniqueConstraint("metric_id", "observed_at", name="uq_observations_metric_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    metric_id: Mapped[int] = mapped_column(ForeignKey("baseline_metrics.id", ondelete="CASCADE"))
    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"), index=True)
    observed_at: Mapped[datetime]
    value: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(String(500), default="", server_default="")
    source: Mapped[ObservationSource] = mapped_column(enum_column(ObservationSource))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class DriftRule(Base):
    """The band a metric must stay in: around its baseline or target, absolute (in the metric's
    unit) or relative (a fraction of the reference), below and/or above; a breach counts once
    ``min_observations`` exist, and an alert opens after ``consecutive`` breaches in a row."""

    __tablename__ = "drift_rules"

    metric_id: Mapped[int] = mapped_column(ForeignKey("baseline_metrics.id", ondelete="CASCADE"), primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"), index=True)
    reference: Mapped[DriftReference] = mapped_column(enum_column(DriftReference))
    band_kind: Mapped[BandKind] = mapped_column(enum_column(BandKind))
    below: Mapped[float | None] = mapped_column(Float)  # how far under the reference is still in band
    above: Mapped[float | None] = mapped_column(Float)  # how far over the reference is still in band
    min_observations: Mapped[int] = mapped_column(Integer, default=1)
    consecutive: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class DriftAlert(Base):
    """A metric out of its band for ``consecutive`` observations in a row: open until a person
    resolves it with a note (audited).  At most one open alert per metric."""

    __tablename__ = "drift_alerts"
    __table_args__ = (Index("ix_drift_alerts_system_status", "system_id", "status"),
                      Index("ix_drift_alerts_metric_status", "metric_id", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    metric_id: Mapped[int] = mapped_column(ForeignKey("baseline_metrics.id", ondelete="CASCADE"))
    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"))
    status: Mapped[AlertStatus] = mapped_column(enum_column(AlertStatus), default=AlertStatus.OPEN)
    opened_at: Mapped[datetime]  # when the first breach of the run was observed
    breaches: Mapped[int] = mapped_column(Integer, default=1)  # breaching observations in the run
    last_value: Mapped[float] = mapped_column(Float)
    last_observed_at: Mapped[datetime]
    summary: Mapped[str] = mapped_column(String(500))  # e.g. "Precision 71.0 % below the band 90.0–100.0"
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution_note: Mapped[str] = mapped_column(Text, default="", server_default="")
