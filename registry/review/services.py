"""Queries behind the review queue.  Each is one SQL statement, whatever the portfolio's size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from registry.controls.models import Control, ControlAssessment
from registry.decisions.models import Decision, current_decisions
from registry.enums import AnswerStatus, ControlStatus, Question
from registry.inventory.determination import determination, disagreement_clause
from registry.inventory.models import AISystem, SystemPerson, overrides_pending, systems_naming
from registry.readiness.models import ReadinessAnswer

LIMIT = 100


def _live():
    return AISystem.deleted_at.is_(None)


def _not_named(actor_id: int):
    """Separation of duties: the actor is not named on the system (``SystemPerson``, the one definition)."""
    return ~systems_naming(actor_id).where(SystemPerson.system_id == AISystem.id).exists()


@dataclass
class Queue:
    answers: list
    answers_total: int
    to_verify: list
    to_verify_total: int
    decisions_due: list
    overdue: list
    due_soon: list
    changed: list
    overrides: list  # downward tier overrides another officer proposed, waiting for a second one
    disagreements: list  # (row, message): a declared determination the rules disagree with


def _with_total(session: Session, stmt, count_stmt) -> tuple[list, int]:
    """The first LIMIT rows (an index gives them in order, so the scan stops early) and the total."""
    rows = session.execute(stmt.limit(LIMIT)).all()
    if len(rows) < LIMIT:
        return rows, len(rows)
    return rows, session.scalar(count_stmt)


def review_queue(session: Session, actor, today: date) -> Queue:
    submitted = (ReadinessAnswer.status == AnswerStatus.SUBMITTED, _live(), _not_named(actor.id))
    answers, answers_total = _with_total(
        session,
        select(ReadinessAnswer.system_id, ReadinessAnswer.question, ReadinessAnswer.submitted_at, AISystem.name)
        .join(AISystem, AISystem.id == ReadinessAnswer.system_id).where(*submitted)
        .order_by(ReadinessAnswer.submitted_at),
        select(func.count()).select_from(ReadinessAnswer).join(AISystem, AISystem.id == ReadinessAnswer.system_id)
        .where(*submitted),
    )
    unverified = (ControlAssessment.verified_at.is_(None), _live(), _not_named(actor.id),
                  ControlAssessment.status.in_([ControlStatus.IMPLEMENTED, ControlStatus.NOT_APPLICABLE,
                                                ControlStatus.WAIVED]))
    to_verify, to_verify_total = _with_total(
        session,
        select(ControlAssessment.system_id, ControlAssessment.control_id, Control.ref, Control.title,
               ControlAssessment.status, ControlAssessment.updated_at, AISystem.name)
        .join(AISystem, AISystem.id == ControlAssessment.system_id)
        .join(Control, Control.id == ControlAssessment.control_id)
        .where(*unverified).order_by(ControlAssessment.updated_at),
        select(func.count()).select_from(ControlAssessment).join(AISystem, AISystem.id == ControlAssessment.system_id)
        .where(*unverified),
    )
    accepted = (
        select(ReadinessAnswer.system_id)
        .where(ReadinessAnswer.status == AnswerStatus.ACCEPTED)
        .group_by(ReadinessAnswer.system_id)
        .having(func.count(ReadinessAnswer.id) == len(Question))
    )
    undecided = ~select(Decision.id).where(Decision.system_id == AISystem.id).exists()
    due = session.execute(
        select(AISystem.id, AISystem.name, AISystem.tier)
        .where(_live(), _not_named(actor.id), AISystem.id.in_(accepted), undecided)
        .order_by(AISystem.name).limit(LIMIT)
    ).all()
    latest = current_decisions()
    soon = today + timedelta(days=30)
    decided = session.execute(
        select(AISystem.id, AISystem.name, AISystem.tier, Decision.verdict, Decision.expires_on,
               AISystem.re_review_required_at, AISystem.re_review_reasons)
        .join(latest, latest.c.system_id == AISystem.id)
        .join(Decision, Decision.id == latest.c.decision_id)
        .where(_live(), _not_named(actor.id),
               or_(Decision.expires_on <= soon, AISystem.re_review_required_at.is_not(None)))
        .order_by(Decision.expires_on)
    ).all()
    overrides = session.execute(
        select(AISystem.id, AISystem.name, AISystem.computed_tier, AISystem.tier_override, AISystem.tier_override_at,
               AISystem.tier_override_reason)
        .where(_live(), _not_named(actor.id), overrides_pending(), AISystem.tier_override_by_id != actor.id)
        .order_by(AISystem.tier_override_at).limit(LIMIT)
    ).all()
    disagreements = session.execute(
        select(AISystem.id, AISystem.name, AISystem.tier, AISystem.declared_high_impact, AISystem.declared_source,
               AISystem.declared_regime,
               AISystem.eu_class, AISystem.eu_basis, AISystem.omb_high_impact, AISystem.omb_basis)
        .where(_live(), _not_named(actor.id), disagreement_clause())
        .order_by(AISystem.name).limit(LIMIT)
    ).all()
    return Queue(
        disagreements=[(r, determination(r).message) for r in disagreements],
        overrides=overrides,
        answers=answers, answers_total=answers_total, to_verify=to_verify, to_verify_total=to_verify_total,
        decisions_due=due,
        overdue=[r for r in decided if r.expires_on < today][:LIMIT],
        due_soon=[r for r in decided if today <= r.expires_on <= soon][:LIMIT],
        changed=sorted((r for r in decided if r.re_review_required_at is not None),
                       key=lambda r: r.re_review_required_at)[:LIMIT],
    )


@dataclass
class ReadinessSummary:
    accepted: int = 0
    returned: int = 0
    submitted: int = 0
    verdict: object = None
    expires_on: date | None = None


def readiness_summaries(session: Session, system_ids: list[int]) -> dict[int, ReadinessSummary]:
    """Per system: answers by status and the latest decision, in two grouped queries (home pages)."""
    out = {i: ReadinessSummary() for i in system_ids}
    if not system_ids:
        return out
    rows = session.execute(
        select(ReadinessAnswer.system_id, ReadinessAnswer.status, func.count())
        .where(ReadinessAnswer.system_id.in_(system_ids))
        .group_by(ReadinessAnswer.system_id, ReadinessAnswer.status)
    )
    for system_id, status, n in rows:
        if status in (AnswerStatus.ACCEPTED, AnswerStatus.RETURNED, AnswerStatus.SUBMITTED):
            setattr(out[system_id], status.value, n)
    latest = current_decisions(system_ids)
    for system_id, verdict, expires_on in session.execute(
        select(Decision.system_id, Decision.verdict, Decision.expires_on)
        .join(latest, latest.c.decision_id == Decision.id)
        .where(Decision.system_id.in_(system_ids))
    ):
        out[system_id].verdict, out[system_id].expires_on = verdict, expires_on
    return out


def queue_counts(session: Session, actor, today: date) -> dict[str, int]:
    queue = review_queue(session, actor, today)
    return {"answers": queue.answers_total, "verify": queue.to_verify_total, "due": len(queue.decisions_due),
            "overdue": len(queue.overdue), "changed": len(queue.changed), "overrides": len(queue.overrides),
            "disagreements": len(queue.disagreements)}
