"""Filters over the state cache, for every list that narrows systems by where they stand:
the current decision, today's recommendation, a blocker, stale evidence, re-review.

The inventory list, the portfolio, the exports and the bulk PDF export all filter through
``registry.inventory.queries``, which adds these conditions; this module knows only the
cache's tables, so the inventory reads the state without reaching up into the domains that
compute it.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from registry.enums import Verdict
from registry.state.models import SystemBlocker, SystemState

UNDECIDED = "undecided"
REVIEW_DUE = {"overdue": "Re-review overdue", "30d": "Re-review due within 30 days"}
REVIEW_WINDOW_DAYS = 30


def where_state(stmt, system_id_column, *, today: date, verdict=(), recommendation=(), stale_evidence=False,
                re_review=False, review_due="", blocker=""):
    """Narrow ``stmt`` (over a table whose ``system_id_column`` is a system id) by the cached state."""
    state = exists().where(SystemState.system_id == system_id_column)
    conditions = []
    if verdict:
        chosen = [Verdict(v) for v in verdict if v != UNDECIDED]
        either = [SystemState.decision_verdict.in_(chosen)] if chosen else []
        if UNDECIDED in verdict:
            either.append(SystemState.decision_verdict.is_(None))
        conditions.append(or_(*either))
    if recommendation:
        conditions.append(SystemState.recommendation.in_([Verdict(v) for v in recommendation]))
    if stale_evidence:
        conditions.append(SystemState.stale_evidence.is_(True))
    if re_review:
        conditions.append(SystemState.re_review_required.is_(True))
    if review_due == "overdue":
        conditions.append(SystemState.decision_expires_on < today)
    elif review_due == "30d":
        conditions.append(SystemState.decision_expires_on.between(today, today + timedelta(days=REVIEW_WINDOW_DAYS)))
    if conditions:
        stmt = stmt.where(state.where(*conditions))
    if blocker:
        stmt = stmt.where(exists().where(SystemBlocker.system_id == system_id_column, SystemBlocker.key == blocker,
                                         SystemBlocker.blocking.is_(True)))
    return stmt


def blocker_label(session: Session, key: str) -> str | None:
    """The readable label of blocker group ``key``, as stored with a system it blocks (None: none)."""
    blockers = session.scalar(
        select(SystemState.blockers)
        .where(exists().where(SystemBlocker.system_id == SystemState.system_id, SystemBlocker.key == key))
        .limit(1))
    return next((b.get("label") for b in blockers or [] if b.get("key") == key), None)
