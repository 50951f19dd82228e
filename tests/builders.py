"""Builders for readiness answers, control assessments and evidence (tests only)."""

from __future__ import annotations

import io
from datetime import date, timedelta

from registry.controls.evidence_store import EvidenceStore
from registry.controls.services import add_evidence, assess_control, control_rows, verify_control
from registry.db import utcnow
from registry.enums import Question
from registry.inventory.services import add_metric
from registry.readiness.services import review_answer, save_answer, submit_answer
from registry.value.models import ValueCase


def measured_metric(session, owner, system):
    metric = add_metric(session, owner, system.id, {
        "name": "Claims triaged within 24 hours", "unit": "%", "baseline": 71.5, "measured_on": "2026-03-31",
        "source": "Claims system export, Q1 2026", "target": 85, "direction": "higher"})
    session.flush()
    return metric


def complete_payloads(system, people: dict, metric_ids: list[int]) -> dict[Question, dict]:
    rehearsal = (utcnow().date() - timedelta(days=30)).isoformat()
    owner = people["owner"].email
    return {
        Question.OUTCOME: {"business_outcome": "Urgent claims reach an adjuster within a day.", "metric_ids": metric_ids},
        Question.OWNERSHIP: {"performance_owner": owner, "review_queue_owner": owner, "escalation_owner": owner,
                             "business_impact_owner": owner},
        Question.DRIFT: {"signals": [{"signal": "Share of claims ranked urgent", "threshold": "±5 points week on week",
                                      "frequency": "weekly", "alerted": "Olu Owner"}]},
        Question.HUMAN_WORKFLOW: {"never_automate": True, "suggest_at": 60, "escalation_triggers": ["Injury mentioned"],
                                  "reviewer_role": "Senior adjuster", "reviewer_capacity_per_day": 120,
                                  "feedback_loop": "Adjusters' re-rankings are labelled and used in the monthly retrain."},
        Question.ROLLBACK: {"kill_switch": "Feature flag claims.triage in the claims console", "degraded_modes": {
            "full": "Ranked queue", "degraded": "Rules-based ranking", "minimal": "First in, first out",
            "offline": "Banner in the console"}, "fallback_process": "Adjusters work the queue by arrival time.",
            "time_to_pause_minutes": 5, "last_rehearsal": rehearsal},
    }


def accept_all_answers(session, people, system, *, metric=None) -> None:
    """All five answers saved, submitted by the accountable owner and accepted by compliance."""
    metric = metric or measured_metric(session, people["owner"], system)
    for question, payload in complete_payloads(system, people, [metric.id]).items():
        save_answer(session, people["owner"], system.id, question, payload)
        submit_answer(session, people["owner"], system.id, question, attest=True)
        review_answer(session, people["compliance"], system.id, question, {"outcome": "accept"})
    session.commit()


def budgeted_value_case(session, system, *, run_cost: float = 24_000.0) -> ValueCase:
    """A value case with a budgeted run cost, its funder and a maintenance team: what GO needs of a
    medium or high tier system besides its answers and controls (``registry.value.rules``)."""
    case = session.get(ValueCase, system.id) or ValueCase(system_id=system.id)
    case.currency, case.expected_annual_value, case.value_basis = "EUR", 250_000.0, "Pilot: 1.2 FTE of manual triage saved"
    case.annual_run_cost, case.run_funded_by = run_cost, "Claims operations budget"
    case.annual_maintenance_cost, case.maintenance_team = 60_000.0, "Claims ML platform team"
    session.add(case)
    session.flush()
    return case


def implement_all_controls(session, owner, system, store: EvidenceStore | None = None, *, collected_on: date | None = None,
                           except_refs: tuple[str, ...] = (), verifier=None, value_case: bool = True) -> list:
    """Every required control implemented, each with one piece of evidence (a link, or a file with
    ``store``), and verified by ``verifier`` (a compliance officer not named on it) when given; and,
    unless ``value_case`` is False, a budgeted value case (``budgeted_value_case``)."""
    if value_case:
        budgeted_value_case(session, system)
    rows = [r for r in control_rows(session, system) if r.required and r.control.ref not in except_refs]
    for row in rows:
        assess_control(session, owner, system.id, row.control.id, {"status": "implemented"})
        stored = store.save(session, io.BytesIO(f"Evidence for {row.control.ref}\n".encode()), "evidence.txt") if store else None
        add_evidence(session, owner, system.id, row.control.id, {
            "description": f"Evidence for {row.control.ref}", "url": None if store else f"https://wiki.example.test/{row.control.id}",
            "collected_on": (collected_on or utcnow().date()).isoformat()}, stored=stored)
        if verifier is not None:
            verify_control(session, verifier, system.id, row.control.id)
    session.commit()
    return rows
