"""Readiness state for synthetic systems (benchmarks): answers, control assessments, decisions.

Bulk INSERTs like the synthetic inventory; the content is marked synthetic and minimal, but
the statuses, dates and verdicts follow realistic proportions so that the review queue,
the decision pages and (later) the portfolio see a believable load at 10,000 systems.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from registry.auth.models import User
from registry.controls.applicability import active_controls
from registry.controls.models import ControlAssessment
from registry.db import utcnow
from registry.decisions.models import Decision
from registry.enums import AnswerStatus, ControlStatus, Question, Role, Verdict
from registry.inventory.models import AISystem
from registry.readiness.models import ReadinessAnswer

# Waivers need a reason, a grantor and an expiry, and only some controls allow them: none here.
STATUSES = [s for s in ControlStatus if s is not ControlStatus.WAIVED]


def seed_readiness_state(session: Session, system_ids: list[int], rng: random.Random, insert) -> dict[str, int]:
    now = utcnow()
    officers = insert(session, User, [{
        "email": f"synthetic.officer.{rng.randrange(10**9)}.{i}@synthetic.example", "name": f"Synthetic Officer {i}",
        "role": Role.COMPLIANCE, "password_hash": "!synthetic-account-cannot-sign-in", "is_active": True,
        "session_epoch": 0, "created_at": now} for i in range(3)])
    controls = [c.id for c in active_controls(session)]
    answers, assessments, decisions, flagged = [], [], [], []
    for system_id in system_ids:
        profile = rng.choices(["none", "drafting", "in_review", "returned", "accepted"], weights=[30, 25, 20, 10, 15])[0]
        if profile != "none":
            for question in Question:
                status = {
                    "drafting": rng.choice([AnswerStatus.DRAFT, AnswerStatus.DRAFT, AnswerStatus.ACCEPTED]),
                    "in_review": rng.choice([AnswerStatus.SUBMITTED, AnswerStatus.ACCEPTED]),
                    "returned": rng.choice([AnswerStatus.RETURNED, AnswerStatus.SUBMITTED, AnswerStatus.ACCEPTED]),
                    "accepted": AnswerStatus.ACCEPTED,
                }[profile]
                at = now - timedelta(days=rng.randint(1, 200))
                answers.append({
                    "system_id": system_id, "question": question, "status": status, "content": {"synthetic": True},
                    "submitted_at": at if status is not AnswerStatus.DRAFT else None,
                    "reviewed_at": at + timedelta(days=2) if status in (AnswerStatus.ACCEPTED, AnswerStatus.RETURNED) else None,
                    "reviewed_by_id": rng.choice(officers) if status in (AnswerStatus.ACCEPTED, AnswerStatus.RETURNED) else None,
                    "review_comment": "Add the data source of the baseline." if status is AnswerStatus.RETURNED else None,
                    "updated_at": at, "version": 1,
                })
        if controls and rng.random() < 0.3:
            for control_id in rng.sample(controls, min(len(controls), rng.randint(3, 15))):
                status = rng.choice(STATUSES)
                updated = now - timedelta(days=rng.randint(1, 90))
                verified = status in (ControlStatus.IMPLEMENTED, ControlStatus.NOT_APPLICABLE) and rng.random() < 0.8
                assessments.append({
                    "verified_at": updated + timedelta(days=1) if verified else None,
                    "verified_by_id": rng.choice(officers) if verified else None,
                    "system_id": system_id, "control_id": control_id, "status": status,
                    "due_on": (now + timedelta(days=rng.randint(10, 120))).date() if status is ControlStatus.IN_PROGRESS else None,
                    "na_reason": "Synthetic: not relevant" if status is ControlStatus.NOT_APPLICABLE else None,
                    "notes": "", "updated_at": updated, "version": 1,
                })
        if profile == "accepted" or rng.random() < 0.08:
            decided = now - timedelta(days=rng.randint(5, 700))
            verdict = rng.choices(list(Verdict), weights=[45, 30, 25])[0]
            snapshot = {"schema": "readiness-registry/decision-snapshot/1", "synthetic": True,
                        "decision": {"verdict": verdict.value}}
            decisions.append({
                "system_id": system_id, "verdict": verdict, "recommended": verdict,
                "rationale": "Synthetic decision for benchmarks.", "conditions": [],
                "expires_on": (decided + timedelta(days=rng.choice([182, 365, 730]))).date(),
                "decided_by_id": rng.choice(officers), "decided_at": decided, "snapshot": snapshot,
                "snapshot_sha256": hashlib.sha256(json.dumps(snapshot, sort_keys=True, separators=(",", ":"))
                                                  .encode()).hexdigest(),
            })
            if rng.random() < 0.05:
                flagged.append(system_id)
    if answers:
        insert(session, ReadinessAnswer, answers)
    if assessments:
        insert(session, ControlAssessment, assessments)
    if decisions:
        insert(session, Decision, decisions)
    if flagged:
        session.execute(update(AISystem).where(AISystem.id.in_(flagged)).values(
            re_review_required_at=now, re_review_reasons=["Autonomy: Human-in-the-loop → Human-on-the-loop"]))
    return {"answers": len(answers), "assessments": len(assessments), "decisions": len(decisions)}
