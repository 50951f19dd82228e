"""The JSON API's representations, built from the models as plain data; every response is dumped
through the schema its operation documents (its domain's ``…RecordSchema``), so what the API
returns is exactly what its OpenAPI document says."""

from __future__ import annotations

import hashlib
from datetime import date

from registry.audit.models import AuditEvent
from registry.controls.services import ControlRow, is_stale
from registry.decisions.models import Decision, DecisionAcknowledgement
from registry.decisions.recommendation import Recommendation
from registry.enums import Question
from registry.inventory.models import AISystem, BaselineMetric
from registry.inventory.services import override_status, system_payload
from registry.portfolio.services import Portfolio
from registry.readiness.models import ReadinessAnswer
from registry.readiness.questions import OWNER_ROLES, PROMPTS, AnswerContext, missing_parts
from registry.review.services import Queue


def _value(member):
    return None if member is None else getattr(member, "value", member)


def _email(user) -> str | None:
    return user.email if user is not None else None


def _label(user) -> str | None:
    return user.label if user is not None else None


def etag(version: int | str) -> str:
    return f'"{version}"'


def system_record(system: AISystem) -> dict:
    data = system_payload(system)
    data["risk"] = dict(system.risk_answers or {})
    data.update(
        id=system.id, version=system.version, tier=_value(system.tier), computed_tier=_value(system.computed_tier),
        tier_reasons=list(system.tier_reasons or []), tier_override=_value(system.tier_override),
        eu_class=_value(system.eu_class), omb_high_impact=system.omb_high_impact,
        re_review_required=system.re_review_required_at is not None,
        re_review_reasons=list(system.re_review_reasons or []), external_id=system.external_id or "",
        import_source=system.import_source or "", organisation=system.organisation or "",
        topic_area=system.topic_area or "", outputs=system.outputs or "", operational_date=system.operational_date,
        contact=system.contact or "", missing_fields=list(system.missing_fields or []),
        created_at=system.created_at, updated_at=system.updated_at,
    )
    return (data)


def system_summary(system: AISystem) -> dict:
    return ({
        "id": system.id, "version": system.version, "name": system.name, "business_unit": system.business_unit,
        "accountable_owner": _email(system.accountable_owner), "stage": _value(system.stage),
        "kind": _value(system.kind), "tier": _value(system.tier),
        "data_categories": [c.value for c in system.data_categories], "updated_at": system.updated_at,
    })


def risk_record(system: AISystem) -> dict:
    return ({
        "version": system.version, "answers": dict(system.risk_answers or {}),
        "computed_tier": _value(system.computed_tier), "tier": _value(system.tier),
        "reasons": list(system.tier_reasons or []), "tier_override": _value(system.tier_override),
        "tier_override_reason": system.tier_override_reason, "override_status": override_status(system),
        "eu_class": _value(system.eu_class), "eu_basis": system.eu_basis or "",
        "omb_high_impact": system.omb_high_impact, "omb_basis": system.omb_basis or "",
        "rules_version": system.tier_rules, "declared": system_payload(system)["declared"],
    })


def metric_record(metric: BaselineMetric) -> dict:
    return ({
        "id": metric.id, "name": metric.name, "unit": metric.unit, "baseline": metric.baseline_value,
        "measured_on": metric.measured_on, "source": metric.source or "", "target": metric.target_value,
        "direction": _value(metric.direction),
    })


def metric_etag(metric: BaselineMetric) -> str:
    """Metrics carry no version column: their ETag is a digest of what the API shows of them."""
    record = metric_record(metric)
    text = "|".join(f"{k}={record[k]}" for k in sorted(record))
    return etag("m" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16])


def answer_content(question: Question, content: dict, ctx: AnswerContext) -> dict:
    """The stored answer in its schema's form: people by email (stored by id), so it can be sent back."""
    content = dict(content or {})
    if question is Question.OWNERSHIP:
        for key in OWNER_ROLES:
            person = ctx.people.get(content.get(key)) if content.get(key) is not None else None
            content[key] = person.email if person is not None else None
    return content


def answer_record(question: Question, answer: ReadinessAnswer | None, ctx: AnswerContext) -> dict:
    content = answer.content if answer else {}
    return ({
        "question": question.value, "prompt": PROMPTS[question],
        "status": _value(answer.status) if answer else None, "version": answer.version if answer else 0,
        "content": answer_content(question, content, ctx), "missing": missing_parts(question, content, ctx),
        "attestation": answer.attestation if answer else None,
        "submitted_by": _label(answer.submitted_by) if answer else None,
        "submitted_at": answer.submitted_at if answer else None,
        "reviewed_by": _label(answer.reviewed_by) if answer else None,
        "reviewed_at": answer.reviewed_at if answer else None,
        "review_comment": answer.review_comment if answer else None,
        "updated_at": answer.updated_at if answer else None,
    })


