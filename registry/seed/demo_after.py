"""The demo's life after the baseline, replayed through the ordinary services like the rest of it:
value cases, incidents, observations with their drift rule (and an alert resolved), evaluation
trials against a release gate, and stopped pilots.  Read from a system's entry in
seed_data/demo_portfolio.yaml (keys ``value_case``, ``incidents``, ``monitoring``, ``reliability``,
``stop``); each becomes a strand of dated steps (``registry.seed.replay``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.auth.models import User
from registry.enums import AlertStatus, ObservationSource
from registry.errors import ValidationFailed
from registry.incidents.services import report_incident
from registry.inventory.models import AISystem, BaselineMetric
from registry.monitoring.models import DriftAlert
from registry.monitoring.services import record_observations, resolve_alert, set_drift_rule
from registry.reliability.services import record_trials, set_gate
from registry.seed.demo_dates import day_of
from registry.seed.replay import Strand, moment
from registry.value.services import save_value_case, stop_pilot

AFTER_KEYS = {"value_case", "incidents", "monitoring", "reliability", "stop"}
AFTERNOON, MORNING, EVENING = time(16, 0, tzinfo=UTC), time(10, 0, tzinfo=UTC), time(17, 30, tzinfo=UTC)


def strands(session: Session, users: dict[str, User], compliance: User, entry: dict, system: AISystem,
            registered: datetime) -> list[Strand]:
    """The strands of one system's entry (each starts after its registration)."""
    owner = users[entry["accountable_owner"]]
    out = []
    if entry.get("value_case"):
        out.append(_value_case(session, owner, system, entry["value_case"], registered))
    if entry.get("incidents"):
        out.append(_incidents(session, owner, system, entry["incidents"], registered))
    if entry.get("monitoring"):
        out.append(_monitoring(session, users, owner, system, entry["monitoring"]))
    if entry.get("reliability"):
        out.append(_reliability(session, owner, compliance, system, entry["reliability"]))
    if entry.get("stop"):
        stop = entry["stop"]
        out.append(_stop(session, users[stop["by"]], system, stop))
    return out


def _value_case(session: Session, owner: User, system: AISystem, case: dict, registered: datetime) -> Strand:
    yield (when := max(moment(registered.date(), AFTERNOON), registered + timedelta(minutes=30)))
    save_value_case(session, owner, system.id, case, now=when)


def _incidents(session: Session, owner: User, system: AISystem, incidents: list[dict], registered: datetime) -> Strand:
    """Each reported the working day after it happened (or just after the system was registered,
    for an incident older than its record), with the status it has now."""
    for incident in sorted(incidents, key=lambda i: day_of(i["occurred_on"], "incidents: occurred_on")):
        occurred = day_of(incident["occurred_on"], "incidents: occurred_on")
        yield (when := max(moment(occurred + timedelta(days=1), MORNING), registered + timedelta(hours=1)))
        report_incident(session, owner, system.id, {**incident, "occurred_on": occurred.isoformat()}, now=when)


def _monitoring(session: Session, users: dict[str, User], owner: User, system: AISystem, spec: dict) -> Strand:
    """The drift rule, then one observation per period, each recorded the evening it was measured
    (as a monitoring job pushes them), and the alert resolved if the entry says so."""
    metric = session.scalar(select(BaselineMetric).where(BaselineMetric.system_id == system.id,
                                                         BaselineMetric.name == spec["metric"]))
    if metric is None:
        raise ValidationFailed(f"monitoring: {system.name} has no baseline metric called {spec['metric']!r}.")
    yield (when := moment(day_of(spec["rule_on"], "monitoring: rule_on"), AFTERNOON))
    set_drift_rule(session, owner, system.id, metric.id, spec["rule"], now=when)
    first, every = day_of(spec["first_on"], "monitoring: first_on"), timedelta(days=int(spec["every_days"]))
    resolved = spec.get("resolved")
    resolve_on = day_of(resolved["date"], "monitoring: resolved date") if resolved else None
    for n, value in enumerate(spec["values"]):
        observed = first + n * every
        if resolve_on is not None and observed > resolve_on:
            yield from _resolve(session, users, system, metric, resolved, resolve_on)
            resolve_on = None
        yield (when := moment(observed, EVENING))
        record_observations(session, None, system.id, [{"metric_id": metric.id, "value": value,
                                                        "observed_at": datetime.combine(observed, time(6, 0, tzinfo=UTC)).isoformat(),
                                                        "note": "Monitoring job"}], ObservationSource.DEMO, now=when)
    if resolve_on is not None:
        yield from _resolve(session, users, system, metric, resolved, resolve_on)


def _resolve(session: Session, users: dict[str, User], system: AISystem, metric: BaselineMetric, resolved: dict,
             on: date) -> Strand:
    yield (when := moment(on, AFTERNOON))
    alert = session.scalar(select(DriftAlert).where(DriftAlert.metric_id == metric.id,
                                                    DriftAlert.status == AlertStatus.OPEN))
    if alert is None:
        raise ValidationFailed(f"monitoring: no open drift alert of {metric.name!r} to resolve on {on}.")
    resolve_alert(session, users[resolved["by"]], system.id, alert.id, resolved["note"], now=when)


def _reliability(session: Session, owner: User, compliance: User, system: AISystem, spec: dict) -> Strand:
    """The gate, set by a compliance officer, then one evaluation run: ``passed_of_8`` says how many
    tasks passed how many of their 8 trials (which trials failed is immaterial to pass^k)."""
    on = day_of(spec["date"], "reliability: date")
    yield (when := moment(on, MORNING))
    gate = spec.get("gate")
    if gate:
        set_gate(session, compliance, system.id, int(gate["k"]), float(gate["threshold"]), now=when)
    rows, task = [], 0
    for passed, tasks in sorted(spec["passed_of_8"].items(), reverse=True):
        for _ in range(int(tasks)):
            task += 1
            rows += [{"task_id": f"refund-{task:03d}", "trial": t, "passed": t <= int(passed)} for t in range(1, 9)]
    yield (when := moment(on, AFTERNOON))
    record_trials(session, owner, system.id, rows, now=when, source="Demo")


def _stop(session: Session, by: User, system: AISystem, stop: dict) -> Strand:
    yield (when := moment(day_of(stop["date"], "stop: date"), AFTERNOON))
    stop_pilot(session, by, system.id, stop["reason"], stop["lessons"], stop.get("note") or "", now=when)
