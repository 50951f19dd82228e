"""Answering, submitting and reviewing the five readiness questions.

Lifecycle: draft → submitted (by the accountable owner, who attests personally) → accepted,
or returned with a comment, by a compliance officer who is not named on the system.
Saving any change to a submitted, accepted or returned answer sends it back to draft.
Every step locks the system row and checks the answer's version, so two reviewers (or a
reviewer and an editing owner) cannot both win: the second gets a Conflict.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.audit.services import record_event
from registry.auth.models import User
from registry.auth.permissions import can_edit_system, can_review, require
from registry.db import utcnow
from registry.enums import AnswerStatus, Question
from registry.errors import Conflict, ValidationFailed
from registry.inventory.models import OWNERSHIP_ROLES, AISystem, set_named_people
from registry.inventory.schemas import load_or_raise
from registry.inventory.services import announce_newly_named, system_for_update
from registry.monitoring.models import DriftRule
from registry.readiness.models import ReadinessAnswer
from registry.readiness.questions import OWNER_ROLES, AnswerContext, describe, missing_parts
from registry.readiness.schemas import SCHEMAS, ReviewSchema
from registry.records import check_version, flush_or_conflict

ATTESTATION = ("I, {name}, am the accountable owner of {system} and attest personally that this answer is "
               "accurate and complete to the best of my knowledge.")
STALE = "Someone else changed this answer while you were working on it. Reload the page and try again."


def answers_for(session: Session, system_id: int) -> dict[Question, ReadinessAnswer]:
    rows = session.scalars(select(ReadinessAnswer).where(ReadinessAnswer.system_id == system_id))
    return {row.question: row for row in rows.unique()}


def context_for(session: Session, system: AISystem, answers: dict[Question, ReadinessAnswer] | None = None,
                today=None) -> AnswerContext:
    """The metrics and people the answers refer to, loaded in one query each."""
    answers = answers_for(session, system.id) if answers is None else answers
    ids = set()
    ownership = answers.get(Question.OWNERSHIP)
    if ownership:
        ids |= {v for k, v in ownership.content.items() if k in OWNER_ROLES and isinstance(v, int)}
    people = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    rules = session.scalar(select(func.count()).select_from(DriftRule).where(DriftRule.system_id == system.id))
    return AnswerContext(metrics={m.id: m for m in system.metrics}, people=people,
                         today=today or utcnow().date(), drift_rules=rules or 0)


def _answer(session: Session, system: AISystem, question: Question) -> ReadinessAnswer | None:
    return session.scalar(
        select(ReadinessAnswer)
        .where(ReadinessAnswer.system_id == system.id, ReadinessAnswer.question == question)
        .execution_options(populate_existing=True)
    )


def _load(question: Question, payload: dict) -> dict:
    return load_or_raise(SCHEMAS[question](), payload)


def _flush(session: Session) -> None:
    flush_or_conflict(session, STALE)


def _normalise(session: Session, system: AISystem, question: Question, data: dict,
               today: date | None = None) -> dict:
    """Resolve people to ids, drop empty rows, check metric links; return JSON-ready content."""
    if question is Question.OUTCOME:
        own = {m.id for m in system.metrics}
        bad = [i for i in data["metric_ids"] if i not in own]
        if bad:
            raise ValidationFailed("Some fields need attention.",
                                   errors={"metric_ids": ["Link only this system's baseline metrics."]})
        data["metric_ids"] = sorted(set(data["metric_ids"]))
    elif question is Question.OWNERSHIP:
        for key in OWNER_ROLES:
            email = data.get(key)
            if not email:
                data[key] = None
                continue
            user = session.scalar(select(User).where(User.email == email.strip().lower()))
            if user is None or not user.is_active:
                raise ValidationFailed("Some fields need attention.",
                                       errors={key: [f"{email} is not an active registered person."]})
            data[key] = user.id
    elif question is Question.DRIFT:
        data["signals"] = [s for s in data["signals"] if any((v or "").strip() for v in s.values())]
    elif question is Question.HUMAN_WORKFLOW:
        data["escalation_triggers"] = [t.strip() for t in data["escalation_triggers"] if t.strip()]
    elif question is Question.ROLLBACK:
        rehearsal = data.get("last_rehearsal")
        if rehearsal is not None and rehearsal > (today or utcnow().date()):
            raise ValidationFailed("Some fields need attention.",
                                   errors={"last_rehearsal": ["A rehearsal cannot be in the future."]})
        data["last_rehearsal"] = rehearsal.isoformat() if rehearsal else None
        data["degraded_modes"] = {k: data["degraded_modes"].get(k, "") for k in ("full", "degraded", "minimal", "offline")}
    return data


def _readable(session: Session, system: AISystem, question: Question, content: dict) -> dict:
    ctx = context_for(session, system, {question: ReadinessAnswer(question=question, content=content)})
    return dict(describe(question, content, ctx))


def save_answer(session: Session, actor: User, system_id: int, question: Question | str, payload: dict,
                *, expected_version: int | None = None, now: datetime | None = None) -> ReadinessAnswer:
    """Save a draft (partial answers are fine).  A changed submitted/accepted/returned answer
    goes back to draft; the history shows both the change and the reopening.

    ``now`` (here and in submit_answer / review_answer) dates the answer for the demo seeder,
    which replays work done in the past; its audit events are dated then too (their hashed record
    also keeps when they were really written)."""
    question = Question(question)
    system = system_for_update(session, system_id)
    require(can_edit_system(actor, system), "Only the system's owners (or an admin) can answer its readiness questions.")
    answer = _answer(session, system, question)
    check_version(answer, expected_version, STALE)
    content = _normalise(session, system, question, _load(question, payload), today=now.date() if now else None)
    before = _readable(session, system, question, answer.content) if answer else {}
    old_status = answer.status if answer else None
    if answer is None:
        answer = ReadinessAnswer(system_id=system.id, question=question, content=content, status=AnswerStatus.DRAFT)
        session.add(answer)
    elif answer.content == content and old_status is AnswerStatus.DRAFT:
        return answer
    else:
        answer.content = content
        answer.status = AnswerStatus.DRAFT
    answer.updated_by_id = actor.id
    answer.attestation = None
    if now is not None:  # set explicitly, so it wins over the column's onupdate
        answer.updated_at = now
    named_before = system.named_user_ids() if question is Question.OWNERSHIP else None
    if named_before is not None:  # the people it names are named on the system (separation of duties)
        set_named_people(system, OWNERSHIP_ROLES, {k: content.get(k) for k in OWNERSHIP_ROLES})
    _flush(session)
    after = _readable(session, system, question, content)
    changed = [k for k in after if before.get(k) != after.get(k)]
    record_event(session, actor, "readiness.save", "readiness_answer", answer.id, system_id=system.id,
                 summary=f"Saved the answer to “{question.label}”",
                 before={k: before.get(k) for k in changed} or None, after={k: after[k] for k in changed}, at=now)
    if old_status not in (None, AnswerStatus.DRAFT):
        record_event(session, actor, "readiness.reopen", "readiness_answer", answer.id, system_id=system.id,
                     summary=f"“{question.label}” went back to draft after a change",
                     before={"status": old_status.label}, after={"status": AnswerStatus.DRAFT.label}, at=now)
    if named_before is not None:
        announce_newly_named(session, actor, system, named_before, at=now)
    return answer


def submit_answer(session: Session, actor: User, system_id: int, question: Question | str, *, attest: bool,
                  expected_version: int | None = None, now: datetime | None = None) -> ReadinessAnswer:
    question = Question(question)
    system = system_for_update(session, system_id)
    require(actor is not None and actor.id == system.accountable_owner_id,
            "Only the accountable owner can submit a readiness answer: they attest it personally.")
    answer = _answer(session, system, question)
    if answer is None:
        raise ValidationFailed("Answer the question before submitting it.")
    check_version(answer, expected_version, STALE)
    if answer.status is AnswerStatus.SUBMITTED:
        raise Conflict("This answer is already submitted and waits for review.")
    if answer.status is AnswerStatus.ACCEPTED:
        raise Conflict("This answer is already accepted.")
    missing = missing_parts(question, answer.content,
                            context_for(session, system, {question: answer}, today=now.date() if now else None))
    if missing:
        raise ValidationFailed("The answer is not complete yet: " + " ".join(missing), errors={"answer": missing})
    if not attest:
        raise ValidationFailed("Confirm the attestation to submit.", errors={"attest": ["Confirm that you attest this answer personally."]})
    previous = answer.status
    answer.status = AnswerStatus.SUBMITTED
    answer.attestation = ATTESTATION.format(name=actor.name, system=system.name)
    answer.submitted_by_id, answer.submitted_at = actor.id, now or utcnow()
    answer.review_comment = None
    answer.reviewed_by_id, answer.reviewed_at = None, None
    if now is not None:
        answer.updated_at = now
    session.flush()
    record_event(session, actor, "readiness.submit", "readiness_answer", answer.id, system_id=system.id,
                 summary=f"Submitted “{question.label}” for review", before={"status": previous.label},
                 after={"status": AnswerStatus.SUBMITTED.label, "attestation": answer.attestation}, at=now)
    return answer


def review_answer(session: Session, actor: User, system_id: int, question: Question | str, payload: dict,
                  *, expected_version: int | None = None, now: datetime | None = None) -> ReadinessAnswer:
    """Accept, or return with a comment, a submitted answer."""
    question = Question(question)
    system = system_for_update(session, system_id)
    answers = answers_for(session, system.id)
    require(can_review(actor, system),
            "Only a compliance officer who is not named on the system can review its answers.")
    data = load_or_raise(ReviewSchema(), payload)
    answer = _answer(session, system, question)
    if answer is None:
        raise ValidationFailed("There is no answer to review.")
    check_version(answer, expected_version, STALE)
    if answer.status is not AnswerStatus.SUBMITTED:
        raise Conflict(f"This answer is {answer.status.label.lower()}, not waiting for review: reload the page.")
    comment = data["comment"].strip()
    accept = data["outcome"] == "accept"
    if accept:
        missing = missing_parts(question, answer.content, context_for(session, system, answers, today=(now or utcnow()).date()))
        if missing:
            raise ValidationFailed("The answer is no longer complete, so it cannot be accepted: " + " ".join(missing),
                                   errors={"outcome": missing})
    if not accept and not comment:
        raise ValidationFailed("Some fields need attention.",
                               errors={"comment": ["Say what the owner must change: a returned answer needs a comment."]})
    answer.status = AnswerStatus.ACCEPTED if accept else AnswerStatus.RETURNED
    answer.review_comment = comment or None
    answer.reviewed_by_id, answer.reviewed_at = actor.id, now or utcnow()
    if now is not None:
        answer.updated_at = now
    _flush(session)
    record_event(session, actor, "readiness.accept" if accept else "readiness.return", "readiness_answer", answer.id,
                 system_id=system.id, summary=f"{'Accepted' if accept else 'Returned'} “{question.label}”"
                 + (f": {comment}" if comment else ""),
                 before={"status": AnswerStatus.SUBMITTED.label},
                 after={"status": answer.status.label, "review_comment": comment or None}, at=now)
    return answer


def reopen_for_metric(session: Session, actor: User, system: AISystem, metric_id: int, change: str) -> None:
    """A linked baseline metric changed or went away: a submitted or accepted outcome answer no
    longer says what was reviewed, so it goes back to draft (and loses a deleted metric's link).
    The handler of inventory's ``metric.changed`` event."""
    answer = _answer(session, system, Question.OUTCOME)
    if answer is None or metric_id not in (answer.content or {}).get("metric_ids", []):
        return
    if change == "deleted":
        answer.content = {**answer.content, "metric_ids": [i for i in answer.content["metric_ids"] if i != metric_id]}
    if answer.status not in (AnswerStatus.SUBMITTED, AnswerStatus.ACCEPTED):
        return
    previous = answer.status
    answer.status, answer.attestation = AnswerStatus.DRAFT, None
    answer.updated_by_id = actor.id if actor is not None else None
    _flush(session)
    record_event(session, actor, "readiness.reopen", "readiness_answer", answer.id, system_id=system.id,
                 summary=f"“{Question.OUTCOME.label}” went back to draft: a linked baseline metric was {change}",
                 before={"status": previous.label}, after={"status": AnswerStatus.DRAFT.label})
