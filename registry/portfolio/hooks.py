"""The one choke point that keeps the portfolio state cache and the stage history current.

Every write goes through a SQLAlchemy session, so session events see every change whatever
service made it: ``after_flush`` notes which systems' facts changed (the system, its data,
metrics, answers, control assessments, evidence, decisions; an owner's account being
(de)activated; a catalogue change touches every system), and ``before_commit`` recomputes
those systems' states in the same transaction.  ``before_flush`` appends a ``StageChange``
whenever a system is created or its lifecycle stage changes.  Bulk Core inserts (the
synthetic seeder) bypass the ORM and call ``state.rebuild_all`` themselves.
"""

from __future__ import annotations

from itertools import chain

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from registry.auth.models import User
from registry.controls.models import Control, ControlAssessment, Evidence, Framework
from registry.db import utcnow
from registry.decisions.models import Decision
from registry.inventory.models import AISystem, BaselineMetric, SystemDataCategory
from registry.portfolio.models import StageChange
from registry.readiness.models import ReadinessAnswer

PENDING = "portfolio.pending"
BUSY = "portfolio.refreshing"
SKIP = "portfolio.skip"  # session.info flag for bulk loaders that rebuild at the end
BY_SYSTEM_ID = (SystemDataCategory, BaselineMetric, ReadinessAnswer, ControlAssessment, Decision)


def _pending(session: Session) -> dict:
    return session.info.setdefault(PENDING, {"systems": set(), "assessments": set(), "owners": set(), "all": False})


@event.listens_for(Session, "before_flush")
def _record_stage_changes(session: Session, _ctx, _instances) -> None:
    for obj in list(session.new):
        if isinstance(obj, AISystem) and obj.stage is not None:
            session.add(StageChange(system=obj, from_stage=None, stage=obj.stage, entered_at=obj.created_at or utcnow()))
    for obj in list(session.dirty):
        if isinstance(obj, AISystem):
            history = inspect(obj).attrs.stage.history
            if history.added and history.deleted and history.added[0] != history.deleted[0]:
                now = utcnow()
                with session.no_autoflush:
                    for stay in session.scalars(select(StageChange).where(StageChange.system_id == obj.id,
                                                                          StageChange.left_at.is_(None))):
                        stay.left_at = now
                        stay.days_in_stage = max(0.0, (now - stay.entered_at).total_seconds() / 86400)
                session.add(StageChange(system_id=obj.id, from_stage=history.deleted[0], stage=history.added[0],
                                        entered_at=now))


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _ctx) -> None:
    if session.info.get(BUSY) or session.info.get(SKIP):
        return
    pending = _pending(session)
    for obj in chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, AISystem):
            pending["systems"].add(obj.id)
        elif isinstance(obj, BY_SYSTEM_ID):
            pending["systems"].add(obj.system_id)
        elif isinstance(obj, Evidence):
            pending["assessments"].add(obj.assessment_id)
        elif isinstance(obj, User):
            if obj in session.dirty and inspect(obj).attrs.is_active.history.has_changes():
                pending["owners"].add(obj.id)
        elif isinstance(obj, (Control, Framework)):
            pending["all"] = True


@event.listens_for(Session, "before_commit")
def _refresh(session: Session) -> None:
    if session.info.get(BUSY) or session.info.get(SKIP):
        return
    if session.new or session.dirty or session.deleted:
        session.flush()
    pending = session.info.pop(PENDING, None)
    if not pending or not any(pending.values()):
        return
    from registry.portfolio import state

    session.info[BUSY] = True
    try:
        if pending["all"]:
            state.rebuild_all(session)
            return
        ids = {i for i in pending["systems"] if i is not None}
        if pending["assessments"]:
            ids |= set(session.scalars(select(ControlAssessment.system_id)
                                       .where(ControlAssessment.id.in_(pending["assessments"]))))
        if pending["owners"]:
            ids |= set(session.scalars(select(AISystem.id).where(AISystem.accountable_owner_id.in_(pending["owners"]))))
        if len(ids) > 20:
            state.refresh_many(session, sorted(ids))
        else:
            for system_id in sorted(ids):
                state.refresh_state(session, system_id)
        session.flush()
    finally:
        session.info.pop(BUSY, None)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(PENDING, None)
