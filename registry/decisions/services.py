"""Recommendation facts, recording a decision with its frozen snapshot, and re-review on change.

``assess_system`` takes a system's facts from the one loader (``registry.state.facts``) and
applies the rules of ``registry.decisions.recommendation``.  ``record_decision`` freezes everything the
decision was based on into a JSON snapshot with its SHA-256; decisions are never changed
(the ORM and a database trigger refuse updates), a new one supersedes.
"""

from __future__ import annotations

import calendar
import hashlib
from datetime import date, datetime
from functools import cached_property

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.audit.checkpoints import try_checkpoint
from registry.audit.models import AuditEvent
from registry.audit.services import canonical_json, record_event
from registry.auth.models import User
from registry.auth.permissions import can_acknowledge_decision, can_record_decision, require
from registry.controls.services import control_rows
from registry.controls.staleness import is_stale
from registry.db import evidence_max_age_days, utcnow
from registry.decisions.after_baseline import after_baseline_snapshot
from registry.decisions.models import Decision, DecisionAcknowledgement, current_decisions
from registry.decisions.recommendation import ReadinessFacts, Recommendation, recommend
from registry.enums import (
    REVIEW_MONTHS,
    ControlStatus,
    DeclaredRegime,
    EUClass,
    Question,
    Stage,
    Tier,
    Verdict,
)
from registry.errors import Conflict, NotFound, ValidationFailed
from registry.inventory.determination import determination
from registry.inventory.models import AISystem
from registry.inventory.services import (
    FIELD_LABELS,
    flag_re_review,
    metric_snapshot,
    override_status,
    system_for_update,
    system_snapshot,
)
from registry.readiness.questions import PROMPTS, describe
from registry.readiness.services import answers_for, context_for
from registry.state.facts import load_facts
from registry.state.standing import cached_recommendation

# 2 adds audit_trail; 3 the EU AI Act class and OMB flag; 4 the verified count (N of M required
# controls), the override's confirmation and the previous decision's owner acknowledgement; 5 what followed the baseline
# (observations and drift, incidents, pass^k against the gate, the value case and stops)
SNAPSHOT_SCHEMA = "readiness-registry/decision-snapshot/5"
# Profile changes that call a recorded decision into question (keys of ``system_snapshot``).
MATERIAL_FIELDS = {"accountable_owner": "Accountable owner", "tier": "Risk tier", "computed_tier": "Tier from the rules", "data_categories": "Data touched",
                   "autonomy": "Autonomy", "kind": "Kind", "affects": "Affects",
                   "decision_domains": "Decisions about people in", "legal_effect": "Legal or similar effect",
                   "eu_class": "EU AI Act class", "omb_high_impact": "OMB M-25-21 high-impact"}


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def default_expiry(tier: Tier | str, today: date) -> date:
    return add_months(today, REVIEW_MONTHS[Tier(tier).value])


def latest_decision(session: Session, system_id: int) -> Decision | None:
    """The system's current decision (``current_decisions`` is the one definition)."""
    current = current_decisions([system_id])
    return session.scalar(select(Decision).join(current, current.c.decision_id == Decision.id))


def decisions_for(session: Session, system_id: int) -> list[Decision]:
    """Every decision of the system, the current one first (the order ``current_decisions`` ranks by)."""
    return list(session.scalars(
        select(Decision).where(Decision.system_id == system_id).order_by(Decision.decided_at.desc(), Decision.id.desc())
    ).unique())


