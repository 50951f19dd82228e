"""The audit PDF carries what followed the baseline, from the snapshot: each observed metric's chart
with its drift rule and alerts, the incidents, the pass^k curve against the gate, the value case."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from registry.db import utcnow
from registry.decisions.services import record_decision
from registry.enums import ObservationSource
from registry.incidents.services import report_incident
from registry.inventory.services import add_metric
from registry.monitoring.models import DriftAlert
from registry.monitoring.services import record_observations, set_drift_rule
from registry.reliability.services import record_trials, set_gate
from registry.reports.services import drift_charts, ensure_report, report_html
from tests.conftest import make_system
from tests.unit.test_reports import LOW, _text


def test_the_snapshot_and_the_pdf_carry_observations_incidents_reliability_and_value(session, people):
    owner, officer = people["owner"], people["compliance"]
    system = make_system(session, owner, **LOW)
    metric = add_metric(session, owner, system.id, {"name": "Precision", "unit": "%", "baseline": 90,
                                                   "measured_on": "2026-01-05", "source": "eval", "target": 92,
                                                   "direction": "higher"})
    set_drift_rule(session, owner, system.id, metric.id, {"reference": "baseline", "band_kind": "absolute",
                                                          "below": 5, "consecutive": 2})
    start = utcnow() - timedelta(days=30)
    values = [91, 90.5, 84, 83, 82]
    record_observations(session, owner, system.id, [
        {"metric_id": metric.id, "value": v, "observed_at": (start + timedelta(days=i)).isoformat()}
        for i, v in enumerate(values)], ObservationSource.FORM)
    report_incident(session, owner, system.id, {"occurred_on": (start + timedelta(days=3)).date().isoformat(),
                                                "severity": "critical", "title": "Leaked a claimant's address",
                                                "description": "An answer quoted another claim.",
                                                "failure_mode": "privacy_leakage"})
    set_gate(session, officer, system.id, 2, 0.8)
    record_trials(session, owner, system.id, [{"task_id": "t1", "trial": n, "passed": n != 3} for n in (1, 2, 3, 4)])
    session.commit()
    assert session.scalar(select(DriftAlert.breaches).where(DriftAlert.metric_id == metric.id)) == 3
    decision = record_decision(session, officer, system.id, {"verdict": "no_go", "rationale": "Drifting and leaking."})
    session.commit()

    after = decision.snapshot["after_baseline"]
    (monitored,) = after["monitoring"]
    assert [value for _at, value, _breach in monitored["observations"]] == values
    assert [breach for _at, _value, breach in monitored["observations"]] == [False, False, True, True, True]
    assert monitored["band"] == [85.0, None] and monitored["alerts"][0]["status"] == "Open"
    assert after["incidents"][0]["title"] == "Leaked a claimant's address"
    assert after["incidents"][0]["failure_mode"] == "Privacy and data leakage"
    # 3 of 4 trials: pass^2 = C(3,2)/C(4,2) = 0.5, below the gate of 80%
    curve = {p["k"]: p["value"] for p in after["reliability"]["curve"]}
    assert curve[1] == 0.75 and curve[2] == 0.5 and curve[5] is None
    assert after["reliability"]["gate"]["status"] == "not_met"

    ((_entry, chart),) = drift_charts(after)
    assert len(chart.points) == 5 and len(chart.breaches) == 3
    html = report_html(decision.id, decision.snapshot, decision.snapshot_sha256, "RR-TEST")
    svg = html[html.index('class="chart drift-chart"'):]
    svg = svg[:svg.index("</svg>")]
    assert svg.count('class="breach"') == 3 and svg.count('class="observation"') == 2

    text = " ".join(" ".join(_text(ensure_report(session, decision).pdf)).split())
    session.commit()
    assert "4.1 Observations and drift" in text and "Drift alert (Open)" in text
    assert "Leaked a claimant's address" in text and "Privacy and data leakage" in text
    assert "pass^2" in text and "50.0%" in text and "not enough trials" in text
    assert "No value case recorded." in text
