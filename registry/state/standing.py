"""Where a system stands now, read from the state cache in one query when the cache is current.

The cache holds what the one fact loader and the rules gave at the last change; a row is
current unless time has reached its ``valid_until``, it was computed under another evidence
age, or the session holds changes not yet committed (the hooks recompute at commit).  Then
``None``: the caller computes afresh with ``registry.state.facts.load_facts``.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db import evidence_max_age_days
from registry.decisions.recommendation import Blocker, Recommendation
from registry.state.hooks import PENDING
from registry.state.models import SystemState


def cached_recommendation(session: Session, system_id: int, today: date) -> tuple[Recommendation, int | None] | None:
    """(today's recommendation, the current decision's id) from the cache, or None if it may be out of date."""
    if session.new or session.dirty or session.deleted or any((session.info.get(PENDING) or {}).values()):
        return None
    row = session.execute(select(SystemState.recommendation, SystemState.decision_id, SystemState.valid_until,
                                 SystemState.evidence_max_age_days, SystemState.blockers,
                                 SystemState.verified_controls, SystemState.required_controls)
                          .where(SystemState.system_id == system_id)).first()
    if row is None or row.evidence_max_age_days != evidence_max_age_days(session) \
            or (row.valid_until is not None and row.valid_until <= today):
        return None
    blockers = []
    for b in row.blockers or []:
        if "target" not in b:  # written before the cache kept each item's target
            return None
        blockers.append(Blocker(b["rule"], b["severity"], b["message"], b["target"]))
    return (Recommendation(row.recommendation, blockers, row.verified_controls, row.required_controls),
            row.decision_id)


class NextStep:
    """A system's next concrete action: its first open item (the rules list them in the order
    they are best done: the tier, the owner, baselines, the five answers, controls, decisions)
    and how many remain."""

    def __init__(self, blockers: list[dict]):
        blocking = [b for b in blockers if b.get("severity") == "blocking"]
        self.first = (blocking or blockers or [None])[0]
        self.blocking = len(blocking)
        self.conditions = len(blockers) - len(blocking)

    @property
    def remaining(self) -> int:
        return self.blocking + self.conditions - (1 if self.first else 0)


def next_steps(session: Session, system_ids: list[int]) -> dict[int, NextStep]:
    """The next step of each system, from the state cache in one query (the caller brings the
    cache up to date first: ``registry.web.bring_states_up_to_date``)."""
    if not system_ids:
        return {}
    return {system_id: NextStep(blockers or []) for system_id, blockers in session.execute(
        select(SystemState.system_id, SystemState.blockers).where(SystemState.system_id.in_(system_ids)))}