class SystemReadiness:
    """Everything the system pages show about one system: the recommendation now (from the state
    cache when it is current, else from the one fact loader), the current decision, and, loaded
    when a page asks for them, the answers and the control rows."""

    def __init__(self, session: Session, system: AISystem, recommendation: Recommendation,
                 facts: ReadinessFacts | None, decision: Decision | None, today: date, max_age_days: int):
        self._session = session
        self.system, self.recommendation, self.decision = system, recommendation, decision
        self.today, self.max_age_days = today, max_age_days
        self._facts = facts

    @cached_property
    def answers(self) -> dict:
        return answers_for(self._session, self.system.id)

    @cached_property
    def rows(self) -> list:
        return control_rows(self._session, self.system)

    @property
    def facts(self) -> ReadinessFacts:
        if self._facts is None:
            self._facts = load_facts(self._session, [self.system.id], today=self.today,
                                     max_age_days=self.max_age_days)[self.system.id].facts
        return self._facts

    def recommendation_for_new_decision(self) -> Recommendation:
        """What a review recording a new decision compares against: the same facts, without the
        overdue re-review or material change that the new decision resolves."""
        return recommend(self.facts, for_new_decision=True)

    @property
    def decision_expired(self) -> bool:
        return self.decision is not None and self.decision.expired(self.today)


def assess_system(session: Session, system: AISystem, *, today: date | None = None,
                  max_age_days: int | None = None, for_new_decision: bool = False) -> SystemReadiness:
    """Where ``system`` stands, for the system pages and the decision form.

    The recommendation comes from the one fact loader (``registry.state.facts``): read back from
    the state cache it keeps (``registry.state.standing``) when that is current, else computed
    now.  A new decision, another day or another evidence age is always computed now."""
    now = today is None and max_age_days is None and not for_new_decision
    today = today or utcnow().date()
    max_age_days = evidence_max_age_days(session) if max_age_days is None else max_age_days
    cached = cached_recommendation(session, system.id, today) if now else None
    if cached is not None:
        recommendation, decision_id = cached
        facts = None
    else:
        loaded = load_facts(session, [system.id], today=today, max_age_days=max_age_days)[system.id]
        facts = loaded.facts
        recommendation = recommend(facts, for_new_decision=for_new_decision)
        decision_id = loaded.decision.id if loaded.decision else None
    decision = session.get(Decision, decision_id) if decision_id else None
    return SystemReadiness(session, system, recommendation, facts, decision, today, max_age_days)


AUDIT_TRAIL_EVENTS = 30  # the most recent events of the system, frozen into the snapshot


