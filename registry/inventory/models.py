"""An AI system record, its data categories and its baseline metrics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.auth.models import User
from registry.db import Base, enum_column, utcnow
from registry.enums import Autonomy, DataCategory, Kind, MetricDirection, Sourcing, Stage, Tier


class AISystem(Base):
    __tablename__ = "ai_systems"
    # Narrow indexes that let the inventory count, page and fill its filter menus
    # without reading the wide rows.
    __table_args__ = (
        Index("ix_ai_systems_tier_stage", "tier", "stage"),
        Index("ix_ai_systems_updated_at", "updated_at"),
        Index("ix_ai_systems_live", "deleted_at"),
        Index("ix_ai_systems_name_lower", func.lower(text("name"))),
        Index("ix_ai_systems_unit_live", "business_unit", "deleted_at"),
        Index("ix_ai_systems_owner_live", "accountable_owner_id", "deleted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    business_process: Mapped[str] = mapped_column(String(300))
    business_unit: Mapped[str] = mapped_column(String(120))
    accountable_owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    technical_owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    sourcing: Mapped[Sourcing] = mapped_column(enum_column(Sourcing))
    vendor_name: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[Kind] = mapped_column(enum_column(Kind), index=True)
    stage: Mapped[Stage] = mapped_column(enum_column(Stage), index=True)
    affects: Mapped[list[str]] = mapped_column(default=list)
    decisions_influenced: Mapped[str] = mapped_column(Text, default="")
    autonomy: Mapped[Autonomy] = mapped_column(enum_column(Autonomy))

    # Risk tier: the questionnaire answers, the tier the rules computed and why, and the
    # effective tier (the override when there is one) that every list filters on.
    risk_answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    computed_tier: Mapped[Tier] = mapped_column(enum_column(Tier))
    tier_reasons: Mapped[list[str]] = mapped_column(default=list)
    tier: Mapped[Tier] = mapped_column(enum_column(Tier), index=True)
    tier_override: Mapped[Tier | None] = mapped_column(enum_column(Tier))
    tier_override_reason: Mapped[str | None] = mapped_column(Text)
    tier_override_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    tier_override_at: Mapped[datetime | None]

    # Lower-cased name, purpose, unit and vendor: one column for the inventory search, kept
    # by the services on every write (see ``search_text_for``), lower-cased in Python so
    # that SQLite and PostgreSQL match non-ASCII text alike.
    search_text: Mapped[str] = mapped_column(Text, default="")

    # Set when a material change (tier, data, autonomy, kind, going to production) follows a
    # recorded decision; cleared by the next decision.  The reasons say what changed.
    re_review_required_at: Mapped[datetime | None]
    re_review_reasons: Mapped[list[str]] = mapped_column(default=list)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    accountable_owner: Mapped[User] = relationship(foreign_keys=[accountable_owner_id], lazy="joined")
    technical_owner: Mapped[User | None] = relationship(foreign_keys=[technical_owner_id], lazy="joined")
    tier_override_by: Mapped[User | None] = relationship(foreign_keys=[tier_override_by_id])
    data_links: Mapped[list[SystemDataCategory]] = relationship(
        back_populates="system", cascade="all, delete-orphan", lazy="selectin"
    )
    metrics: Mapped[list[BaselineMetric]] = relationship(
        back_populates="system", cascade="all, delete-orphan", order_by="BaselineMetric.id"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def data_categories(self) -> list[DataCategory]:
        return sorted((link.category for link in self.data_links), key=lambda c: list(DataCategory).index(c))

    def named_user_ids(self) -> set[int]:
        """People named on the system: they may edit it and may never approve it."""
        return {i for i in (self.accountable_owner_id, self.technical_owner_id) if i is not None}


def search_text_for(name: str, purpose: str, business_unit: str, vendor_name: str | None) -> str:
    return "\n".join(part for part in (name, purpose, business_unit, vendor_name or "") if part).lower()


class SystemDataCategory(Base):
    __tablename__ = "system_data_categories"

    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[DataCategory] = mapped_column(enum_column(DataCategory), primary_key=True, index=True)

    system: Mapped[AISystem] = relationship(back_populates="data_links")


class BaselineMetric(Base):
    __tablename__ = "baseline_metrics"

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(40))
    baseline_value: Mapped[float | None] = mapped_column(Float)
    measured_on: Mapped[date | None]
    source: Mapped[str] = mapped_column(String(300), default="")
    target_value: Mapped[float | None] = mapped_column(Float)
    direction: Mapped[MetricDirection] = mapped_column(enum_column(MetricDirection))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    system: Mapped[AISystem] = relationship(back_populates="metrics")
