"""What followed the baseline, frozen into a decision's snapshot (and so into its audit PDF): each
metric's recent observations with its drift rule, band, breaches and alerts
(``registry.monitoring.services.monitoring_snapshot``); the incidents; the
evaluation trials' pass^k curve against the release gate; the value case and any stop.

JSON-ready, labels not ids, like the rest of the snapshot (``registry.decisions.services.build_snapshot``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from registry.enums import FailureMode, IncidentStatus, Severity
from registry.incidents.services import list_incidents
from registry.inventory.models import AISystem
from registry.monitoring.services import monitoring_snapshot
from registry.reliability.services import reliability_summary
from registry.value.rules import value_case_gaps
from registry.value.services import stops_for, value_case_for, value_snapshot


def after_baseline_snapshot(session: Session, system: AISystem) -> dict:
    return {"monitoring": monitoring_snapshot(session, system), "incidents": _incidents(session, system.id),
            "reliability": _reliability(session, system.id), "value": _value(session, system)}


def _incidents(session: Session, system_id: int) -> list[dict]:
    incidents = list_incidents(session, system_id)  # in the incidents page's order
    return [{"occurred_on": i.occurred_on.isoformat(), "severity": Severity(i.severity).label,
             "status": IncidentStatus(i.status).label, "title": i.title, "description": i.description,
             "affected": i.affected or None,
             "failure_mode": FailureMode(i.failure_mode).label if i.failure_mode else "Not classified",
             "root_cause": i.root_cause or None, "lessons": i.lessons or None} for i in incidents]


def _reliability(session: Session, system_id: int) -> dict | None:
    summary = reliability_summary(session, system_id)
    gate = summary.gate
    if not summary.trials and gate.k is None and not summary.step_rates:
        return None
    return {"tasks": len(summary.tasks), "trials": summary.trials, "pass_at_1": summary.pass_at_1,
            "curve": [{"k": k, "value": v} for k, v in summary.curve],
            "gate": None if gate.k is None else {"k": gate.k, "threshold": gate.threshold, "status": gate.status,
                                                 "measured": gate.measured, "text": gate.text},
            "step_rates": list(summary.step_rates), "compounded": summary.compounded,
            "compounded_sentence": summary.compounded_sentence}


def _value(session: Session, system: AISystem) -> dict:
    case = value_case_for(session, system.id)
    return {"case": value_snapshot(case) or None, "gaps": value_case_gaps(case, system.tier),
            "stops": [{"reason": s.reason.label, "lessons": s.lessons, "note": s.note or None,
                       "stopped_at": s.stopped_at.isoformat(timespec="seconds")} for s in stops_for(session, system.id)]}