def build_snapshot(session: Session, state: SystemReadiness, now: datetime | None = None) -> dict:
    """The frozen record of what a decision was based on (JSON-ready, names not ids)."""
    system, today = state.system, state.today
    ctx = context_for(session, system, state.answers, today=today)
    answers = []
    for question in Question:
        a = state.answers.get(question)
        answers.append({
            "question": question.value, "title": question.label, "prompt": PROMPTS[question],
            "status": a.status.label if a else "Not answered",
            "answer": [{"label": k, "value": v} for k, v in describe(question, a.content if a else {}, ctx)],
            "attestation": a.attestation if a else None,
            "submitted_by": a.submitted_by.label if a and a.submitted_by else None,
            "submitted_at": a.submitted_at.isoformat() if a and a.submitted_at else None,
            "reviewed_by": a.reviewed_by.label if a and a.reviewed_by else None,
            "reviewed_at": a.reviewed_at.isoformat() if a and a.reviewed_at else None,
            "review_comment": a.review_comment if a else None,
        })
    controls = []
    for r in state.rows:
        if not r.required:
            continue
        a = r.assessment
        controls.append({
            "framework": r.control.framework.name, "ref": r.control.ref, "function": r.control.function,
            "title": r.control.title, "status": r.status.label,
            "due_on": a.due_on.isoformat() if a and a.due_on else None,
            "na_reason": a.na_reason if a else None,
            "verified_by": a.verified_by.label if a and a.verified_by else None,
            "verified_at": a.verified_at.isoformat() if a and a.verified_at else None,
            "evidence": [{
                "id": e.id, "kind": e.kind.value, "description": e.description, "file_name": e.file_name,
                "url": e.url, "sha256": e.sha256, "size_bytes": e.size_bytes,
                "collected_on": e.collected_on.isoformat(), "stale": is_stale(e.collected_on, today, state.max_age_days),
                "added_by": e.added_by.label if e.added_by else None,
            } for e in (a.evidence if a else [])],
            **({"waiver": {"reason": a.waiver_reason, "granted_by": a.waiver_granted_by,
                           "expires_on": a.waiver_expires_on.isoformat() if a.waiver_expires_on else None}}
               if a and a.status is ControlStatus.WAIVED else {}),
        })
    head = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    trail = session.scalars(select(AuditEvent).where(AuditEvent.system_id == system.id)
                            .order_by(AuditEvent.seq.desc()).limit(AUDIT_TRAIL_EVENTS)).all()
    rec = state.recommendation
    return {
        "schema": SNAPSHOT_SCHEMA,
        "taken_at": (now or utcnow()).isoformat(timespec="seconds"),
        "system": {"id": system.id, **system_snapshot(system)},
        "tier": {"effective": Tier(system.tier).label, "computed": Tier(system.computed_tier).label,
                 "reasons": list(system.tier_reasons or []),
                 "override": None if not system.tier_override else {
                     "tier": Tier(system.tier_override).label, "reason": system.tier_override_reason,
                     "by": system.tier_override_by.label if system.tier_override_by else None,
                     "at": system.tier_override_at.isoformat() if system.tier_override_at else None,
                     "made_against": Tier(system.tier_override_against).label if system.tier_override_against else None,
                     "confirmed_by": (system.tier_override_confirmed_by.label
                                      if system.tier_override_confirmed_by else None),
                     "confirmed_at": (system.tier_override_confirmed_at.isoformat()
                                      if system.tier_override_confirmed_at else None),
                     "status": override_status(system)},
                 # As stored (what every page and rule uses), not recomputed here.
                 "eu_ai_act_class": (EUClass(system.eu_class).label + (f": {system.eu_basis}" if system.eu_basis else "")
                                     if system.eu_class else "Not recorded (computed under earlier tier rules)"),
                 "omb_m_25_21_high_impact": system.omb_high_impact if system.eu_class else None,
                 "omb_m_25_21_basis": (system.omb_basis if system.eu_class
                                       else "not recorded (computed under earlier tier rules)"),
                 "rules_version": system.tier_rules,
                 "declared": (None if system.declared_high_impact is None else
                              {"high_impact": system.declared_high_impact,
                               "regime": DeclaredRegime(system.declared_regime).label,
                               "justification": system.declared_justification or None,
                               "source": system.declared_source or None,
                               "disagreement": determination(system).message or None})},
        "answers": answers,
        "metrics": [{"id": m.id, **metric_snapshot(m)} for m in system.metrics],
        "controls": controls,
        "after_baseline": after_baseline_snapshot(session, system),
        "recommendation": {"verdict": rec.verdict.value, "label": rec.verdict.label,
                           "blockers": [{"rule": b.rule, "severity": b.severity, "message": b.message}
                                        for b in rec.blockers],
                           "verified_controls": rec.verified_controls, "required_controls": rec.required_controls},
        "audit_head": {"seq": head.seq, "hash": head.hash} if head else None,
        "audit_trail": [{"seq": e.seq, "at": e.when.isoformat(timespec="seconds"), "actor": e.actor_label,
                         "action": e.action, "summary": e.summary, "hash": e.hash} for e in reversed(trail)],
    }


def _conditions(raw) -> list[str]:
    if isinstance(raw, str):
        raw = raw.splitlines()
    return [c.strip() for c in (raw or []) if c and c.strip()]


def basis_fingerprint(recommendation: Recommendation) -> str:
    """A short hash of what a reviewer sees when deciding: the verdict and every open item."""
    data = [recommendation.verdict.value, [[b.rule, b.severity, b.message] for b in recommendation.blockers]]
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()[:20]


