"""Evaluation trials of a system (task, trial, passed) and its release gate on pass^k."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint, case, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.db import Base, utcnow
from registry.reliability.passk import TaskTally


class EvalTrial(Base):
    """One trial of one evaluation task; (system, task, trial) is unique, so an upload sent twice
    changes nothing and a corrected one replaces the outcome."""

    __tablename__ = "eval_trials"
    __table_args__ = (UniqueConstraint("system_id", "task_id", "trial", name="uq_eval_trials_system_task_trial"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(String(200))
    trial: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ReliabilityGate(Base):
    """The release gate: pass^k must reach ``threshold`` (0–1) for the chosen ``k`` (1–8).  Also
    the per-step success rates of the workflow, for its compounded success (optional)."""

    __tablename__ = "reliability_gates"

    system_id: Mapped[int] = mapped_column(ForeignKey("ai_systems.id", ondelete="CASCADE"), primary_key=True)
    k: Mapped[int | None] = mapped_column(Integer)  # None: no gate set (step rates only)
    threshold: Mapped[float | None] = mapped_column(Float)
    step_rates: Mapped[list] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


def trial_tallies(session: Session, system_ids: list[int]) -> dict[int, list[TaskTally]]:
    """Each system's trials counted per task in SQL (n trials, c passed), tasks in order: the one
    count the release-gate rule (``registry.state.facts``) and the reliability page both read."""
    out: dict[int, list[TaskTally]] = {i: [] for i in system_ids}
    rows = session.execute(
        select(EvalTrial.system_id, EvalTrial.task_id, func.count(),
               func.sum(case((EvalTrial.passed.is_(True), 1), else_=0), type_=Integer))
        .where(EvalTrial.system_id.in_(system_ids))
        .group_by(EvalTrial.system_id, EvalTrial.task_id)
        .order_by(EvalTrial.system_id, EvalTrial.task_id))
    for system_id, task, n, c in rows:
        out[system_id].append(TaskTally(task, int(n), int(c or 0)))
    return out
