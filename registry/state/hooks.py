"""The one choke point that keeps the state cache current, in the same transaction as each change.

Every write goes through a SQLAlchemy session, so session events see every change whatever
service made it: ``after_flush`` notes which systems' facts changed (the system, its data,
metrics, answers, control assessments, evidence, decisions; an owner's account being
(de)activated; a catalogue change touches every system), and ``before_commit`` recomputes
those systems' states.  Bulk Core inserts (the synthetic seeder) bypass the ORM and call
``cache.rebuild_all`` or ``cache.refresh_states`` themselves, with ``SKIP`` set.

``register_state_hooks`` is called by the app factory for each session factory (never at
import time), so importing a model has no side effect.
"""

from __future__ import annotations

from itertools import chain

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from registry.auth.models import User
from registry.controls.models import Control, ControlAssessment, Evidence, Framework
from registry.decisions.models import Decision
from registry.incidents.models import Incident
from registry.inventory.models import AISystem, BaselineMetric, SystemDataCategory
from registry.monitoring.models import DriftAlert
from registry.readiness.models import ReadinessAnswer
from registry.reliability.models import EvalTrial, ReliabilityGate
from registry.state import cache
from registry.value.models import PilotStop, ValueCase

PENDING = "state.pending"
BUSY = "state.refreshing"
SKIP = "state.skip"  # session.info flag for bulk loaders that rebuild at the end
# After the baseline: an open drift alert, an incident, the trials and gate, the value case and a
# stop change the rules' facts too (observations do not: only the alerts they open do).
BY_SYSTEM_ID = (SystemDataCategory, BaselineMetric, ReadinessAnswer, ControlAssessment, Decision, DriftAlert, Incident,
                EvalTrial, ReliabilityGate, ValueCase, PilotStop)


def _pending(session: Session) -> dict:
    return session.info.setdefault(PENDING, {"systems": set(), "assessments": set(), "owners": set(), "all": False})


def collect_changes(session: Session, _ctx) -> None:
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


def refresh_before_commit(session: Session) -> None:
    if session.info.get(BUSY) or session.info.get(SKIP):
        return
    if session.new or session.dirty or session.deleted:
        session.flush()
    pending = session.info.pop(PENDING, None)
    if not pending or not any(pending.values()):
        return
    session.info[BUSY] = True
    try:
        if pending["all"]:
            cache.rebuild_all(session)
            return
        ids = {i for i in pending["systems"] if i is not None}
        if pending["assessments"]:
            ids |= set(session.scalars(select(ControlAssessment.system_id)
                                       .where(ControlAssessment.id.in_(pending["assessments"]))))
        if pending["owners"]:
            ids |= set(session.scalars(select(AISystem.id).where(AISystem.accountable_owner_id.in_(pending["owners"]))))
        cache.refresh_states(session, sorted(ids))
        session.flush()
    finally:
        session.info.pop(BUSY, None)


def forget_changes(session: Session) -> None:
    session.info.pop(PENDING, None)


HOOKS = (("after_flush", collect_changes), ("before_commit", refresh_before_commit),
         ("after_rollback", forget_changes))


def register_state_hooks(factory: sessionmaker) -> None:
    for name, fn in HOOKS:
        if not event.contains(factory, name, fn):
            event.listen(factory, name, fn)
