"""Per-system portfolio state kept up to date on write, its blockers, and stage history.

``SystemState`` caches what ``assess_system`` says about one system now (the recommendation,
the current decision, the blocker list) so that the dashboard aggregates in SQL instead of
assessing 10,000 systems per view.  ``registry.portfolio.state`` maintains it; a test
recomputes every system from scratch and compares.  ``StageChange`` records each lifecycle
stage a system enters, for the pilot → production funnel.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base, enum_column, utcnow
from registry.enums import Kind, Stage, Tier, Verdict
from registry.inventory.models import AISystem


class SystemState(Base):
    __tablename__ = "system_states"
    __table_args__ = (
        Index("ix_system_states_valid_until", "valid_until"),
        Index("ix_system_states_recommendation", "recommendation"),
        Index("ix_system_states_decision_verdict", "decision_verdict"),
    )

    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"), primary_key=True)
    # The recommendation now, as the system header shows it.
    recommendation: Mapped[Verdict] = mapped_column(enum_column(Verdict))
    # The current (latest) recorded decision, if any.
    decision_id: Mapped[int | None] = mapped_column()
    decision_verdict: Mapped[Verdict | None] = mapped_column(enum_column(Verdict))
    decided_at: Mapped[datetime | None]
    decision_expires_on: Mapped[date | None]
    stale_evidence: Mapped[bool] = mapped_column(default=False)
    re_review_required: Mapped[bool] = mapped_column(default=False)
    # The first day on which the passing of time alone changes this state (evidence turning
    # stale, a due date or the re-review date passing); None: never by time alone.
    valid_until: Mapped[date | None]
    # The furthest of idea → pilot → production the system ever got (stage history and current
    # stage), for the funnel; None when it never was in one of them.
    furthest_stage: Mapped[Stage | None] = mapped_column(enum_column(Stage))
    # The system's dimensions when this state was computed: its blockers are counted under
    # them in ``blocker_dim_counts`` (a change to any of them refreshes the state).
    business_unit: Mapped[str] = mapped_column(String(120), default="")
    tier: Mapped[Tier | None] = mapped_column(enum_column(Tier))
    stage: Mapped[Stage | None] = mapped_column(enum_column(Stage))
    kind: Mapped[Kind | None] = mapped_column(enum_column(Kind))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Every open item: {"key", "label", "rule", "severity", "message"}.  Last, so that SQLite
    # reads the small columns above without walking this (often long) value's overflow pages.
    blockers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class SystemBlocker(Base):
    """One blocker group (a question, a control or a rule) holding a system back, for SQL counts.

    Normalised from ``SystemState.blockers``; deliberately narrow (a live system typically has
    dozens, so 10,000 systems make hundreds of thousands of rows) and, on SQLite, clustered by
    its primary key.  Labels come from ``registry.portfolio.state.group_labels``.  Deleted
    systems keep none, so the unfiltered count needs no join.
    """

    __tablename__ = "system_blockers"
    __table_args__ = (Index("ix_system_blockers_key", "blocking", "key", "system_id"), {"sqlite_with_rowid": False})

    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    blocking: Mapped[bool] = mapped_column(default=True)


class BlockerCount(Base):
    """How many live systems each blocker group blocks: the unfiltered blockers chart, kept by
    ``state`` with every change to ``system_blockers`` (deltas in the same transaction)."""

    __tablename__ = "blocker_counts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    systems: Mapped[int] = mapped_column(default=0)


class BlockerDimCount(Base):
    """How many live systems each blocker group blocks per business unit × tier × stage × kind:
    the blockers chart under filters other than the owner, summed over at most a few
    thousand rows instead of counting hundreds of thousands of ``system_blockers``."""

    __tablename__ = "blocker_dim_counts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    business_unit: Mapped[str] = mapped_column(String(120), primary_key=True)
    tier: Mapped[Tier] = mapped_column(enum_column(Tier), primary_key=True)
    stage: Mapped[Stage] = mapped_column(enum_column(Stage), primary_key=True)
    kind: Mapped[Kind] = mapped_column(enum_column(Kind), primary_key=True)
    systems: Mapped[int] = mapped_column(default=0)


FUNNEL = (Stage.IDEA, Stage.PILOT, Stage.PRODUCTION)


class StageChange(Base):
    """A system entering a lifecycle stage (written by the session hook in ``state``)."""

    __tablename__ = "stage_changes"
    __table_args__ = (Index("ix_stage_changes_system", "system_id", "entered_at"),
                      Index("ix_stage_changes_stage", "stage", "system_id"),
                      Index("ix_stage_changes_stay", "stage", "days_in_stage"))

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"))
    from_stage: Mapped[Stage | None] = mapped_column(enum_column(Stage))
    stage: Mapped[Stage] = mapped_column(enum_column(Stage))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the system moves on: when, and how many days it stayed (for the median).
    left_at: Mapped[datetime | None]
    days_in_stage: Mapped[float | None] = mapped_column(Float)

    system: Mapped[AISystem] = relationship()


from registry.portfolio import hooks as _hooks  # noqa: E402,F401  (installs the session hooks)
