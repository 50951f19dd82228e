"""The go / no-go rules read what follows the baseline from the database: open drift alerts, open
critical and major incidents, the release gate against the trials' pass^k curve.  The cached
state follows each change in the same transaction, and equals a fresh computation."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from registry.db import utcnow
from registry.decisions.services import assess_system
from registry.enums import AlertStatus, IncidentStatus, Severity, Verdict
from registry.incidents.models import Incident
from registry.inventory.services import add_metric
from registry.monitoring.models import DriftAlert
from registry.reliability.models import EvalTrial, ReliabilityGate
from registry.state.models import SystemState
from tests.conftest import make_system
from tests.unit.test_portfolio_state import assert_no_drift


def _rules(session, system_id: int) -> list[str]:
    session.expire_all()
    return [b["rule"] for b in session.get(SystemState, system_id).blockers]


def test_alerts_incidents_and_the_gate_block_until_they_are_dealt_with(session, people):
    owner = people["owner"]
    system = make_system(session, owner)
    metric = add_metric(session, owner, system.id, {"name": "Precision", "unit": "%", "baseline": 90,
                                                   "measured_on": "2026-01-05", "source": "eval", "target": 92,
                                                   "direction": "higher"})
    session.commit()
    before = _rules(session, system.id)
    assert not {"drift_alert", "incident_critical", "incident_major", "reliability_gate"} & set(before)

    now = utcnow()
    alert = DriftAlert(metric_id=metric.id, system_id=system.id, opened_at=now, last_value=70.0, last_observed_at=now,
                       breaches=3, summary="Precision 70.0 % is below the band 85.0–100.0 %")
    critical = Incident(system_id=system.id, occurred_on=date(2026, 11, 2), severity=Severity.CRITICAL,
                        title="Refunds promised that no policy offers", description="…")
    major = Incident(system_id=system.id, occurred_on=date(2026, 11, 3), severity=Severity.MAJOR,
                     title="Wrong tracking answers", description="…")
    minor = Incident(system_id=system.id, occurred_on=date(2026, 11, 4), severity=Severity.MINOR,
                     title="Typo in a greeting", description="…")
    session.add_all([alert, critical, major, minor, ReliabilityGate(system_id=system.id, k=2, threshold=0.5)])
    # two tasks: 3 of 4 and 2 of 4 → pass^2 = (C(3,2)/C(4,2) + C(2,2)/C(4,2)) / 2 = (0.5 + 1/6) / 2 = 1/3
    session.add_all([EvalTrial(system_id=system.id, task_id=task, trial=i + 1, passed=ok)
                     for task, outcomes in (("book", (1, 1, 1, 0)), ("refund", (1, 0, 1, 0)))
                     for i, ok in enumerate(outcomes)])
    session.commit()
    rules = _rules(session, system.id)
    assert rules.count("drift_alert") == 1 and rules.count("incident_critical") == 1
    assert rules.count("incident_major") == 1 and "incident_minor" not in rules
    gate = next(b for b in session.get(SystemState, system.id).blockers if b["rule"] == "reliability_gate")
    assert "pass^2 is 33.3% against 50% over 2 tasks" in gate["message"]
    assert "pass^1 62.5%" in gate["message"] and "pass^4 0%" in gate["message"]
    assert "pass^5 not enough trials" in gate["message"]
    assert session.get(SystemState, system.id).recommendation is Verdict.NO_GO
    assert_no_drift(session)

    # dealt with: the alert resolved, the critical one mitigated, the gate lowered to what is measured
    alert.status, alert.resolved_at, alert.resolution_note = AlertStatus.RESOLVED, now, "Retrained on Q3 data."
    critical.status = IncidentStatus.MITIGATED
    session.get(ReliabilityGate, system.id).threshold = 1 / 3
    session.commit()
    rules = _rules(session, system.id)
    assert "drift_alert" not in rules and "incident_critical" not in rules and "reliability_gate" not in rules
    assert "incident_major" in rules  # still open: a condition
    assert_no_drift(session)


def test_a_gate_at_a_k_beyond_the_trials_is_not_enough_trials_never_a_number(session, people):
    system = make_system(session, people["owner"])
    session.add(ReliabilityGate(system_id=system.id, k=8, threshold=0.9))
    session.add_all([EvalTrial(system_id=system.id, task_id="t1", trial=i, passed=True) for i in range(1, 6)])
    session.commit()
    blocker = next(b for b in assess_system(session, system).recommendation.blockers if b.rule == "reliability_gate")
    assert "cannot be checked: not enough trials (every task needs at least 8; 1 task recorded)" in blocker.message
    assert "pass^5 100%" in blocker.message and "pass^6 not enough trials" in blocker.message
    # with no trial at all the gate still blocks, and says so
    for trial in session.scalars(select(EvalTrial)):
        session.delete(trial)
    session.commit()
    session.expire_all()
    blocker = next(b for b in assess_system(session, system).recommendation.blockers if b.rule == "reliability_gate")
    assert "0 tasks recorded" in blocker.message
    assert session.scalar(select(ReliabilityGate.k).where(ReliabilityGate.system_id == system.id)) == 8