def record_decision(session: Session, actor: User, system_id: int, payload: dict, *, now: datetime | None = None,
                    max_age_days: int | None = None, expected_basis: str | None = None) -> Decision:
    """Record GO / CONDITIONAL GO / NO-GO with rationale, conditions and expiry; freeze the snapshot.

    ``now`` exists for the demo seeder (decisions taken in the past); everything else uses the clock.
    """
    system = system_for_update(session, system_id)
    dated, now = now, now or utcnow()
    today = now.date()
    state = assess_system(session, system, today=today, max_age_days=max_age_days, for_new_decision=True)
    require(actor is not None and can_record_decision(actor, system),
            "Only a compliance officer who is not named on the system can record its decision.")
    if expected_basis is not None and expected_basis != basis_fingerprint(state.recommendation):
        raise Conflict("The answers, controls or evidence changed since you opened this page, so the decision "
                       "was not recorded. Review the recommendation again, then record the decision.")
    errors: dict[str, list[str]] = {}
    try:
        verdict = Verdict(payload.get("verdict") or "")
    except ValueError:
        verdict = None
        errors["verdict"] = ["Choose GO, CONDITIONAL GO or NO-GO."]
    rationale = (payload.get("rationale") or "").strip()
    conditions = _conditions(payload.get("conditions"))
    recommended = state.recommendation.verdict
    if not rationale:
        errors["rationale"] = ["Write the rationale for the decision."]
    if verdict is not None:
        rec = state.recommendation
        if Tier(system.tier) is Tier.UNACCEPTABLE and verdict is not Verdict.NO_GO:
            errors["verdict"] = ["An unacceptable-tier system is always NO-GO."]
        elif Tier(system.tier) is Tier.NOT_ASSESSED and verdict is not Verdict.NO_GO:
            errors["verdict"] = ["The risk questions have not been answered (tier not assessed): only NO-GO can be "
                                 "recorded until they are."]
        elif verdict is Verdict.GO and rec.verified_controls < rec.required_controls:
            errors["verdict"] = [f"GO means verified: {rec.verified_controls} of {rec.required_controls} required "
                                 "controls are verified. " + (
                                     "On a high-risk system, have them verified first, or record NO-GO."
                                     if Tier(system.tier) is Tier.HIGH else
                                     "Record CONDITIONAL GO with the verification as a condition, or NO-GO.")]
        awaiting = sum(1 for c in state.facts.controls if c.awaits_verification)
        if verdict is Verdict.CONDITIONAL_GO and awaiting and not any("verif" in c.lower() for c in conditions):
            errors["conditions"] = [f"{awaiting} required control{'s are' if awaiting != 1 else ' is'} done but not "
                                    "verified: keep a condition to verify them (the form suggests “Verify "
                                    f"{awaiting} required control{'s' if awaiting != 1 else ''} by …”)."]
        if verdict is not recommended and len(rationale) < 40 and "rationale" not in errors:
            errors["rationale"] = [f"The decision differs from the recommendation ({recommended.label}): explain why "
                                   "in a written rationale (at least 40 characters)."]
        if verdict is Verdict.CONDITIONAL_GO and not conditions:
            errors["conditions"] = ["A CONDITIONAL GO needs at least one condition (one per line)."]
    default = default_expiry(system.tier, today)
    expires_on = payload.get("expires_on") or default
    if isinstance(expires_on, str):
        try:
            expires_on = date.fromisoformat(expires_on)
        except ValueError:
            errors["expires_on"] = ["Give the re-review date as YYYY-MM-DD."]
            expires_on = default
    if expires_on <= today:
        errors["expires_on"] = ["The re-review date must be in the future."]
    elif expires_on > default:
        errors["expires_on"] = [f"A {Tier(system.tier).label.lower()}-tier system is re-reviewed at least every "
                                f"{REVIEW_MONTHS[Tier(system.tier).value]} months: choose {default.isoformat()} or earlier."]
    if len(rationale) > 8000 or len(conditions) > 50:
        errors["rationale"] = ["The rationale or the list of conditions is too long."]
    if errors:
        raise ValidationFailed("The decision was not recorded: some fields need attention.", errors=errors)
    previous = state.decision
    snapshot = build_snapshot(session, state, now)
    decided_at = now
    snapshot["decision"] = {
        "verdict": verdict.value, "label": verdict.label, "recommended": recommended.value,
        "differs_from_recommendation": verdict is not recommended, "rationale": rationale,
        "conditions": conditions, "expires_on": expires_on.isoformat(), "decided_by": actor.label,
        "decided_at": decided_at.isoformat(timespec="seconds"), "supersedes": previous.id if previous else None,
        # At issue nobody has acknowledged this decision yet: the owner does so afterwards, and
        # the registry (decision page, verify result, the next decision's snapshot) says when.
        "owner_acknowledgement": None,
    }
    snapshot["previous_decision"] = None if previous is None else {
        "id": previous.id, "verdict": previous.verdict.label,
        "decided_at": previous.decided_at.isoformat(timespec="seconds"),
        "owner_acknowledgement": acknowledgement_record(session, previous.id),
    }
    decision = Decision(
        system_id=system.id, verdict=verdict, recommended=recommended, rationale=rationale, conditions=conditions,
        expires_on=expires_on, decided_by_id=actor.id, decided_at=decided_at,
        accountable_owner_id=system.accountable_owner_id,
        supersedes_id=previous.id if previous else None, snapshot=snapshot, snapshot_sha256=snapshot_hash(snapshot),
    )
    session.add(decision)
    system.re_review_required_at, system.re_review_reasons = None, []
    session.flush()
    record_event(session, actor, "decision.record", "decision", decision.id, system_id=system.id, at=dated,
                 summary=f"Recorded {verdict.label} for {system.name} (recommendation {recommended.label})",
                 after={"verdict": verdict.label, "recommendation": recommended.label, "rationale": rationale,
                        "conditions": conditions, "expires_on": expires_on.isoformat(),
                        "snapshot_sha256": decision.snapshot_sha256,
                        "supersedes": f"decision #{previous.id}" if previous else None})
    try_checkpoint(session, "decision")
    return decision


