"""The per-system state cache: what the one fact loader and the go / no-go rules say now.

``SystemState`` holds one system's recommendation, current decision and open items so that
lists, the dashboard, exports and the API filter and aggregate in SQL instead of assessing
10,000 systems per request.  ``registry.state.cache`` writes it (in the same transaction as
every change, through ``registry.state.hooks``); ``tests/unit/test_portfolio_state.py``
recomputes every system from scratch and compares.  These tables depend on nothing but the
inventory's table, so every domain may read them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, enum_column, utcnow
from registry.enums import Kind, Stage, Tier, Verdict


class SystemState(Base):
    __tablename__ = "system_states"
    __table_args__ = (
        Index("ix_system_states_valid_until", "valid_until"),
        Index("ix_system_states_max_age", "evidence_max_age_days"),
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
    # "N of M required controls verified": verified = implemented with current evidence (or not
    # applicable) and verified by a compliance officer not named on the system.
    required_controls: Mapped[int] = mapped_column(default=0, server_default="0")
    verified_controls: Mapped[int] = mapped_column(default=0, server_default="0")
    re_review_required: Mapped[bool] = mapped_column(default=False)
    # The first day on which the passing of time alone changes this state (evidence turning
    # stale, a due date or the re-review date passing); None: never by time alone.
    valid_until: Mapped[date | None]
    # EVIDENCE_MAX_AGE_DAYS when this state was computed: a row computed under another setting
    # is out of date (recomputed like one whose ``valid_until`` has come).
    evidence_max_age_days: Mapped[int | None]
    # The furthest of idea → pilot → production the system ever got (stage history and current
    # stage), for the funnel; None when it never was in one of them.
    furthest_stage: Mapped[Stage | None] = mapped_column(enum_column(Stage))
    # The system's dimensions when this state was computed: its blockers are counted under
    # them in ``blocker_dim_counts`` (a change to any of them refreshes the state).
    business_unit: Mapped[str] = mapped_column(String(300), default="")
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
    its primary key.  Labels come from ``registry.state.cache.group_labels``.  Deleted
    systems keep none, so the unfiltered count needs no join.
    """

    __tablename__ = "system_blockers"
    __table_args__ = ({"sqlite_with_rowid": False},)

    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    blocking: Mapped[bool] = mapped_column(default=True)


class BlockerCount(Base):
    """How many live systems each blocker group blocks: the unfiltered blockers chart, kept by
    ``registry.state.cache`` with every change to ``system_blockers`` (deltas in the same transaction)."""

    __tablename__ = "blocker_counts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    systems: Mapped[int] = mapped_column(default=0)


class BlockerDimCount(Base):
    """How many live systems each blocker group blocks per business unit × tier × stage × kind:
    the blockers chart under filters other than the owner, summed over at most a few
    thousand rows instead of counting hundreds of thousands of ``system_blockers``."""

    __tablename__ = "blocker_dim_counts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    business_unit: Mapped[str] = mapped_column(String(300), primary_key=True)
    tier: Mapped[Tier] = mapped_column(enum_column(Tier), primary_key=True)
    stage: Mapped[Stage] = mapped_column(enum_column(Stage), primary_key=True)
    kind: Mapped[Kind] = mapped_column(enum_column(Kind), primary_key=True)
    systems: Mapped[int] = mapped_column(default=0)
