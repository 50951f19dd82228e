"""Stage history: a ``StageChange`` row whenever a system is created or changes lifecycle stage.

A session event sees every write whatever service made it; ``register_stage_history`` is
called once per session factory by the app factory (never at import time).  A service that
is told when its change happened (``now``, as the demo's replay and imports do) says so with
``stage_clock`` so the stay is dated then, not by the wall clock.  The bulk loaders, which
write with Core statements the session event never sees, call ``record_bulk``.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import event, inspect, select, update
from sqlalchemy.orm import Session, sessionmaker

from registry.db import utcnow
from registry.enums import Stage
from registry.inventory.models import AISystem, StageChange

CLOCK = "stages.clock"  # session.info: when the changes being flushed happened
CHUNK = 1000


@contextmanager
def stage_clock(session: Session, now: datetime | None):
    """Stage changes flushed inside the block are dated ``now`` (the wall clock if None)."""
    before = session.info.get(CLOCK)
    if now is not None:
        session.info[CLOCK] = now
    try:
        yield
    finally:
        if before is None:
            session.info.pop(CLOCK, None)
        else:
            session.info[CLOCK] = before


def days_between(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 86400)


def record_stage_changes(session: Session, _ctx, _instances) -> None:
    for obj in list(session.new):
        if isinstance(obj, AISystem) and obj.stage is not None:
            session.add(StageChange(system=obj, from_stage=None, stage=obj.stage,
                                    entered_at=obj.created_at or session.info.get(CLOCK) or utcnow()))
    for obj in list(session.dirty):
        if isinstance(obj, AISystem):
            history = inspect(obj).attrs.stage.history
            if history.added and history.deleted and history.added[0] != history.deleted[0]:
                now = session.info.get(CLOCK) or utcnow()
                with session.no_autoflush:
                    for stay in session.scalars(select(StageChange).where(StageChange.system_id == obj.id,
                                                                          StageChange.left_at.is_(None))):
                        stay.left_at = now
                        stay.days_in_stage = days_between(stay.entered_at, now)
                session.add(StageChange(system_id=obj.id, from_stage=history.deleted[0], stage=history.added[0],
                                        entered_at=now))


def record_bulk(session: Session, *, created: Iterable[tuple[int, Stage]] = (),
                moved: Iterable[tuple[int, Stage, Stage]] = (), now: datetime) -> None:
    """Stage history for rows written in bulk: ``created`` (system id, stage) entered their
    stage ``now``; ``moved`` (system id, from, to) left their open stay and entered ``to`` ``now``."""
    rows = [{"system_id": sid, "from_stage": None, "stage": stage, "entered_at": now} for sid, stage in created]
    moved = [m for m in moved if m[1] != m[2]]
    ids = [sid for sid, _from, _to in moved]
    for start in range(0, len(ids), CHUNK):
        open_stays = session.execute(select(StageChange.id, StageChange.entered_at).where(
            StageChange.system_id.in_(ids[start:start + CHUNK]), StageChange.left_at.is_(None))).all()
        if open_stays:
            session.execute(update(StageChange), [
                {"id": stay_id, "left_at": now, "days_in_stage": days_between(entered, now)}
                for stay_id, entered in open_stays])
    rows += [{"system_id": sid, "from_stage": before, "stage": after, "entered_at": now} for sid, before, after in moved]
    if rows:
        session.execute(StageChange.__table__.insert(), rows)


def register_stage_history(factory: sessionmaker) -> None:
    if not event.contains(factory, "before_flush", record_stage_changes):
        event.listen(factory, "before_flush", record_stage_changes)