def acknowledgement_for(session: Session, decision_id: int) -> DecisionAcknowledgement | None:
    return session.get(DecisionAcknowledgement, decision_id)


def acknowledgement_record(session: Session, decision_id: int) -> dict | None:
    """The owner's acknowledgement as the verify result and snapshots state it (None: not acknowledged)."""
    ack = acknowledgement_for(session, decision_id)
    return None if ack is None else {"by": ack.user.label, "at": ack.acknowledged_at.isoformat(timespec="seconds")}


def acknowledge_decision(session: Session, actor: User, system_id: int, decision_id: int,
                         *, now: datetime | None = None) -> DecisionAcknowledgement:
    """The accountable owner acknowledges the current decision and its conditions: once, dated, audited."""
    system = system_for_update(session, system_id)
    decision = get_decision(session, system_id, decision_id)
    require(actor is not None and can_acknowledge_decision(actor, system, decision),
            "Only the accountable owner named when the decision was taken acknowledges it.")
    current = latest_decision(session, system_id)  # the system has one: ``decision`` at least
    if current.id != decision.id:
        raise Conflict(f"Decision #{decision.id} has been superseded by decision #{current.id}: "
                       "acknowledge the current decision instead.")
    existing = acknowledgement_for(session, decision.id)
    if existing is not None:
        raise Conflict(f"Decision #{decision.id} was already acknowledged by {existing.user.label} "
                       f"on {existing.acknowledged_at:%Y-%m-%d %H:%M} UTC.")
    ack = DecisionAcknowledgement(decision_id=decision.id, system_id=system.id, user_id=actor.id,
                                  acknowledged_at=now or utcnow())
    ack.user = actor
    session.add(ack)  # a second one at the same time waits for the system's row lock, then sees this
    session.flush()
    n = len(decision.conditions or [])
    record_event(session, actor, "decision.acknowledge", "decision", decision.id, system_id=system.id, at=now,
                 summary=f"{actor.label} acknowledged {decision.verdict.label} (decision #{decision.id})"
                         + (f" and its {n} condition{'s' if n != 1 else ''}" if n else ""),
                 after={"decision": f"#{decision.id}", "verdict": decision.verdict.label,
                        "conditions": list(decision.conditions or []),
                        "acknowledged_at": ack.acknowledged_at.isoformat(timespec="seconds")})
    return ack


