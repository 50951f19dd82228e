"""Stage history: a ``StageChange`` row whenever a system is created or changes lifecycle stage.

A session event sees every write whatever service made it; ``register_stage_history`` is
called once per session factory by the app factory (never at import time).
"""

from __future__ import annotations

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from registry.db import utcnow
from registry.inventory.models import AISystem, StageChange


def record_stage_changes(session: Session, _ctx, _instances) -> None:
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


def register_stage_history(factory: sessionmaker) -> None:
    if not event.contains(factory, "before_flush", record_stage_changes):
        event.listen(factory, "before_flush", record_stage_changes)