def evidence_record(evidence, today: date, max_age_days: int) -> dict:
    return ({
        "id": evidence.id, "kind": _value(evidence.kind), "description": evidence.description, "url": evidence.url,
        "file_name": evidence.file_name, "content_type": evidence.content_type, "size_bytes": evidence.size_bytes,
        "sha256": evidence.sha256, "collected_on": evidence.collected_on,
        "stale": is_stale(evidence, today, max_age_days), "added_by": _label(evidence.added_by),
        "added_at": evidence.added_at,
    })


def control_record(row: ControlRow, today: date, max_age_days: int) -> dict:
    control, a = row.control, row.assessment
    return ({
        "control_id": control.id, "framework": control.framework_key, "ref": control.ref,
        "function": control.function, "title": control.title, "required": row.required,
        "waivable": control.waivable, "version": a.version if a else 0, "status": row.status.value,
        "due_on": a.due_on if a else None, "na_reason": a.na_reason if a else None, "notes": (a.notes if a else "") or "",
        "waiver_reason": a.waiver_reason if a else None, "waiver_granted_by": a.waiver_granted_by if a else None,
        "waiver_expires_on": a.waiver_expires_on if a else None,
        "verified_by": _label(a.verified_by) if a else None, "verified_at": a.verified_at if a else None,
        "evidence": [evidence_record(e, today, max_age_days) for e in (a.evidence if a else [])],
    })


def recommendation_record(recommendation: Recommendation) -> dict:
    return ({
        "verdict": recommendation.verdict.value,
        "blockers": [{"rule": b.rule, "severity": b.severity, "message": b.message, "target": b.target}
                     for b in recommendation.blockers],
        "verified_controls": recommendation.verified_controls, "required_controls": recommendation.required_controls,
    })


def decision_record(decision: Decision, *, current: bool, acknowledgement: DecisionAcknowledgement | None) -> dict:
    return ({
        "id": decision.id, "system_id": decision.system_id, "verdict": decision.verdict.value,
        "recommended": decision.recommended.value, "rationale": decision.rationale,
        "conditions": list(decision.conditions or []), "expires_on": decision.expires_on,
        "decided_at": decision.decided_at, "decided_by": decision.decided_by.label,
        "supersedes_id": decision.supersedes_id, "current": current, "snapshot_sha256": decision.snapshot_sha256,
        "acknowledged_at": acknowledgement.acknowledged_at if acknowledgement else None,
        "acknowledged_by": _label(acknowledgement.user) if acknowledgement else None,
    })


def queue_record(queue: Queue) -> dict:
    def decided(r):
        return {"system_id": r.id, "system_name": r.name, "tier": _value(r.tier), "verdict": _value(r.verdict),
                "expires_on": r.expires_on, "re_review_reasons": list(r.re_review_reasons or [])}

    return ({
        "answers": [{"system_id": r.system_id, "system_name": r.name, "question": _value(r.question),
                     "submitted_at": r.submitted_at} for r in queue.answers],
        "answers_total": queue.answers_total,
        "to_verify": [{"system_id": r.system_id, "system_name": r.name, "control_id": r.control_id, "ref": r.ref,
                       "title": r.title, "status": _value(r.status), "updated_at": r.updated_at}
                      for r in queue.to_verify],
        "to_verify_total": queue.to_verify_total,
        "decisions_due": [{"system_id": r.id, "system_name": r.name, "tier": _value(r.tier)} for r in queue.decisions_due],
        "overdue": [decided(r) for r in queue.overdue],
        "due_soon": [decided(r) for r in queue.due_soon],
        "changed": [decided(r) for r in queue.changed],
        "overrides": [{"system_id": r.id, "system_name": r.name, "computed_tier": _value(r.computed_tier),
                       "tier_override": _value(r.tier_override), "proposed_at": r.tier_override_at,
                       "reason": r.tier_override_reason} for r in queue.overrides],
        "disagreements": [{"system_id": r.id, "system_name": r.name, "message": message}
                          for r, message in queue.disagreements],
    })


def portfolio_record(p: Portfolio) -> dict:
    return ({
        "total": p.total, "by_stage": {_value(k): n for k, n in p.by_stage.items()},
        "by_tier": {_value(k): n for k, n in p.by_tier.items()},
        "decisions": {_value(k): n for k, n in p.decisions.items()},
        "recommendations": {_value(k): n for k, n in p.recommendations.items()},
        "overdue": p.overdue, "due_soon": p.due_soon, "stale_evidence": p.stale_evidence, "re_review": p.re_review,
        "pilots_reached": p.pilots_reached, "pilots_to_production": p.pilots_to_production,
        "pilot_to_production": p.pilot_to_production,
        "funnel": [{**f, "stage": _value(f["stage"])} for f in p.funnel],
        "blockers": p.blockers, "units": p.units,
    })


def audit_record(event: AuditEvent) -> dict:
    return ({
        "seq": event.seq, "at": event.when, "action": event.action, "entity_type": event.entity_type,
        "entity_id": event.entity_id, "system_id": event.system_id, "actor_id": event.actor_id,
        "actor": event.actor_label, "summary": event.summary, "before": event.before, "after": event.after,
    })