def recorded_heads_missing(session: Session) -> list[str]:
    """Every recorded decision froze the audit chain's head (seq and hash) into its snapshot: the
    chain must still hold that event with that hash.  Deleting the newest events back past a
    decision, or rewriting the chain up to it, is then seen.  One sentence per problem."""
    problems = []
    head = Decision.snapshot["audit_head"]  # read in the database: not the snapshots themselves
    heads = {decision_id: (seq, digest_) for decision_id, seq, digest_ in session.execute(
        select(Decision.id, head["seq"].as_integer(), head["hash"].as_string()).order_by(Decision.id))
        if seq is not None}
    found = {}
    seqs = sorted({seq for seq, _ in heads.values()})
    for i in range(0, len(seqs), 1000):
        found.update(session.execute(select(AuditEvent.seq, AuditEvent.hash)
                                     .where(AuditEvent.seq.in_(seqs[i:i + 1000]))).all())
    for decision_id, (seq, digest_) in heads.items():
        if seq not in found:
            problems.append(f"decision #{decision_id} recorded the chain head #{seq}, which is missing from the chain")
        elif found[seq] != digest_:
            problems.append(f"decision #{decision_id} recorded the chain head #{seq} with hash {digest_[:16]}…, "
                            f"but the chain's event #{seq} has {found[seq][:16]}…")
    return problems


def snapshot_hash(snapshot: dict) -> str:
    return hashlib.sha256(canonical_json(snapshot).encode("utf-8")).hexdigest()


def get_decision(session: Session, system_id: int, decision_id: int) -> Decision:
    decision = session.get(Decision, decision_id)
    if decision is None or decision.system_id != system_id:
        raise NotFound("There is no such decision for this system.")
    return decision


def material_changes(before: dict, after: dict) -> list[str]:
    """What in a profile change calls a recorded decision into question (readable sentences)."""
    reasons = [f"{label}: {before.get(key) or 'none'} → {after.get(key) or 'none'}"
               for key, label in MATERIAL_FIELDS.items() if _as_set(before.get(key)) != _as_set(after.get(key))]
    production = Stage.PRODUCTION.label
    if after.get("stage") == production and before.get("stage") != production:
        reasons.append(f"Lifecycle stage: {before.get('stage')} → {production}")
    return reasons


def _as_set(value):
    """Lists read as "A, B" compare regardless of order (the same domains in another order are no change)."""
    return frozenset(part.strip() for part in value.split(",")) if isinstance(value, str) else value


def flag_material_change(session: Session, actor, system: AISystem, before: dict, after: dict,
                         at: datetime | None = None, notes: list[str] | tuple = ()) -> list[str]:
    """Mark the system "re-review required" when a material change follows a recorded decision
    (the handler of inventory's ``system.profile_changed`` event; ``at``: when the change happened;
    ``notes``: reasons the profile diff cannot show, such as a lapsed tier override)."""
    reasons = [*notes, *material_changes(before, after)]
    if not reasons:
        return []
    has_decision = session.scalar(select(func.count(Decision.id)).where(Decision.system_id == system.id))
    if not has_decision:
        return []
    flag_re_review(session, actor, system, reasons, at=at)
    return reasons


def flag_drift_alert(session: Session, actor, system_id: int, alert_id: int, summary: str,
                     at: datetime | None = None) -> list[str]:
    """Mark a system in production "re-review required" when a drift alert opens after a recorded
    decision (the handler of monitoring's ``monitoring.drift_alert_opened`` event): the decision
    was taken on measurements the system no longer meets."""
    system = session.get(AISystem, system_id)
    if system is None or system.deleted_at is not None or Stage(system.stage) is not Stage.PRODUCTION:
        return []
    if not session.scalar(select(func.count(Decision.id)).where(Decision.system_id == system.id)):
        return []
    reasons = [f"Drift alert #{alert_id}: {summary}"]
    flag_re_review(session, actor, system, reasons, at=at)
    return reasons


def changes_since(decision: Decision, system: AISystem) -> list[tuple[str, str, str]]:
    """(field, at the decision, now) for every profile field that differs from the decision's snapshot."""
    then = decision.snapshot.get("system", {})
    now = system_snapshot(system)
    return [(FIELD_LABELS.get(k, k), str(then.get(k) or "—"), str(now.get(k) or "—"))
            for k in now if k in then and then.get(k) != now.get(k)]
